//! RUN (in a berth container on the build's network, the layer being the
//! diff of its overlay upper directory) and the directory WORKDIR creates.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use berth_image::spec::History;
use berth_net::attach::Attachment;
use berth_net::network::Networks;
use berth_runtime::{ContainerConfig, NetworkMode, Process, Runtime};

use crate::BuildError;
use crate::builder::{Builder, Ctx, State};
use crate::cache::key;
use crate::dockerfile::words;
use crate::dockerfile::{Command, Instruction};
use crate::layer;
use crate::meta::command;
use crate::progress::Event;
use crate::run_network::{RunNetwork, release};
use crate::sources::Source;
use crate::sweep::{BUILD_ID_LABEL, BUILD_LABEL};

pub(crate) fn io(e: impl std::fmt::Display) -> BuildError {
    BuildError::Io(e.to_string())
}

/// Cache value of a step that left the filesystem as it was.
const NO_LAYER: &str = "-";

/// A RUN step's container and network, removed and released when dropped:
/// after the step, after a failure, and when the build is unwinding.
struct StepGuard<'a> {
    runtime: &'a Runtime,
    nets: &'a Networks,
    cid: String,
    created: bool,
    atts: Vec<Attachment>,
}

impl Drop for StepGuard<'_> {
    fn drop(&mut self) {
        if self.created {
            let _ = self.runtime.remove(&self.cid, true, true);
        }
        release(self.nets, &self.cid, &self.atts);
    }
}

impl Builder {
    pub(crate) fn push_layer(&self, st: &mut State, ins: &Instruction, diff_id: String, k: String) {
        st.layers.push(diff_id);
        st.history.push(History {
            created_by: Some(ins.text.clone()),
            ..Default::default()
        });
        st.chain = k;
    }

    /// Reuses a cached layer for `k` when there is one.
    pub(crate) fn cached(&self, ctx: &Ctx, st: &mut State, ins: &Instruction, k: &str) -> bool {
        if ctx.opts.no_cache {
            return false;
        }
        match self.cache.get(k) {
            Some(d) if d == NO_LAYER => {
                st.history.push(History {
                    created_by: Some(ins.text.clone()),
                    empty_layer: true,
                    ..Default::default()
                });
                st.chain = k.to_owned();
                true
            }
            Some(d) if self.store.has_layer(&d) => {
                self.push_layer(st, ins, d, k.to_owned());
                true
            }
            _ => false,
        }
    }

    pub(crate) fn run(
        &self,
        ctx: &Ctx,
        st: &mut State,
        ins: &Instruction,
        c: &Command,
        network: Option<&str>,
        id: usize,
    ) -> Result<bool, BuildError> {
        // `RUN --network=default` is the build's own network.
        let network = match network {
            Some("default") | None => RunNetwork::parse(ctx.opts.network.as_deref()),
            Some(n) => RunNetwork::parse(Some(n)),
        };
        let args = command(c, &st.config);
        let mut env = st.config.env.clone();
        for (k, v) in &st.args {
            if !env.iter().any(|e| e.split('=').next() == Some(k)) {
                env.push(format!("{k}={v}"));
            }
        }
        let args_env: Vec<String> = st.args.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let k = key(&[
            st.chain.as_bytes(),
            b"RUN",
            args.join("\0").as_bytes(),
            args_env.join("\0").as_bytes(),
            network.cache_key().as_bytes(),
        ]);
        if self.cached(ctx, st, ins, &k) {
            return Ok(true);
        }
        let lower = self.lower_dirs(st)?;
        let cid = berth_store::new_id();
        let net = ctx
            .net
            .step(&network, &cid, &ctx.opts.extra_hosts)
            .map_err(|e| ctx.err(ins.line, e.to_string()))?;
        // From here on the step's container, interfaces and lease go when
        // the guard does, on every way out of this function.
        let mut guard = StepGuard {
            runtime: &self.runtime,
            nets: ctx.net.networks(),
            cid: cid.clone(),
            created: false,
            atts: match &net.mode {
                NetworkMode::Bridge(a) => a.clone(),
                _ => Vec::new(),
            },
        };
        if let Some(w) = &net.warning {
            (ctx.out)(&Event::Warning(w));
        }
        let config = ContainerConfig {
            name: format!("berth-build-{}", &cid[..12]),
            id: cid,
            image: "build".into(),
            lower_dirs: lower.clone(),
            process: Process {
                args: args.clone(),
                env,
                cwd: st.config.working_dir.clone(),
                user: st.config.user.clone(),
                ..Default::default()
            },
            network: net.mode,
            hosts: Some(net.hosts),
            resolv_conf: net.resolv_conf,
            shm_size: ctx.opts.shm_size,
            labels: [
                (BUILD_LABEL.to_owned(), "true".to_owned()),
                (BUILD_ID_LABEL.to_owned(), ctx.build_id.to_owned()),
            ]
            .into(),
            ..Default::default()
        };
        let c = self.runtime.create(config)?;
        guard.created = true;
        let (code, output) = self.run_container(&c.id, ctx, id)?;
        if code != 0 {
            return Err(BuildError::Run {
                file: ctx.file.to_owned(),
                line: ins.line,
                instruction: ins.text.clone(),
                command: args.join(" "),
                code,
                output,
            });
        }
        let tar = layer::from_upper(&self.runtime.dir(&c.id).upper(), &lower).map_err(io);
        drop(guard);
        let info = self.store.add_layer(&tar?[..])?;
        self.cache.put(&k, &info.diff_id);
        self.push_layer(st, ins, info.diff_id, k);
        Ok(false)
    }

