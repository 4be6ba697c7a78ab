//! Running a Dockerfile: stage by stage, instruction by instruction.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::Instant;

use berth_image::spec::{Empty, HealthConfig, History};
use berth_image::{Image, ImageConfig, ImageStore, NewImage};
use berth_runtime::Runtime;
use berth_store::Root;

use crate::BuildError;
use crate::cache::{Cache, key};
use crate::dockerfile::words::{self, Vars};
use crate::dockerfile::{Command, Dockerfile, Instruction, Kind, Stage};
use crate::ignore::DockerIgnore;

/// What to build (Compose's `build:` and `berth build`'s flags).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    pub context: PathBuf,
    /// Path of the Dockerfile (default `<context>/Dockerfile`).
    pub dockerfile: Option<PathBuf>,
    /// `dockerfile_inline`
    pub inline: Option<String>,
    pub args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub tags: Vec<String>,
    pub no_cache: bool,
    /// Pull base images even when present.
    pub pull: bool,
    /// `none`, `host` (default) for RUN.
    pub network: Option<String>,
    pub quiet: bool,
}

/// The state of a stage being built.
pub(crate) struct State {
    pub base: Option<Image>,
    pub config: ImageConfig,
    /// Diff ids, bottom first.
    pub layers: Vec<String>,
    pub history: Vec<History>,
    /// Variables for substitution (ARG and ENV).
    pub vars: Vars,
    /// Build args in scope (set as env for RUN, not kept in the image).
    pub args: BTreeMap<String, String>,
    /// Cache key of the chain so far.
    pub chain: String,
}

pub struct Builder {
    pub(crate) store: ImageStore,
    pub(crate) runtime: Runtime,
    pub(crate) cache: Cache,
}

/// Output of a build, line by line.
pub type Out<'a> = &'a dyn Fn(&str);

fn env_get(env: &[String], k: &str) -> Option<String> {
    env.iter()
        .rev()
        .find_map(|e| e.strip_prefix(&format!("{k}=")).map(str::to_owned))
}

fn env_set(env: &mut Vec<String>, k: &str, v: &str) {
    env.retain(|e| e.split('=').next() != Some(k));
    env.push(format!("{k}={v}"));
}

impl Builder {
    pub fn new(root: &Root) -> Result<Builder, BuildError> {
        Ok(Builder {
            store: ImageStore::open(root)?,
            runtime: Runtime::open(root),
            cache: Cache::new(root),
        })
    }

