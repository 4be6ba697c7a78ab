//! Running a Dockerfile: stage by stage, instruction by instruction, then
//! committing the target stage as an image of the store.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use berth_image::spec::History;
use berth_image::{Image, ImageConfig, ImageStore, NewImage};
use berth_runtime::Runtime;
use berth_store::Root;

use crate::BuildError;
use crate::cache::{Cache, key};
use crate::dockerfile::words::{self, Vars};
use crate::dockerfile::{Dockerfile, Instruction, Kind, Stage};
use crate::ignore::DockerIgnore;
use crate::progress::{Event, Out};
use crate::run_network::{RunNetwork, Session};
use crate::sweep::{self, BuildLock};

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
    /// Network of RUN steps: `default` (the build network, see
    /// [`crate::BUILD_NETWORK`]), `host`, `none`, or an existing network's name.
    pub network: Option<String>,
    /// `extra_hosts`: (host, address) lines added to RUN's `/etc/hosts`.
    pub extra_hosts: Vec<(String, String)>,
    /// Size of `/dev/shm` in RUN steps, in bytes.
    pub shm_size: Option<u64>,
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
    /// Cache key of the chain so far: base, every instruction and its effect.
    pub chain: String,
    /// Whether this stage set CMD (an ENTRYPOINT then keeps it).
    pub cmd_set: bool,
}

/// What every step of one build shares.
pub(crate) struct Ctx<'a> {
    pub df: &'a Dockerfile,
    pub file: &'a str,
    pub opts: &'a BuildOptions,
    pub ignore: &'a DockerIgnore,
    pub globals: &'a Vars,
    pub done: &'a HashMap<usize, State>,
    pub out: Out<'a>,
    /// The networks of RUN steps.
    pub net: &'a Session,
    /// Labels RUN containers as this build's (see [`crate::sweep`]).
    pub build_id: &'a str,
}

impl Ctx<'_> {
    pub fn err(&self, line: usize, message: impl Into<String>) -> BuildError {
        BuildError::Dockerfile {
            file: self.file.to_owned(),
            line,
            message: message.into(),
        }
    }
}

pub struct Builder {
    pub(crate) store: ImageStore,
    pub(crate) runtime: Runtime,
    pub(crate) cache: Cache,
    /// RUN networks, shared by the builds of this builder: the build
    /// network is made once for all the services `berth build` builds,
    /// and let go when the builder is dropped.
    net: Session,
}

/// Instructions shown as steps (the others only change the config).
fn is_step(k: &Kind) -> bool {
    matches!(
        k,
        Kind::Run { .. } | Kind::Copy(_) | Kind::Add(_) | Kind::Workdir(_)
    )
}

fn read_dockerfile(opts: &BuildOptions) -> Result<(String, String, Option<PathBuf>), BuildError> {
    if let Some(t) = &opts.inline {
        return Ok((t.clone(), "Dockerfile (inline)".to_owned(), None));
    }
    let p = match &opts.dockerfile {
        Some(d) if d.is_absolute() => d.clone(),
        Some(d) => opts.context.join(d),
        None => opts.context.join("Dockerfile"),
    };
    let t =
        std::fs::read_to_string(&p).map_err(|e| BuildError::Io(format!("{}: {e}", p.display())))?;
    Ok((t, p.display().to_string(), Some(p)))
}

/// `<Dockerfile>.dockerignore` beside the Dockerfile wins over the
/// context's `.dockerignore`, as with BuildKit.
fn read_ignore(context: &Path, dockerfile: Option<&Path>) -> Result<DockerIgnore, BuildError> {
    let mut candidates = Vec::new();
    if let Some(d) = dockerfile {
        let mut name = d.as_os_str().to_owned();
        name.push(".dockerignore");
        candidates.push(PathBuf::from(name));
    }
    candidates.push(context.join(".dockerignore"));
    for c in candidates {
        if let Ok(t) = std::fs::read_to_string(&c) {
            return DockerIgnore::parse(&t, &c.display().to_string());
        }
    }
    Ok(DockerIgnore::default())
}

impl Builder {
    pub fn new(root: &Root) -> Result<Builder, BuildError> {
        Ok(Builder {
            store: ImageStore::open(root)?,
            runtime: Runtime::open(root),
            cache: Cache::new(root),
            net: Session::new(root),
        })
    }

