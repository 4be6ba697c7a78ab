//! The loading pipeline, in compose-go's order: find the files, read the
//! environment, parse each file, interpolate, resolve `extends` and
//! `include`, merge the files, then type, normalise, apply profiles and
//! validate.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use crate::error::{Location, Pos, Raw, SpecError, Warning};
use crate::options::{LoadOptions, Loaded};
use crate::yaml::{Kind, Node};

/// The environment used for interpolation.
pub type Env = IndexMap<String, String>;

/// Default file names, in order of preference.
pub const DEFAULT_FILES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];
pub const OVERRIDE_FILES: &[&str] = &[
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// State shared by the whole load: the table of files that positions point
/// into, warnings, and the options.
pub struct Ctx<'a> {
    pub opts: &'a LoadOptions,
    pub files: Vec<PathBuf>,
    pub warnings: Vec<Warning>,
    warned: HashSet<String>,
    pub home: Option<String>,
}

impl<'a> Ctx<'a> {
    pub fn new(opts: &'a LoadOptions) -> Self {
        Ctx {
            opts,
            files: Vec::new(),
            warnings: Vec::new(),
            warned: HashSet::new(),
            home: opts.environment.get("HOME").cloned(),
        }
    }

    pub fn add_file(&mut self, p: PathBuf) -> u32 {
        self.files.push(p);
        (self.files.len() - 1) as u32
    }

    pub fn location(&self, pos: Pos) -> Option<Location> {
        self.files.get(pos.file as usize).map(|f| Location {
            file: f.clone(),
            line: pos.line,
            col: pos.col,
        })
    }

    /// Turns a positioned error into a [`SpecError`] naming the file.
    pub fn err(&self, r: Raw) -> SpecError {
        SpecError::Invalid {
            location: self.location(r.pos),
            message: r.message,
        }
    }

    pub fn warn(&mut self, pos: Option<Pos>, message: String) {
        if self.warned.insert(message.clone()) {
            let location = pos.and_then(|p| self.location(p));
            self.warnings.push(Warning { location, message });
        }
    }

    pub fn read(&self, path: &Path) -> Result<String, SpecError> {
        std::fs::read_to_string(path).map_err(|source| SpecError::Io {
            path: path.to_owned(),
            source,
        })
    }

    /// Reads and parses one file (`-` is standard input): one node per
    /// YAML document, each a mapping.
    pub fn parse_file(&mut self, path: &Path) -> Result<(u32, Vec<Node>), SpecError> {
        let text = if path == Path::new("-") {
            self.opts.stdin.clone().unwrap_or_default()
        } else {
            self.read(path)?
        };
        let id = self.add_file(path.to_owned());
        let docs = crate::yaml::parse_documents(&text, id).map_err(|message| SpecError::Yaml {
            path: path.to_owned(),
            message,
        })?;
        if docs.is_empty() {
            return Err(SpecError::msg(format!(
                "{}: empty compose file",
                path.display()
            )));
        }
        for d in &docs {
            if !matches!(d.kind, Kind::Map(_)) {
                return Err(self.err(Raw::new(
                    d.pos,
                    "the top level of a Compose file must be a mapping",
                )));
            }
        }
        Ok((id, docs))
    }

    /// Interpolates a tree with `env`, warning once per unset variable.
    pub fn interpolate(&mut self, node: &mut Node, env: &Env) -> Result<(), SpecError> {
        if self.opts.no_interpolate {
            return Ok(());
        }
        let mut unset: Vec<(String, Pos)> = Vec::new();
        let lookup = |k: &str| env.get(k).cloned();
        crate::interpolate::interpolate_node(node, "", &lookup, &mut |name, n| {
            unset.push((name.to_owned(), n.pos))
        })
        .map_err(|e| self.err(e))?;
        for (name, pos) in unset {
            self.warn(
                Some(pos),
                format!("The \"{name}\" variable is not set. Defaulting to a blank string."),
            );
        }
        Ok(())
    }

    /// The per-file steps before merging: `version`, interpolation, long
    /// forms, `extends`, `include`.
    pub fn process_file(
        &mut self,
        mut node: Node,
        dir: &Path,
        env: &Env,
        include_stack: &[PathBuf],
    ) -> Result<Node, SpecError> {
        if let Some(m) = node.as_map_mut()
            && let Some(v) = m.shift_remove("version")
        {
            let file = self
                .location(v.pos)
                .map(|l| l.file.display().to_string())
                .unwrap_or_default();
            self.warn(
                    None,
                    format!("{file}: the attribute `version` is obsolete, it will be ignored, please remove it to avoid potential confusion"),
                );
        }
        self.interpolate(&mut node, env)?;
        crate::canonical::canonical_file(&mut node);
        crate::extends::apply(self, &mut node, dir, env)?;
        crate::include::apply(self, &mut node, dir, env, include_stack)?;
        Ok(node)
    }
}

