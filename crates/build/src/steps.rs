//! RUN (in a berth container, the layer being the diff of its overlay upper
//! directory) and the directory WORKDIR creates.

use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::PathBuf;
use std::time::Duration;

use berth_image::spec::History;
use berth_runtime::{ContainerConfig, NetworkMode, Process};

use crate::BuildError;
use crate::builder::{Builder, Ctx, State};
use crate::cache::key;
use crate::dockerfile::words;
use crate::dockerfile::{Command, Instruction};
use crate::layer;
use crate::meta::command;
use crate::progress::Event;
use crate::sources::Source;

pub(crate) fn io(e: impl std::fmt::Display) -> BuildError {
    BuildError::Io(e.to_string())
}

/// Cache value of a step that left the filesystem as it was.
const NO_LAYER: &str = "-";

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
        let network = match network.unwrap_or("default") {
            "default" | "host" => NetworkMode::Host,
            "none" => NetworkMode::None,
            other => {
                return Err(ctx.err(
                    ins.line,
                    format!(
                        "RUN network {other:?} is not supported by berth (use default, host or none)"
                    ),
                ));
            }
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
            format!("{network:?}").as_bytes(),
        ]);
        if self.cached(ctx, st, ins, &k) {
            return Ok(true);
        }
        let lower = self.lower_dirs(st)?;
        let cid = berth_store::new_id();
        let mut hosts =
            String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
        for (h, ip) in &ctx.opts.extra_hosts {
            hosts.push_str(&format!("{ip}\t{h}\n"));
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
            network,
            hosts: Some(hosts),
            shm_size: ctx.opts.shm_size,
            labels: [("berth.build".to_owned(), "true".to_owned())].into(),
            ..Default::default()
        };
        let c = self.runtime.create(config)?;
        let result = self.run_container(&c.id, ctx, id);
        let (code, output) = match result {
            Ok(r) => r,
            Err(e) => {
                let _ = self.runtime.remove(&c.id, true, true);
                return Err(e);
            }
        };
        if code != 0 {
            let _ = self.runtime.remove(&c.id, true, true);
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
        let _ = self.runtime.remove(&c.id, true, true);
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
