//! Instructions that only change the image config (ENV, ARG, LABEL, USER,
//! CMD, …). Each one extends the cache chain with its effect, so a step
//! after it is reused only when the config it runs with is the same.

use std::collections::BTreeSet;

use berth_image::ImageConfig;
use berth_image::spec::{Empty, HealthConfig, History};

use crate::BuildError;
use crate::builder::{Builder, Ctx, State};
use crate::cache::key;
use crate::dockerfile::words;
use crate::dockerfile::{Command, Instruction, Kind};

fn env_get<'a>(env: &'a [String], k: &str) -> Option<&'a str> {
    env.iter()
        .rev()
        .find_map(|e| e.strip_prefix(k).and_then(|rest| rest.strip_prefix('=')))
}

fn env_set(env: &mut Vec<String>, k: &str, v: &str) {
    env.retain(|e| e.split('=').next() != Some(k));
    env.push(format!("{k}={v}"));
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

impl Builder {
    pub(crate) fn meta(
        &self,
        ctx: &Ctx,
        st: &mut State,
        ins: &Instruction,
        consumed: &mut BTreeSet<String>,
    ) -> Result<(), BuildError> {
        let esc = ctx.df.escape;
        let err = |e: words::WordError| ctx.err(ins.line, e.0);
        match &ins.kind {
            Kind::Env(pairs) => {
                // Every value sees the variables as they were before this
                // ENV (`ENV a=1 b=$a` gives b the old a), as in Docker.
                let values: Vec<(String, String)> = pairs
                    .iter()
                    .map(|(k, v)| Ok((k.clone(), words::expand(v, &st.vars, esc).map_err(err)?)))
                    .collect::<Result<_, BuildError>>()?;
                for (k, v) in values {
                    env_set(&mut st.config.env, &k, &v);
                    st.vars.insert(k, v);
                }
            }
            Kind::Arg(decls) => {
                for a in decls {
                    consumed.insert(a.name.clone());
                    let v = match (ctx.opts.args.get(&a.name), &a.default) {
                        (Some(v), _) => Some(v.clone()),
                        (None, Some(d)) => Some(words::expand(d, &st.vars, esc).map_err(err)?),
                        (None, None) => ctx.globals.get(&a.name).cloned(),
                    };
                    if let Some(v) = v {
                        // ENV wins over an ARG of the same name.
                        if env_get(&st.config.env, &a.name).is_none() {
                            st.vars.insert(a.name.clone(), v.clone());
                        }
                        st.args.insert(a.name.clone(), v);
                    }
                }
            }
            Kind::Label(pairs) => {
                for (k, v) in pairs {
                    let k = words::expand(k, &st.vars, esc).map_err(err)?;
                    let v = words::expand(v, &st.vars, esc).map_err(err)?;
                    st.config.labels.insert(k, v);
                }
            }
            Kind::User(u) => st.config.user = words::expand(u, &st.vars, esc).map_err(err)?,
            Kind::Expose(ports) => {
                for p in words::expand_all(ports, &st.vars, esc).map_err(err)? {
                    let p = if p.contains('/') {
                        p
                    } else {
                        format!("{p}/tcp")
                    };
                    st.config.exposed_ports.insert(p, Empty {});
                }
            }
            Kind::Volume(v) => {
                for p in v {
                    let p = words::expand(p, &st.vars, esc).map_err(err)?;
                    st.config.volumes.insert(p, Empty {});
                }
            }
            Kind::Cmd(c) => {
                st.config.cmd = Some(command(c, &st.config));
                st.cmd_set = true;
            }
            Kind::Entrypoint(c) => {
                st.config.entrypoint = Some(command(c, &st.config));
                // A new entrypoint drops a CMD inherited from the base.
                if !st.cmd_set {
                    st.config.cmd = None;
                }
            }
            Kind::Shell(s) => st.config.shell = Some(s.clone()),
            Kind::StopSignal(s) => {
                st.config.stop_signal = words::expand(s, &st.vars, esc).map_err(err)?
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
            }
            Kind::Onbuild(t) => st.config.on_build.push(t.clone()),
            // Deprecated; Docker records it as the image author only.
            Kind::Maintainer(_) => {}
            Kind::From { .. }
            | Kind::Run { .. }
            | Kind::Copy(_)
            | Kind::Add(_)
            | Kind::Workdir(_) => unreachable!("not a config instruction"),
        }
        st.history.push(History {
            created_by: Some(ins.text.clone()),
            empty_layer: true,
            ..Default::default()
        });
        let effect = serde_json::to_string(&(&st.config, &st.args)).unwrap_or_default();
        st.chain = key(&[st.chain.as_bytes(), ins.text.as_bytes(), effect.as_bytes()]);
        Ok(())
    }
}