    /// Builds; returns the image (tagged with `opts.tags`).
    pub fn build(&self, opts: &BuildOptions, out: Out) -> Result<Image, BuildError> {
        let ctx_str = opts.context.to_string_lossy();
        if ["http://", "https://", "git@", "git://"]
            .iter()
            .any(|p| ctx_str.starts_with(p))
        {
            return Err(BuildError::Io(format!(
                "build context {ctx_str}: remote contexts are not supported by berth; clone it and build from the directory"
            )));
        }
        let _hold = self.store.hold()?;
        let root = self.runtime.root().clone();
        for note in sweep::sweep(&root) {
            out(&Event::Warning(&note));
        }
        let lock = BuildLock::take(&root)?;
        let (text, file, path) = read_dockerfile(opts)?;
        let df = Dockerfile::parse(&text, &file)?;
        let ignore = read_ignore(&opts.context, path.as_deref())?;
        let target = match &opts.target {
            Some(t) => df.stage_index(t).ok_or_else(|| BuildError::Dockerfile {
                file: file.clone(),
                line: 1,
                message: format!("target stage {t:?} could not be found"),
            })?,
            None => df.stages.len() - 1,
        };
        self.net
            .check(&RunNetwork::parse(opts.network.as_deref()))?;
        let needed = needed_stages(&df, target);
        let mut globals = Vars::new();
        for a in &df.global_args {
            let v = match (opts.args.get(&a.name), &a.default) {
                (Some(v), _) => Some(v.clone()),
                (None, Some(d)) => Some(words::expand(d, &globals, df.escape).map_err(|e| {
                    BuildError::Dockerfile {
                        file: file.clone(),
                        line: 1,
                        message: format!("ARG {}: {}", a.name, e.0),
                    }
                })?),
                (None, None) => None,
            };
            if let Some(v) = v {
                globals.insert(a.name.clone(), v);
            }
        }
        let mut consumed: BTreeSet<String> =
            df.global_args.iter().map(|a| a.name.clone()).collect();
        let mut done: HashMap<usize, State> = HashMap::new();
        let mut id = 0;
        for &i in &needed {
            let stage = &df.stages[i];
            let label = match &stage.name {
                Some(n) => n.clone(),
                None if df.stages.len() > 1 => format!("stage-{i}"),
                None => String::new(),
            };
            let ctx = Ctx {
                df: &df,
                file: &file,
                opts,
                ignore: &ignore,
                globals: &globals,
                done: &done,
                out,
                net: &self.net,
                build_id: &lock.id,
            };
            let started = Instant::now();
            let (mut st, base) = self.from(&ctx, stage)?;
            // A base's ONBUILD triggers run first, then leave the config.
            let mut instrs: Vec<Instruction> = Vec::new();
            for t in std::mem::take(&mut st.config.on_build) {
                instrs.push(
                    Instruction::parse(&t, stage.line, df.escape)
                        .map_err(|m| ctx.err(stage.line, format!("ONBUILD trigger {t:?}: {m}")))?,
                );
            }
            instrs.extend(stage.instructions.iter().cloned());
            let count = 1 + instrs.iter().filter(|i| is_step(&i.kind)).count();
            id += 1;
            out(&Event::Step {
                id,
                stage: &label,
                index: 1,
                count,
                text: &format!("FROM {base}"),
            });
            out(&Event::Done {
                id,
                cached: false,
                secs: started.elapsed().as_secs_f64(),
            });
            let mut index = 1;
            for ins in &instrs {
                if !is_step(&ins.kind) {
                    self.meta(&ctx, &mut st, ins, &mut consumed)?;
                    continue;
                }
                id += 1;
                index += 1;
                out(&Event::Step {
                    id,
                    stage: &label,
                    index,
                    count,
                    text: &ins.text,
                });
                let started = Instant::now();
                let r = self.step(&ctx, &mut st, ins, id);
                let secs = started.elapsed().as_secs_f64();
                match r {
                    Ok(cached) => out(&Event::Done { id, cached, secs }),
                    Err(e) => {
                        out(&Event::Failed { id, secs });
                        return Err(e);
                    }
                }
            }
            done.insert(i, st);
        }
        let unused: Vec<&str> = opts
            .args
            .keys()
            .filter(|k| !consumed.contains(*k) && !PREDEFINED.contains(&k.as_str()))
            .map(String::as_str)
            .collect();
        if !unused.is_empty() {
            out(&Event::Warning(&format!(
                "one or more build-args [{}] were not consumed",
                unused.join(" ")
            )));
        }
        let st = done.remove(&target).expect("target stage built");
        self.commit(st, opts)
    }

