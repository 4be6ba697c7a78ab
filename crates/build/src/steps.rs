//! The steps that change the filesystem: RUN (in a berth container, the
//! layer being the diff of its overlay upper directory), COPY and ADD (a
//! layer made straight from the files), and the directory WORKDIR creates.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Duration;

use berth_image::spec::History;
use berth_runtime::{ContainerConfig, NetworkMode, Process};
use sha2::{Digest, Sha256};

use crate::BuildError;
use crate::builder::{BuildOptions, Builder, Out, State, command};
use crate::cache::key;
use crate::dockerfile::words;
use crate::dockerfile::{Command, CopySpec, Dockerfile, Instruction};
use crate::ignore::DockerIgnore;
use crate::layer::{self, Entry};
use crate::sources::{Found, Source};

fn io(e: impl std::fmt::Display) -> BuildError {
    BuildError::Io(e.to_string())
}

impl Builder {
    fn push_layer(&self, st: &mut State, ins: &Instruction, diff_id: String, chain: String) {
        st.layers.push(diff_id);
        st.history.push(History {
            created_by: Some(ins.text.clone()),
            ..Default::default()
        });
        st.chain = chain;
    }

    /// Reuses a cached layer for `k` when there is one.
    fn cached(&self, st: &mut State, ins: &Instruction, k: &str, opts: &BuildOptions) -> bool {
        if opts.no_cache {
            return false;
        }
        match self.cache.get(k) {
            Some(d) if self.store.layer_root(&d).is_ok_and(|p| p.exists()) => {
                self.push_layer(st, ins, d, k.to_owned());
                true
            }
            _ => false,
        }
    }

