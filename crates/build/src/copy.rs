//! COPY and ADD: a layer made straight from the files they name (the build
//! context minus `.dockerignore`, another stage, or an image), cached by the
//! content of those files.

use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::BuildError;
use crate::builder::{Builder, Ctx, State};
use crate::cache::key;
use crate::dockerfile::words;
use crate::dockerfile::{CopySpec, Instruction};
use crate::layer::{self, Entry};
use crate::sources::{Found, Source};
use crate::steps::io;

/// What one COPY source names.
enum Item {
    /// A file or directory of the source.
    Found(Found),
    /// The content of a local archive ADD unpacked (a temporary directory).
    Unpacked(tempfile::TempDir),
}

impl Builder {
    pub(crate) fn copy(
        &self,
        ctx: &Ctx,
        st: &mut State,
        ins: &Instruction,
        spec: &CopySpec,
        add: bool,
    ) -> Result<bool, BuildError> {
        let err = |m: String| ctx.err(ins.line, m);
        let x =
            |s: &str, st: &State| words::expand(s, &st.vars, ctx.df.escape).map_err(|e| err(e.0));
        let from_layers: Option<Vec<PathBuf>> = match &spec.from {
            None => None,
            Some(f) => {
                let f = x(f, st)?;
                match ctx.df.stage_index(&f).and_then(|i| ctx.done.get(&i)) {
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
                dir: &ctx.opts.context,
                ignore: ctx.ignore,
            },
        };
        let dest_raw = x(&spec.dest, st)?;
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
        // Files from the context belong to root unless --chown says
        // otherwise; files from a stage or image keep their owner.
        let (uid, gid) = match &spec.chown {
            Some(c) => chown(&cur_src, &x(c, st)?).map_err(err)?,
            None if from_layers.is_none() => (Some(0), Some(0)),
            None => (None, None),
        };
        let mode = match &spec.chmod {
            Some(m) => Some(
                u32::from_str_radix(&x(m, st)?, 8)
                    .map_err(|_| err(format!("invalid --chmod {m:?}: expected an octal mode")))?,
            ),
            None => None,
        };
        let mut items: Vec<Item> = Vec::new();
        for s in &spec.sources {
            let s = x(s, st)?;
            if add && (s.starts_with("http://") || s.starts_with("https://")) {
                return Err(err(format!(
                    "ADD {s}: downloading URLs is not supported by berth; fetch the file into the build context"
                )));
            }
            let hits = src.expand(&s);
            if hits.is_empty() {
                let why = match (&from_layers, ctx.ignore.is_empty()) {
                    (Some(_), _) => format!(" in {}", spec.from.as_deref().unwrap_or("")),
                    (None, true) => " in the build context".into(),
                    (None, false) => " in the build context (or excluded by .dockerignore)".into(),
                };
                return Err(err(format!(
                    "{} {s}: no such file or directory{why}",
                    ins.keyword
                )));
            }
            for h in hits {
                if add && from_layers.is_none() && is_archive(&h.path) {
                    let t = tempfile::tempdir().map_err(io)?;
                    extract(&h.path, t.path())
                        .map_err(|e| err(format!("ADD {}: {e}", h.rel.display())))?;
                    items.push(Item::Unpacked(t));
                } else {
                    items.push(Item::Found(h));
                }
            }
        }
        let dest_is_dir = dest_raw.ends_with('/')
            || items.len() > 1
            || items.iter().any(|i| match i {
                Item::Unpacked(_) => true,
                Item::Found(f) => std::fs::symlink_metadata(&f.path).is_ok_and(|m| m.is_dir()),
            })
            || cur_src.lookup(&dest).is_some_and(|p| p.is_dir());
        let mut entries = if dest_is_dir {
            missing_parents(&cur_src, &dest.join("x"))
        } else {
            missing_parents(&cur_src, &dest)
        };
        for item in &items {
            match item {
                Item::Unpacked(t) => {
                    // The archive's own owners and modes stay (unless --chown/--chmod).
                    for (path, rel) in walk_plain(t.path()) {
                        entries.push(Entry {
                            dest: dest.join(rel),
                            source: Some(path),
                            mode,
                            uid: spec.chown.as_ref().and(uid),
                            gid: spec.chown.as_ref().and(gid),
                        });
                    }
                }
                Item::Found(f) if std::fs::symlink_metadata(&f.path).is_ok_and(|m| m.is_dir()) => {
                    // A directory's content goes into dest (not the directory itself).
                    for g in src.walk(&f.rel) {
                        let rel = g.rel.strip_prefix(&f.rel).unwrap_or(&g.rel).to_owned();
                        entries.push(Entry {
                            dest: dest.join(rel),
                            source: Some(g.path),
                            mode,
                            uid,
                            gid,
                        });
                    }
                }
                Item::Found(f) => {
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
        }
        let content = content_hash(&entries)?;
        let k = key(&[st.chain.as_bytes(), ins.text.as_bytes(), content.as_bytes()]);
        if self.cached(ctx, st, ins, &k) {
            return Ok(true);
        }
        let tar = layer::from_entries(&entries).map_err(io)?;
        let info = self.store.add_layer(&tar[..])?;
        self.cache.put(&k, &info.diff_id);
        self.push_layer(st, ins, info.diff_id, k);
        drop(items);
        Ok(false)
    }
}

/// What a COPY layer is made of: destinations, owners, modes and the
/// content of every file (not times: touching a file changes nothing).
fn content_hash(entries: &[Entry]) -> Result<String, BuildError> {
    use std::os::unix::fs::MetadataExt;
    let mut h = Sha256::new();
    for e in entries {
        h.update(e.dest.as_os_str().as_encoded_bytes());
        h.update(format!("|{:?}{:?}{:?}|", e.mode, e.uid, e.gid));
        let Some(s) = &e.source else { continue };
        let meta = std::fs::symlink_metadata(s).map_err(io)?;
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
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

/// Directory entries for the parents of `path` that do not exist yet.
pub(crate) fn missing_parents(src: &Source, path: &Path) -> Vec<Entry> {
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
        .map(|p| {
            let rel = p.strip_prefix(dir).unwrap_or(&p).to_owned();
            (p, rel)
        })
        .collect()
}

/// Whether ADD unpacks `p`: a tar, plain or gzip-compressed, recognised
/// by its content as Docker does (not by its name).
fn is_archive(p: &Path) -> bool {
    let Ok(mut f) = std::fs::File::open(p) else {
        return false;
    };
    if !f.metadata().is_ok_and(|m| m.is_file()) {
        return false;
    }
    let mut head = vec![0u8; 512];
    let Ok(n) = read_full(&mut f, &mut head) else {
        return false;
    };
    if n >= 2 && head[..2] == [0x1f, 0x8b] {
        // gzip: look for the tar header inside.
        let Ok(f) = std::fs::File::open(p) else {
            return false;
        };
        let mut inner = vec![0u8; 512];
        let mut gz = flate2::read::GzDecoder::new(f);
        return read_full(&mut gz, &mut inner).is_ok_and(|n| n == 512 && is_tar_header(&inner));
    }
    n == 512 && is_tar_header(&head)
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A ustar/GNU header: the magic at 257, or a valid checksum (old tars).
fn is_tar_header(h: &[u8]) -> bool {
    if &h[257..262] == b"ustar" {
        return true;
    }
    let field = String::from_utf8_lossy(&h[148..156]);
    let Ok(want) = u32::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
    else {
        return false;
    };
    let sum: u32 = h
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                *b as u32
            }
        })
        .sum();
    sum == want && h[0] != 0
}

/// ADD of a local archive: its content, unpacked (no entry may leave `to`).
fn extract(archive: &Path, to: &Path) -> Result<(), String> {
    let mut f = std::fs::File::open(archive).map_err(|e| e.to_string())?;
    let mut magic = [0u8; 2];
    let gz = read_full(&mut f, &mut magic).is_ok_and(|n| n == 2 && magic == [0x1f, 0x8b]);
    let f = std::fs::File::open(archive).map_err(|e| e.to_string())?;
    let reader: Box<dyn Read> = if gz {
        Box::new(flate2::read::GzDecoder::new(f))
    } else {
        Box::new(f)
    };
    let mut a = tar::Archive::new(reader);
    a.set_preserve_permissions(true);
    a.set_preserve_ownerships(true);
    for e in a.entries().map_err(|e| e.to_string())? {
        let mut e = e.map_err(|e| e.to_string())?;
        // unpack_in refuses paths that would escape `to`.
        let unpacked = e.unpack_in(to).map_err(|e| {
            // tar's message names the file; the cause says why.
            match std::error::Error::source(&e) {
                Some(c) => format!("{e}: {c}"),
                None => e.to_string(),
            }
        })?;
        if !unpacked {
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
        // The user's primary group (a bare number is its own group).
        None if u.parse::<u32>().is_ok() => uid,
        None => lookup("etc/passwd", u, 3)?,
    };
    Ok((Some(uid), Some(gid)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_are_known_by_content() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        b.append_data(&mut h, "x/y.txt", &b"hi"[..]).unwrap();
        let t = b.into_inner().unwrap();
        std::fs::write(d.join("data.bin"), &t).unwrap();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &t).unwrap();
        std::fs::write(d.join("a.tgz"), gz.finish().unwrap()).unwrap();
        std::fs::write(d.join("notes.tar"), b"not an archive").unwrap();
        assert!(is_archive(&d.join("data.bin")), "a tar whatever its name");
        assert!(is_archive(&d.join("a.tgz")));
        assert!(!is_archive(&d.join("notes.tar")), "a name is not enough");
        let out = d.join("out");
        std::fs::create_dir(&out).unwrap();
        extract(&d.join("a.tgz"), &out).unwrap();
        assert_eq!(std::fs::read(out.join("x/y.txt")).unwrap(), b"hi");
    }
}