    /// Writes the target stage as an image; an unchanged rebuild gives the
    /// image it gave last time (same id), only tagged again.
    fn commit(&self, st: State, opts: &BuildOptions) -> Result<Image, BuildError> {
        let mut config = st.config;
        config.labels.extend(opts.labels.clone());
        let history: Vec<&str> = st
            .history
            .iter()
            .map(|h| h.created_by.as_deref().unwrap_or(""))
            .collect();
        let image_key = format!(
            "image-{}",
            key(&[
                st.chain.as_bytes(),
                serde_json::to_string(&config)
                    .unwrap_or_default()
                    .as_bytes(),
                st.layers.join(",").as_bytes(),
                history.join("\n").as_bytes(),
            ])
        );
        if !opts.no_cache
            && let Some(id) = self.cache.get(&image_key)
            && let Some(img) = self.store.resolve(&id)?
            && img.layers.iter().map(|l| &l.diff_id).eq(st.layers.iter())
        {
            for t in &opts.tags {
                self.store.tag(&img.id, t)?;
            }
            return Ok(self.store.get(&img.id)?);
        }
        let mut new = NewImage::from_base(None);
        new.config = config;
        new.layers = st.layers;
        new.history = st.history;
        new.tags = opts.tags.clone();
        if let Some(b) = &st.base {
            new.platform = b.platform();
        }
        let img = self.store.commit(new)?;
        self.cache.put(&image_key, &img.id);
        Ok(img)
    }

    /// The state a stage starts from, and the base as shown.
    fn from(&self, ctx: &Ctx, stage: &Stage) -> Result<(State, String), BuildError> {
        let base = words::expand(&stage.base, ctx.globals, ctx.df.escape)
            .map_err(|e| ctx.err(stage.line, e.0))?;
        if base.is_empty() {
            return Err(ctx.err(
                stage.line,
                format!("FROM {}: the base image name is empty", stage.base),
            ));
        }
        if base == "scratch" {
            let st = State {
                base: None,
                config: ImageConfig::default(),
                layers: vec![],
                history: vec![],
                vars: Vars::new(),
                args: BTreeMap::new(),
                chain: key(&[b"scratch"]),
                cmd_set: false,
            };
            return Ok((st, base));
        }
        if let Some(j) = ctx
            .df
            .stage_index(&base)
            .filter(|j| ctx.done.contains_key(j))
        {
            let s = &ctx.done[&j];
            let st = State {
                base: s.base.clone(),
                config: s.config.clone(),
                layers: s.layers.clone(),
                history: s.history.clone(),
                vars: env_vars(&s.config.env),
                args: BTreeMap::new(),
                chain: s.chain.clone(),
                cmd_set: false,
            };
            return Ok((st, base));
        }
        let image = match (self.store.resolve(&base)?, ctx.opts.pull) {
            (Some(img), false) => img,
            _ => self
                .store
                .pull(
                    &base,
                    &berth_image::PullOptions::default(),
                    &berth_image::progress::NoProgress,
                )
                .map_err(|e| ctx.err(stage.line, format!("base image {base}: {e}")))?,
        };
        let st = State {
            config: image.config.clone(),
            vars: env_vars(&image.config.env),
            history: image.history.clone(),
            chain: key(&[image.id.as_bytes()]),
            layers: image.layers.iter().map(|l| l.diff_id.clone()).collect(),
            args: BTreeMap::new(),
            base: Some(image),
            cmd_set: false,
        };
        Ok((st, base))
    }

    /// Layer directories of a state, topmost first.
    pub(crate) fn lower_dirs(&self, st: &State) -> Result<Vec<PathBuf>, BuildError> {
        st.layers
            .iter()
            .rev()
            .map(|d| self.store.layer_root(d).map_err(BuildError::from))
            .collect()
    }

    /// A filesystem step; returns whether it came from the cache.
    fn step(
        &self,
        ctx: &Ctx,
        st: &mut State,
        ins: &Instruction,
        id: usize,
    ) -> Result<bool, BuildError> {
        match &ins.kind {
            Kind::Run { command, network } => {
                let network = network.as_deref().or(ctx.opts.network.as_deref());
                self.run(ctx, st, ins, command, network, id)
            }
            Kind::Copy(spec) => self.copy(ctx, st, ins, spec, false),
            Kind::Add(spec) => self.copy(ctx, st, ins, spec, true),
            Kind::Workdir(p) => self.workdir(ctx, st, ins, p),
            _ => unreachable!("only filesystem steps"),
        }
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

pub(crate) fn env_vars(env: &[String]) -> Vars {
    env.iter()
        .filter_map(|e| e.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
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