    pub(crate) fn run(
        &self,
        st: &mut State,
        ins: &Instruction,
        c: &Command,
        network: Option<&str>,
        opts: &BuildOptions,
        out: Out,
    ) -> Result<bool, BuildError> {
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
            network.unwrap_or("").as_bytes(),
        ]);
        if self.cached(st, ins, &k, opts) {
            return Ok(true);
        }
        let id = berth_store::new_id();
        let config = ContainerConfig {
            name: format!("berth-build-{}", &id[..12]),
            id,
            image: "build".into(),
            lower_dirs: self.lower_dirs(st)?,
            process: Process {
                args: args.clone(),
                env,
                cwd: st.config.working_dir.clone(),
                user: st.config.user.clone(),
                ..Default::default()
            },
            network: if network == Some("none") {
                NetworkMode::None
            } else {
                NetworkMode::Host
            },
            labels: [("berth.build".to_owned(), "true".to_owned())].into(),
            ..Default::default()
        };
        let c = self.runtime.create(config)?;
        let result = self.run_container(&c.id, opts, out);
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
                command: args.join(" "),
                code,
                output,
            });
        }
        let tar = layer::from_upper(&self.runtime.dir(&c.id).upper()).map_err(io);
        let _ = self.runtime.remove(&c.id, true, true);
        let info = self.store.add_layer(&tar?[..])?;
        self.cache.put(&k, &info.diff_id);
        self.push_layer(st, ins, info.diff_id, k);
        Ok(false)
    }

    /// Starts the step's container, streams its output, returns (exit code, output).
    fn run_container(
        &self,
        id: &str,
        opts: &BuildOptions,
        out: Out,
    ) -> Result<(i32, String), BuildError> {
        self.runtime.start(id)?;
        let log = self.runtime.dir(id).log();
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
                    let text = v["log"]
                        .as_str()
                        .unwrap_or("")
                        .trim_end_matches('\n')
                        .to_owned();
                    if !opts.quiet {
                        out(&text);
                    }
                    output.push_str(&text);
                    output.push('\n');
                }
                line.clear();
            }
        };
        loop {
            read(&mut offset, &mut output);
            let c = self.runtime.inspect(id)?;
            if !c.state.status.is_active() {
                let code = self.runtime.wait(id)?;
                read(&mut offset, &mut output);
                return Ok((code, output));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub(crate) fn ensure_dir(&self, st: &mut State, abs: &str) -> Result<bool, BuildError> {
        let lower = self.lower_dirs(st)?;
        let src = Source::Layers(&lower);
        let rel = PathBuf::from(abs.trim_start_matches('/'));
        if rel.as_os_str().is_empty() || src.lookup(&rel).is_some() {
            return Ok(false);
        }
        let entries = missing_parents(&src, &rel.join("x"));
        let tar = layer::from_entries(&entries).map_err(io)?;
        let info = self.store.add_layer(&tar[..])?;
        st.layers.push(info.diff_id);
        // WORKDIR recorded an empty step; it made a layer after all.
        if let Some(h) = st.history.last_mut() {
            h.empty_layer = false;
        }
        Ok(false)
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn copy(
        &self,
        st: &mut State,
        ins: &Instruction,
        spec: &CopySpec,
        add: bool,
        df: &Dockerfile,
        done: &HashMap<usize, State>,
        ignore: &DockerIgnore,
        opts: &BuildOptions,
        file: &str,
    ) -> Result<bool, BuildError> {
        let err = |m: String| BuildError::Dockerfile {
            file: file.into(),
            line: ins.line,
            message: m,
        };
        let x = |s: &str| words::expand(s, &st.vars, df.escape).map_err(|e| err(e.0));
        let from_layers: Option<Vec<PathBuf>> = match &spec.from {
            None => None,
            Some(f) => {
                let f = x(f)?;
                match df.stage_index(&f).and_then(|i| done.get(&i)) {
                    Some(s) => Some(self.lower_dirs(s)?),
                    None => {
                        let img = match self.store.resolve(&f)? {
                            Some(i) => i,
                            None => self
                                .store
                                .pull(&f, &Default::default(), &berth_image::progress::NoProgress)
                                .map_err(|e| err(format!("COPY --from={f}: {e}")))?,
                        };
                        Some(self.store.layer_dirs(&img)?)
                    }
                }
            }
        };
        let src = match &from_layers {
            Some(l) => Source::Layers(l),
            None => Source::Context {
                dir: &opts.context,
                ignore,
            },
        };
        let dest_raw = x(&spec.dest)?;
        let dest_abs = if dest_raw.starts_with('/') {
            dest_raw.clone()
        } else {
            format!(
                "{}/{}",
                st.config.working_dir.trim_end_matches('/'),
                dest_raw
            )
        };
        let dest = PathBuf::from(dest_abs.trim_start_matches('/'));
        let cur = self.lower_dirs(st)?;
        let cur_src = Source::Layers(&cur);
        let (uid, gid) = match &spec.chown {
            Some(c) => chown(&cur_src, &x(c)?).map_err(err)?,
            None => (None, None),
        };
        let mode = match &spec.chmod {
            Some(m) => Some(
                u32::from_str_radix(&x(m)?, 8)
                    .map_err(|_| err(format!("invalid --chmod {m:?}: expected an octal mode")))?,
            ),
            None => None,
        };
        let mut found: Vec<Found> = Vec::new();
        let mut tmp_dirs = Vec::new();
        for s in &spec.sources {
            let s = x(s)?;
            if add && (s.starts_with("http://") || s.starts_with("https://")) {
                return Err(err(format!(
                    "ADD {s}: downloading URLs is not supported by berth; fetch the file into the build context"
                )));
            }
            let hits = src.expand(&s);
            if hits.is_empty() {
                return Err(err(format!(
                    "{} {s}: no such file or directory in the build context{}",
                    ins.keyword,
                    if ignore.is_empty() {
                        ""
                    } else {
                        " (or excluded by .dockerignore)"
                    }
                )));
            }
            for h in hits {
                if add && from_layers.is_none() && is_tar(&h.path) {
                    let t = tempfile::tempdir().map_err(io)?;
                    extract(&h.path, t.path())
                        .map_err(|e| err(format!("ADD {}: {e}", h.rel.display())))?;
                    found.push(Found {
                        path: t.path().to_owned(),
                        rel: PathBuf::new(),
                    });
                    tmp_dirs.push(t);
                } else {
                    found.push(h);
                }
            }
        }
        let dest_is_dir = dest_raw.ends_with('/')
            || found.len() > 1
            || cur_src.lookup(&dest).is_some_and(|p| p.is_dir());
        let mut entries = missing_parents(&cur_src, &dest.join("x"));
        if !dest_is_dir {
            entries.pop(); // `dest` itself is the file
            entries = missing_parents(&cur_src, &dest);
        }
        for f in &found {
            let is_dir = std::fs::symlink_metadata(&f.path)
                .map(|m| m.is_dir())
                .unwrap_or(false);
            if is_dir {
                // A directory's content goes into dest.
                let inner: Vec<(PathBuf, PathBuf)> = if f.rel.as_os_str().is_empty() {
                    walk_plain(&f.path)
                } else {
                    src.walk(&f.rel)
                        .into_iter()
                        .map(|g| (g.path, g.rel.strip_prefix(&f.rel).unwrap().to_owned()))
                        .collect()
                };
                for (path, rel) in inner {
                    entries.push(Entry {
                        dest: dest.join(rel),
                        source: Some(path),
                        mode,
                        uid,
                        gid,
                    });
                }
            } else {
                let target = if dest_is_dir {
                    dest.join(f.path.file_name().unwrap_or_default())
                } else {
                    dest.clone()
                };
                entries.push(Entry {
                    dest: target,
                    source: Some(f.path.clone()),
                    mode,
                    uid,
                    gid,
                });
            }
        }
        let mut h = Sha256::new();
        for e in &entries {
            h.update(e.dest.as_os_str().as_encoded_bytes());
            h.update(format!("{:?}{:?}{:?}", e.mode, e.uid, e.gid));
            if let Some(s) = &e.source
                && let Ok(meta) = std::fs::symlink_metadata(s)
            {
                use std::os::unix::fs::MetadataExt;
                h.update(format!("{:o}{}{}", meta.mode(), meta.uid(), meta.gid()));
                if meta.is_file() {
                    let mut f = std::fs::File::open(s).map_err(io)?;
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = f.read(&mut buf).map_err(io)?;
                        if n == 0 {
                            break;
                        }
                        h.update(&buf[..n]);
                    }
                } else if meta.file_type().is_symlink() {
                    h.update(
                        std::fs::read_link(s)
                            .map_err(io)?
                            .as_os_str()
                            .as_encoded_bytes(),
                    );
                }
            }
        }
        let content: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
        let k = key(&[st.chain.as_bytes(), ins.text.as_bytes(), content.as_bytes()]);
        if self.cached(st, ins, &k, opts) {
            return Ok(true);
        }
        let tar = layer::from_entries(&entries).map_err(io)?;
        let info = self.store.add_layer(&tar[..])?;
        self.cache.put(&k, &info.diff_id);
        self.push_layer(st, ins, info.diff_id, k);
        drop(tmp_dirs);
        Ok(false)
    }
}

/// Directory entries for the parents of `path` that do not exist yet.
fn missing_parents(src: &Source, path: &Path) -> Vec<Entry> {
    let mut out = Vec::new();
    let mut cur = PathBuf::new();
    let comps: Vec<_> = path.components().collect();
    for c in &comps[..comps.len().saturating_sub(1)] {
        cur.push(c);
        if src.lookup(&cur).is_none() {
            out.push(Entry {
                dest: cur.clone(),
                source: None,
                mode: None,
                uid: None,
                gid: None,
            });
        }
    }
    out
}

fn walk_plain(dir: &Path) -> Vec<(PathBuf, PathBuf)> {
    layer::tree(dir)
        .unwrap_or_default()
        .into_iter()
        .map(|p| (p.clone(), p.strip_prefix(dir).unwrap().to_owned()))
        .collect()
}

fn is_tar(p: &Path) -> bool {
    let n = p
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    p.is_file() && (n.ends_with(".tar") || n.ends_with(".tar.gz") || n.ends_with(".tgz"))
}

/// ADD of a local archive: its content, unpacked (no entry may leave `to`).
fn extract(archive: &Path, to: &Path) -> Result<(), String> {
    let f = std::fs::File::open(archive).map_err(|e| e.to_string())?;
    let name = archive.to_string_lossy().to_ascii_lowercase();
    let reader: Box<dyn Read> = if name.ends_with(".gz") || name.ends_with(".tgz") {
        Box::new(flate2::read::GzDecoder::new(f))
    } else {
        Box::new(f)
    };
    let mut a = tar::Archive::new(reader);
    a.set_preserve_permissions(true);
    for e in a.entries().map_err(|e| e.to_string())? {
        let mut e = e.map_err(|e| e.to_string())?;
        // unpack_in refuses paths that would escape `to`.
        if !e.unpack_in(to).map_err(|e| e.to_string())? {
            return Err(format!(
                "{} leaves the destination",
                e.path()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            ));
        }
    }
    Ok(())
}

/// `--chown=user[:group]` → numeric ids, names looked up in the image.
fn chown(src: &Source, spec: &str) -> Result<(Option<u32>, Option<u32>), String> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let lookup = |file: &str, name: &str, field: usize| -> Result<u32, String> {
        if let Ok(n) = name.parse() {
            return Ok(n);
        }
        let p = src.lookup(Path::new(file)).ok_or_else(|| {
            format!("--chown={spec}: no /{file} in the image to look up {name:?}")
        })?;
        let text = std::fs::read_to_string(p).map_err(|e| e.to_string())?;
        text.lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.first() == Some(&name))
                    .then(|| f.get(field).and_then(|v| v.parse().ok()))
                    .flatten()
            })
            .ok_or_else(|| format!("--chown={spec}: unknown user or group {name:?}"))
    };
    let uid = lookup("etc/passwd", u, 2)?;
    let gid = match g {
        Some(g) => lookup("etc/group", g, 2)?,
        None => {
            // The user's primary group.
            if u.parse::<u32>().is_ok() {
                uid
            } else {
                lookup("etc/passwd", u, 3)?
            }
        }
    };
    Ok((Some(uid), Some(gid)))
}