    /// Builds; returns the image (tagged with `opts.tags`).
    pub fn build(&self, opts: &BuildOptions, out: Out) -> Result<Image, BuildError> {
        let _hold = self.store.hold()?;
        let (text, file) = match &opts.inline {
            Some(t) => (t.clone(), "Dockerfile (inline)".to_owned()),
            None => {
                let p = opts
                    .dockerfile
                    .clone()
                    .map(|d| {
                        if d.is_absolute() {
                            d
                        } else {
                            opts.context.join(d)
                        }
                    })
                    .unwrap_or_else(|| opts.context.join("Dockerfile"));
                let t = std::fs::read_to_string(&p)
                    .map_err(|e| BuildError::Io(format!("{}: {e}", p.display())))?;
                (t, p.display().to_string())
            }
        };
        let df = Dockerfile::parse(&text, &file)?;
        let ignore = match std::fs::read_to_string(opts.context.join(".dockerignore")) {
            Ok(t) => DockerIgnore::parse(&t, ".dockerignore")?,
            Err(_) => DockerIgnore::default(),
        };
        let target = match &opts.target {
            Some(t) => df.stage_index(t).ok_or_else(|| BuildError::Dockerfile {
                file: file.clone(),
                line: 1,
                message: format!("target stage {t:?} could not be found"),
            })?,
            None => df.stages.len() - 1,
        };
        let needed = needed_stages(&df, target);
        let mut globals = Vars::new();
        for a in &df.global_args {
            let v = opts.args.get(&a.name).cloned().or_else(|| {
                a.default
                    .as_ref()
                    .map(|d| words::expand(d, &globals, df.escape).unwrap_or_default())
            });
            if let Some(v) = v {
                globals.insert(a.name.clone(), v);
            }
        }
        let total: usize = needed
            .iter()
            .map(|i| df.stages[*i].instructions.len() + 1)
            .sum();
        let mut step = 0;
        let mut done: HashMap<usize, State> = HashMap::new();
        let mut consumed: BTreeSet<String> =
            df.global_args.iter().map(|a| a.name.clone()).collect();
        for &i in &needed {
            let stage = &df.stages[i];
            step += 1;
            let mut st = self.from(&df, stage, &globals, &done, opts, out, step, total, &file)?;
            let mut instrs: Vec<Instruction> = Vec::new();
            if let Some(b) = &st.base {
                for t in &b.config.on_build {
                    instrs.push(Instruction::parse(t, stage.line, df.escape).map_err(|m| {
                        BuildError::Dockerfile {
                            file: file.clone(),
                            line: stage.line,
                            message: format!("ONBUILD trigger: {m}"),
                        }
                    })?);
                }
            }
            instrs.extend(stage.instructions.iter().cloned());
            for ins in &instrs {
                step += 1;
                let label = format!("[{}/{}] {}", step, total, ins.text);
                let started = Instant::now();
                if !opts.quiet {
                    out(&format!("#{step} {label}"));
                }
                let cached = self.instruction(
                    &mut st,
                    ins,
                    &df,
                    &globals,
                    &done,
                    &ignore,
                    opts,
                    &mut consumed,
                    out,
                    &file,
                )?;
                if !opts.quiet {
                    out(&format!(
                        "#{step} {} {:.1}s",
                        if cached { "CACHED" } else { "DONE" },
                        started.elapsed().as_secs_f64()
                    ));
                }
            }
            done.insert(i, st);
        }
        let unused: Vec<&String> = opts
            .args
            .keys()
            .filter(|k| !consumed.contains(*k) && !PREDEFINED.contains(&k.as_str()))
            .collect();
        if !unused.is_empty() && !opts.quiet {
            out(&format!(
                "[Warning] One or more build-args [{}] were not consumed",
                unused
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
        let st = done.remove(&target).expect("target stage built");
        let mut config = st.config;
        config.labels.extend(opts.labels.clone());
        let mut new = NewImage::from_base(None);
        new.config = config;
        new.layers = st.layers;
        new.history = st.history;
        new.tags = opts.tags.clone();
        if let Some(b) = &st.base {
            new.platform = b.platform();
        }
        Ok(self.store.commit(new)?)
    }

    #[allow(clippy::too_many_arguments)]
    fn from(
        &self,
        df: &Dockerfile,
        stage: &Stage,
        globals: &Vars,
        done: &HashMap<usize, State>,
        opts: &BuildOptions,
        out: Out,
        step: usize,
        total: usize,
        file: &str,
    ) -> Result<State, BuildError> {
        let base =
            words::expand(&stage.base, globals, df.escape).map_err(|e| BuildError::Dockerfile {
                file: file.into(),
                line: stage.line,
                message: e.0,
            })?;
        if !opts.quiet {
            out(&format!("#{step} [{step}/{total}] FROM {base}"));
        }
        if base == "scratch" {
            return Ok(State {
                base: None,
                config: ImageConfig::default(),
                layers: vec![],
                history: vec![],
                vars: Vars::new(),
                args: BTreeMap::new(),
                chain: key(&[b"scratch"]),
            });
        }
        if let Some(j) = df.stage_index(&base).filter(|j| done.contains_key(j)) {
            let s = &done[&j];
            return Ok(State {
                base: s.base.clone(),
                config: s.config.clone(),
                layers: s.layers.clone(),
                history: s.history.clone(),
                vars: env_vars(&s.config.env),
                args: BTreeMap::new(),
                chain: s.chain.clone(),
            });
        }
        let image = match (self.store.resolve(&base)?, opts.pull) {
            (Some(img), false) => img,
            _ => self
                .store
                .pull(
                    &base,
                    &berth_image::PullOptions::default(),
                    &berth_image::progress::NoProgress,
                )
                .map_err(|e| BuildError::Dockerfile {
                    file: file.into(),
                    line: stage.line,
                    message: format!("base image {base}: {e}"),
                })?,
        };
        let layers: Vec<String> = image.layers.iter().map(|l| l.diff_id.clone()).collect();
        Ok(State {
            config: image.config.clone(),
            vars: env_vars(&image.config.env),
            history: image.history.clone(),
            chain: key(&[image.id.as_bytes()]),
            layers,
            args: BTreeMap::new(),
            base: Some(image),
        })
    }

    /// Layer directories of a state, topmost first.
    pub(crate) fn lower_dirs(&self, st: &State) -> Result<Vec<PathBuf>, BuildError> {
        st.layers
            .iter()
            .rev()
            .map(|d| self.store.layer_root(d).map_err(BuildError::from))
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn instruction(
        &self,
        st: &mut State,
        ins: &Instruction,
        df: &Dockerfile,
        globals: &Vars,
        done: &HashMap<usize, State>,
        ignore: &DockerIgnore,
        opts: &BuildOptions,
        consumed: &mut BTreeSet<String>,
        out: Out,
        file: &str,
    ) -> Result<bool, BuildError> {
        let err = |m: String| BuildError::Dockerfile {
            file: file.into(),
            line: ins.line,
            message: m,
        };
        let x = |s: &str, st: &State| words::expand(s, &st.vars, df.escape).map_err(|e| err(e.0));
        let meta = |st: &mut State| {
            st.history.push(History {
                created_by: Some(ins.text.clone()),
                empty_layer: true,
                ..Default::default()
            });
            st.chain = key(&[st.chain.as_bytes(), ins.text.as_bytes()]);
        };
        match &ins.kind {
            Kind::Env(pairs) => {
                for (k, v) in pairs {
                    let v = x(v, st)?;
                    env_set(&mut st.config.env, k, &v);
                    st.vars.insert(k.clone(), v);
                }
                meta(st);
            }
            Kind::Arg(decls) => {
                for a in decls {
                    consumed.insert(a.name.clone());
                    let v = opts.args.get(&a.name).cloned().or(match &a.default {
                        Some(d) => Some(x(d, st)?),
                        None => globals.get(&a.name).cloned(),
                    });
                    if let Some(v) = v {
                        // ENV wins over ARG of the same name for substitution.
                        if env_get(&st.config.env, &a.name).is_none() {
                            st.vars.insert(a.name.clone(), v.clone());
                        }
                        st.args.insert(a.name.clone(), v);
                    }
                }
                meta(st);
            }
            Kind::Label(pairs) => {
                for (k, v) in pairs {
                    st.config.labels.insert(x(k, st)?, x(v, st)?);
                }
                meta(st);
            }
            Kind::Workdir(p) => {
                let p = x(p, st)?;
                let abs = if p.starts_with('/') {
                    p
                } else {
                    format!("{}/{p}", st.config.working_dir.trim_end_matches('/'))
                };
                st.config.working_dir = abs.clone();
                meta(st);
                return self.ensure_dir(st, &abs);
            }
            Kind::User(u) => {
                st.config.user = x(u, st)?;
                meta(st);
            }
            Kind::Expose(ports) => {
                for p in words::expand_all(ports, &st.vars, df.escape).map_err(|e| err(e.0))? {
                    let p = if p.contains('/') {
                        p
                    } else {
                        format!("{p}/tcp")
                    };
                    st.config.exposed_ports.insert(p, Empty {});
                }
                meta(st);
            }
            Kind::Volume(v) => {
                for p in v {
                    st.config.volumes.insert(x(p, st)?, Empty {});
                }
                meta(st);
            }
            Kind::Cmd(c) => {
                st.config.cmd = Some(command(c, &st.config));
                meta(st);
            }
            Kind::Entrypoint(c) => {
                st.config.entrypoint = Some(command(c, &st.config));
                // A new entrypoint drops the Cmd inherited from the base.
                if st
                    .base
                    .as_ref()
                    .is_some_and(|b| b.config.cmd == st.config.cmd)
                {
                    st.config.cmd = None;
                }
                meta(st);
            }
            Kind::Shell(s) => {
                st.config.shell = Some(s.clone());
                meta(st);
            }
            Kind::StopSignal(s) => {
                st.config.stop_signal = x(s, st)?;
                meta(st);
            }
            Kind::Healthcheck(h) => {
                st.config.healthcheck = Some(match h {
                    None => HealthConfig {
                        test: vec!["NONE".into()],
                        ..Default::default()
                    },
                    Some(h) => HealthConfig {
                        test: h.test.clone(),
                        interval: h.interval,
                        timeout: h.timeout,
                        start_period: h.start_period,
                        start_interval: h.start_interval,
                        retries: h.retries,
                    },
                });
                meta(st);
            }
            Kind::Onbuild(t) => {
                st.config.on_build.push(t.clone());
                meta(st);
            }
            Kind::Maintainer(_) => meta(st),
            Kind::From { .. } => unreachable!("FROM starts a stage"),
            Kind::Run {
                command: c,
                network,
            } => {
                return self.run(
                    st,
                    ins,
                    c,
                    network.as_deref().or(opts.network.as_deref()),
                    opts,
                    out,
                );
            }
            Kind::Copy(spec) | Kind::Add(spec) => {
                return self.copy(
                    st,
                    ins,
                    spec,
                    matches!(ins.kind, Kind::Add(_)),
                    df,
                    done,
                    ignore,
                    opts,
                    file,
                );
            }
        }
        Ok(false)
    }
}

/// Build args Docker defines without an ARG.
const PREDEFINED: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

fn env_vars(env: &[String]) -> Vars {
    env.iter()
        .filter_map(|e| e.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Shell form goes through `SHELL` (default `/bin/sh -c`).
pub(crate) fn command(c: &Command, config: &ImageConfig) -> Vec<String> {
    match c {
        Command::Exec(v) => v.clone(),
        Command::Shell(s) => {
            let mut sh = config
                .shell
                .clone()
                .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()]);
            sh.push(s.clone());
            sh
        }
    }
}

/// The target and every stage it needs (through FROM or COPY --from), in
/// Dockerfile order.
fn needed_stages(df: &Dockerfile, target: usize) -> Vec<usize> {
    let mut need = BTreeSet::new();
    let mut todo = vec![target];
    while let Some(i) = todo.pop() {
        if !need.insert(i) {
            continue;
        }
        let s = &df.stages[i];
        if let Some(j) = df.stage_index(&s.base).filter(|j| *j < i) {
            todo.push(j);
        }
        for ins in &s.instructions {
            if let Kind::Copy(c) = &ins.kind
                && let Some(f) = &c.from
                && let Some(j) = df.stage_index(f).filter(|j| *j < i)
            {
                todo.push(j);
            }
        }
    }
    need.into_iter().collect()
}
