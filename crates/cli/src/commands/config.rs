//! `berth config`: parse, resolve and print the Compose project in canonical
//! form, like `docker compose config`.

use std::io::Read as _;

use anyhow::{Context as _, bail};
use berth_spec::{LoadOptions, Loaded, Project};

use crate::global::Global;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Format the output: yaml or json
    #[arg(long, value_name = "FORMAT", default_value = "yaml")]
    pub format: String,
    /// Only validate the configuration, print nothing
    #[arg(short, long)]
    pub quiet: bool,
    /// Print the service names, one per line
    #[arg(long)]
    pub services: bool,
    /// Print the volume names, one per line
    #[arg(long)]
    pub volumes: bool,
    /// Print the network names, one per line
    #[arg(long)]
    pub networks: bool,
    /// Print the image names, one per line
    #[arg(long)]
    pub images: bool,
    /// Print the profile names, one per line
    #[arg(long = "profiles", id = "list_profiles")]
    pub profiles: bool,
    /// Print the environment used for interpolation
    #[arg(long)]
    pub environment: bool,
    /// Print the service config hash, one per line (a service name or '*')
    #[arg(long, value_name = "SERVICE")]
    pub hash: Option<String>,
    /// Don't interpolate environment variables
    #[arg(long)]
    pub no_interpolate: bool,
    /// Don't resolve service env files
    #[arg(long)]
    pub no_env_resolution: bool,
    /// Save to file (default: standard output)
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<std::path::PathBuf>,
    /// Only these services (and what they depend on)
    #[arg(value_name = "SERVICE")]
    pub service_names: Vec<String>,
}

/// Builds the loader options from the global flags and the process.
pub fn load_options(
    g: &Global,
    services: &[String],
    no_interpolate: bool,
) -> anyhow::Result<LoadOptions> {
    let mut stdin = None;
    if g.files.iter().any(|f| f == "-") {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("reading the Compose file from standard input")?;
        stdin = Some(s);
    }
    Ok(LoadOptions {
        files: g.files.iter().map(Into::into).collect(),
        stdin,
        working_dir: std::env::current_dir().context("current directory")?,
        project_name: g.project_name.clone(),
        project_directory: g.project_directory.clone(),
        env_files: g.env_files.clone(),
        profiles: g.profiles.clone(),
        environment: std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
            .collect(),
        services: services.to_vec(),
        no_interpolate,
        no_env_resolution: false,
    })
}

/// Loads the project and prints its warnings to stderr.
pub fn load(opts: &LoadOptions) -> anyhow::Result<Loaded> {
    let loaded = berth_spec::load(opts)?;
    for w in &loaded.warnings {
        errln!("WARN[0000] {w}");
    }
    Ok(loaded)
}

pub fn run(g: &Global, args: Args) -> anyhow::Result<i32> {
    if !matches!(args.format.as_str(), "yaml" | "json") {
        bail!("unsupported format {:?}: use yaml or json", args.format);
    }
    let mut opts = load_options(g, &args.service_names, args.no_interpolate)?;
    opts.no_env_resolution = args.no_env_resolution;
    let Loaded { mut project, .. } = load(&opts)?;
    if !args.service_names.is_empty() {
        keep_only(&mut project, &args.service_names);
    }
    if args.quiet {
        return Ok(0);
    }
    let out = render(&project, &args)?;
    match &args.output {
        Some(path) => {
            std::fs::write(path, out).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{out}"),
    }
    Ok(0)
}

fn lines<'a>(it: impl IntoIterator<Item = &'a String>) -> String {
    it.into_iter().map(|s| format!("{s}\n")).collect()
}

fn render(p: &Project, args: &Args) -> anyhow::Result<String> {
    let sorted = |mut v: Vec<&String>| {
        v.sort();
        lines(v)
    };
    if args.services {
        return Ok(lines(&p.dependency_order()));
    }
    if args.volumes {
        return Ok(sorted(p.volumes.keys().collect()));
    }
    if args.networks {
        return Ok(sorted(p.networks.keys().collect()));
    }
    if args.profiles {
        return Ok(lines(&p.all_profiles()));
    }
    if args.images {
        return Ok(p
            .services
            .values()
            .map(|s| format!("{}\n", p.image_of(s)))
            .collect());
    }
    if args.environment {
        let mut env: Vec<_> = p.environment.iter().collect();
        env.sort();
        return Ok(env.into_iter().map(|(k, v)| format!("{k}={v}\n")).collect());
    }
    if let Some(h) = &args.hash {
        let mut out = String::new();
        let names: Vec<String> = if h == "*" {
            let mut n: Vec<String> = p.services.keys().cloned().collect();
            n.sort();
            n
        } else {
            h.split(',').map(|s| s.trim().to_owned()).collect()
        };
        for n in names {
            let s = p
                .services
                .get(&n)
                .with_context(|| format!("no such service: {n}"))?;
            out.push_str(&format!("{n} {}\n", berth_spec::service_hash(s)));
        }
        return Ok(out);
    }
    Ok(match args.format.as_str() {
        "json" => berth_spec::to_json_with(p, !args.no_interpolate),
        _ => berth_spec::to_yaml_with(p, !args.no_interpolate),
    })
}

/// `berth config SVC…` prints only those services and their dependencies.
fn keep_only(p: &mut Project, names: &[String]) {
    let mut keep: Vec<String> = Vec::new();
    let mut todo: Vec<String> = names.to_vec();
    while let Some(n) = todo.pop() {
        if keep.contains(&n) {
            continue;
        }
        if let Some(s) = p.services.get(&n) {
            todo.extend(s.depends_on.keys().cloned());
        }
        keep.push(n);
    }
    p.services.retain(|k, _| keep.contains(k));
}