/// Loads a project. See [`LoadOptions`].
pub fn load(opts: &LoadOptions) -> Result<Loaded, SpecError> {
    let mut ctx = Ctx::new(opts);
    let cwd = &opts.working_dir;

    // COMPOSE_* settings may come from the `.env` of the working directory
    // (Compose reads it before looking for files).
    let early_dir = opts
        .project_directory
        .as_ref()
        .map(|d| cwd.join(d))
        .unwrap_or_else(|| cwd.clone());
    let early_env = read_env(&mut ctx, &early_dir, true)?;
    let setting = |k: &str| {
        opts.environment
            .get(k)
            .or_else(|| early_env.get(k))
            .cloned()
    };

    // Without -f, files are looked for in the project directory if given.
    let files = discover(
        opts,
        cwd,
        &early_dir,
        setting("COMPOSE_FILE"),
        setting("COMPOSE_PATH_SEPARATOR"),
    )?;
    if opts.files.is_empty() {
        warn_several_defaults(&mut ctx, &files);
    }
    let project_dir = match &opts.project_directory {
        Some(d) => crate::paths::clean(&cwd.join(d)),
        None => match files.first() {
            Some(f) if f != Path::new("-") => f
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| cwd.clone()),
            _ => cwd.clone(),
        },
    };
    let mut env = read_env(&mut ctx, &project_dir, false)?;
    let profiles: Vec<String> = if !opts.profiles.is_empty() {
        opts.profiles.clone()
    } else {
        env.get("COMPOSE_PROFILES")
            .map(|p| {
                p.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };

    let mut parsed = Vec::new();
    for f in &files {
        parsed.push(ctx.parse_file(f)?);
    }
    let name = project_name(&mut ctx, opts, &env, &parsed, &project_dir)?;
    env.insert("COMPOSE_PROJECT_NAME".into(), name.clone());

    let mut merged = Node::map(Default::default(), Pos::UNKNOWN);
    for (id, node) in parsed
        .into_iter()
        .flat_map(|(id, docs)| docs.into_iter().map(move |d| (id, d)))
    {
        let dir = match ctx.files[id as usize].parent() {
            Some(d) if ctx.files[id as usize] != Path::new("-") => d.to_path_buf(),
            _ => project_dir.clone(),
        };
        let stack = [ctx.files[id as usize].clone()];
        let node = ctx.process_file(node, &dir, &env, &stack)?;
        crate::merge::merge(&mut merged, node, &[]).map_err(|e| ctx.err(e))?;
    }
    crate::merge::strip_tags(&mut merged);
    crate::paths::resolve_tree(&mut merged, &project_dir, ctx.home.as_deref());

    let mut project = crate::project::from_tree(&merged).map_err(|e| ctx.err(e))?;
    project.name = name;
    project.working_dir = project_dir;
    project.compose_files = files;
    project.environment = env;
    project.profiles = profiles;
    crate::normalize::normalize(&mut ctx, &mut project, &merged)?;
    crate::profiles::apply(&mut ctx, &mut project, &merged)?;
    crate::validate::validate(&ctx, &project, &merged)?;
    crate::normalize::prune_unused(&mut project);
    Ok(Loaded {
        project,
        warnings: ctx.warnings,
    })
}

/// The `-f` files, `COMPOSE_FILE`, or the default files found in `cwd` or
/// a parent, each made absolute.
fn discover(
    opts: &LoadOptions,
    cwd: &Path,
    search: &Path,
    compose_file: Option<String>,
    sep: Option<String>,
) -> Result<Vec<PathBuf>, SpecError> {
    let abs = |p: &Path| {
        if p == Path::new("-") {
            p.to_owned()
        } else {
            crate::paths::clean(&cwd.join(p))
        }
    };
    if !opts.files.is_empty() {
        return Ok(opts.files.iter().map(|p| abs(p)).collect());
    }
    if let Some(cf) = compose_file.filter(|s| !s.is_empty()) {
        let sep = sep.filter(|s| !s.is_empty()).unwrap_or_else(|| ":".into());
        return Ok(cf
            .split(sep.as_str())
            .filter(|s| !s.is_empty())
            .map(|s| abs(Path::new(s)))
            .collect());
    }
    let mut dir = Some(search);
    while let Some(d) = dir {
        if let Some(f) = DEFAULT_FILES
            .iter()
            .map(|n| d.join(n))
            .find(|p| p.is_file())
        {
            let mut out = vec![f];
            if let Some(o) = OVERRIDE_FILES
                .iter()
                .map(|n| d.join(n))
                .find(|p| p.is_file())
            {
                out.push(o);
            }
            return Ok(out);
        }
        dir = d.parent();
    }
    Err(SpecError::NotFound)
}

/// Compose warns when a directory holds more than one default file name.
fn warn_several_defaults(ctx: &mut Ctx, files: &[PathBuf]) {
    let Some(dir) = files.first().and_then(|f| f.parent()) else {
        return;
    };
    if !files
        .first()
        .is_some_and(|f| DEFAULT_FILES.iter().any(|n| f.ends_with(n)))
    {
        return;
    }
    let found: Vec<String> = DEFAULT_FILES
        .iter()
        .map(|n| dir.join(n))
        .filter(|p| p.is_file())
        .map(|p| p.display().to_string())
        .collect();
    if found.len() > 1 {
        ctx.warn(
            None,
            format!(
                "Found multiple config files with supported names: {}",
                found.join(", ")
            ),
        );
        ctx.warn(None, format!("Using {}", found[0]));
    }
}

/// The interpolation environment: `--env-file`s (or the project directory's
/// `.env`) under the process environment, which wins.
fn read_env(ctx: &mut Ctx, project_dir: &Path, quiet: bool) -> Result<Env, SpecError> {
    let opts = ctx.opts;
    let disabled = opts
        .environment
        .get("COMPOSE_DISABLE_ENV_FILE")
        .is_some_and(|v| v == "1" || v == "true");
    let files: Vec<(PathBuf, bool)> = if !opts.env_files.is_empty() {
        opts.env_files
            .iter()
            .map(|f| (opts.working_dir.join(f), true))
            .collect()
    } else if disabled {
        Vec::new()
    } else {
        vec![(project_dir.join(".env"), false)]
    };
    let mut env = Env::new();
    for (f, required) in files {
        if !f.is_file() {
            if required && !quiet {
                return Err(SpecError::msg(format!(
                    "couldn't find env file: {}",
                    f.display()
                )));
            }
            continue;
        }
        let text = ctx.read(&f)?;
        let lookup = |k: &str| opts.environment.get(k).or_else(|| env.get(k)).cloned();
        match crate::dotenv::parse(&text, &lookup) {
            Ok(vars) => env.extend(vars),
            Err(e) if quiet => drop(e),
            Err(e) => {
                return Err(SpecError::msg(format!(
                    "failed to read {}: {e}",
                    f.display()
                )));
            }
        }
    }
    for (k, v) in &opts.environment {
        env.insert(k.clone(), v.clone());
    }
    Ok(env)
}

/// Lowercase, keep `[a-z0-9_-]`, drop leading `_`/`-` (Compose's rule).
pub fn normalize_project_name(s: &str) -> String {
    let s: String = s
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    s.trim_start_matches(['_', '-']).to_owned()
}

fn project_name(
    ctx: &mut Ctx,
    opts: &LoadOptions,
    env: &Env,
    parsed: &[(u32, Vec<Node>)],
    project_dir: &Path,
) -> Result<String, SpecError> {
    let explicit = |v: &str, what: &str| -> Result<String, SpecError> {
        if normalize_project_name(v) != v || v.is_empty() {
            return Err(SpecError::msg(format!(
                "{what} {v:?}: project name must not be empty and must contain only lowercase letters, digits, dashes and underscores, and start with a letter or digit"
            )));
        }
        Ok(v.to_owned())
    };
    if let Some(p) = &opts.project_name {
        return explicit(p, "invalid project name (-p)");
    }
    if let Some(p) = env.get("COMPOSE_PROJECT_NAME").filter(|s| !s.is_empty()) {
        return explicit(p, "invalid project name (COMPOSE_PROJECT_NAME)");
    }
    let mut from_file = None;
    for node in parsed.iter().flat_map(|(_, docs)| docs) {
        if let Some(n) = node.get("name") {
            let mut n = n.clone();
            ctx.interpolate(&mut n, env)?;
            match n.scalar_text() {
                Some(s) if !s.is_empty() => from_file = Some(s),
                Some(_) => {}
                None if n.is_null() => {}
                None => return Err(ctx.err(crate::convert::expected(&n, "name", "a string"))),
            }
        }
    }
    let raw = from_file.unwrap_or_else(|| {
        project_dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    let name = normalize_project_name(&raw);
    if name.is_empty() {
        return Err(SpecError::msg(format!(
            "project name {raw:?} is empty after normalisation: set `name:` or use -p"
        )));
    }
    Ok(name)
}