    /// Starts the step's container, streams its output, returns (exit code, output).
    fn run_container(&self, cid: &str, ctx: &Ctx, id: usize) -> Result<(i32, String), BuildError> {
        self.runtime.start(cid)?;
        let log = self.runtime.dir(cid).log();
        let mut offset = 0u64;
        let mut output = String::new();
        let read = |offset: &mut u64, output: &mut String| {
            let Ok(mut f) = std::fs::File::open(&log) else {
                return;
            };
            if f.seek(SeekFrom::Start(*offset)).is_err() {
                return;
            }
            let mut r = BufReader::new(f);
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 0 && line.ends_with('\n') {
                *offset += line.len() as u64;
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    let text = v["log"].as_str().unwrap_or("").trim_end_matches('\n');
                    (ctx.out)(&Event::Output { id, line: text });
                    output.push_str(text);
                    output.push('\n');
                }
                line.clear();
            }
        };
        loop {
            read(&mut offset, &mut output);
            let c = self.runtime.inspect(cid)?;
            if !c.state.status.is_active() {
                let code = self.runtime.wait(cid)?;
                read(&mut offset, &mut output);
                return Ok((code, output));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// WORKDIR: the config's working directory, and the directory itself
    /// when the image does not have it yet (a cached layer of its own).
    pub(crate) fn workdir(
        &self,
        ctx: &Ctx,
        st: &mut State,
        ins: &Instruction,
        p: &str,
    ) -> Result<bool, BuildError> {
        let p = words::expand(p, &st.vars, ctx.df.escape).map_err(|e| ctx.err(ins.line, e.0))?;
        let abs = if p.starts_with('/') {
            p
        } else {
            format!("{}/{p}", st.config.working_dir.trim_end_matches('/'))
        };
        st.config.working_dir = abs.clone();
        let k = key(&[st.chain.as_bytes(), ins.text.as_bytes(), abs.as_bytes()]);
        if self.cached(ctx, st, ins, &k) {
            return Ok(true);
        }
        let lower = self.lower_dirs(st)?;
        let src = Source::Layers(&lower);
        let rel = PathBuf::from(abs.trim_start_matches('/'));
        if rel.as_os_str().is_empty() || src.lookup(&rel).is_some() {
            self.cache.put(&k, NO_LAYER);
            st.history.push(History {
                created_by: Some(ins.text.clone()),
                empty_layer: true,
                ..Default::default()
            });
            st.chain = k;
            return Ok(false);
        }
        let entries = crate::copy::missing_parents(&src, &rel.join("x"));
        let tar = layer::from_entries(&entries).map_err(io)?;
        let info = self.store.add_layer(&tar[..])?;
        self.cache.put(&k, &info.diff_id);
        self.push_layer(st, ins, info.diff_id, k);
        Ok(false)
    }
}
