//! Where COPY and ADD read from: the build context (minus `.dockerignore`),
//! or another stage's or image's layers (`COPY --from`).

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::ignore::DockerIgnore;

pub enum Source<'a> {
    Context {
        dir: &'a Path,
        ignore: &'a DockerIgnore,
    },
    /// Unpacked layers, topmost first.
    Layers(&'a [PathBuf]),
}

/// A file or directory found for a COPY source.
#[derive(Debug, Clone)]
pub struct Found {
    /// Where it is on the host.
    pub path: PathBuf,
    /// Its path relative to the source root.
    pub rel: PathBuf,
}

fn has_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

/// Glob match of one path segment (`*`, `?`, `[…]`).
fn seg_match(pat: &[char], s: &[char]) -> bool {
    match pat.first() {
        None => s.is_empty(),
        Some('*') => (0..=s.len()).any(|i| seg_match(&pat[1..], &s[i..])),
        Some('?') => !s.is_empty() && seg_match(&pat[1..], &s[1..]),
        Some('[') => {
            let Some(end) = pat.iter().position(|c| *c == ']') else {
                return false;
            };
            let class = &pat[1..end];
            let (neg, class) = if class.first() == Some(&'!') || class.first() == Some(&'^') {
                (true, &class[1..])
            } else {
                (false, class)
            };
            let Some(c) = s.first() else { return false };
            let mut hit = false;
            let mut i = 0;
            while i < class.len() {
                if i + 2 < class.len() && class[i + 1] == '-' {
                    hit |= class[i] <= *c && *c <= class[i + 2];
                    i += 3;
                } else {
                    hit |= class[i] == *c;
                    i += 1;
                }
            }
            hit != neg && seg_match(&pat[end + 1..], &s[1..])
        }
        Some(ch) => s.first() == Some(ch) && seg_match(&pat[1..], &s[1..]),
    }
}

fn is_whiteout(p: &Path) -> bool {
    fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_char_device() && m.rdev() == 0)
}

impl Source<'_> {
    /// The host path of `rel`, if it exists (and is not ignored/whited out).
    pub fn lookup(&self, rel: &Path) -> Option<PathBuf> {
        match self {
            Source::Context { dir, ignore } => {
                let s = rel.to_string_lossy();
                if !s.is_empty() && ignore.is_excluded(&s) {
                    return None;
                }
                let p = dir.join(rel);
                fs::symlink_metadata(&p).ok().map(|_| p)
            }
            Source::Layers(layers) => {
                for l in layers.iter() {
                    let p = l.join(rel);
                    if is_whiteout(&p) {
                        return None;
                    }
                    if fs::symlink_metadata(&p).is_ok() {
                        return Some(p);
                    }
                }
                None
            }
        }
    }

    /// Entries directly inside directory `rel` (merged across layers).
    pub fn list(&self, rel: &Path) -> Vec<String> {
        let mut names = BTreeMap::new();
        let dirs: Vec<PathBuf> = match self {
            Source::Context { dir, .. } => vec![dir.join(rel)],
            Source::Layers(layers) => layers.iter().map(|l| l.join(rel)).collect(),
        };
        for d in dirs.iter().rev() {
            if let Ok(rd) = fs::read_dir(d) {
                for e in rd.flatten() {
                    let n = e.file_name().to_string_lossy().into_owned();
                    if is_whiteout(&e.path()) {
                        names.remove(&n);
                    } else {
                        names.insert(n, ());
                    }
                }
            }
        }
        names
            .into_keys()
            .filter(|n| self.lookup(&rel.join(n)).is_some())
            .collect()
    }

    /// Expands one COPY source (globs allowed) into what it names.
    pub fn expand(&self, pattern: &str) -> Vec<Found> {
        let clean: PathBuf = Path::new(pattern.trim_start_matches('/'))
            .components()
            .filter(|c| matches!(c, std::path::Component::Normal(_)))
            .collect();
        if !has_glob(pattern) {
            return self
                .lookup(&clean)
                .map(|path| Found { path, rel: clean })
                .into_iter()
                .collect();
        }
        let segs: Vec<String> = clean
            .iter()
            .map(|s| s.to_string_lossy().into_owned())
            .collect();
        let mut cur = vec![PathBuf::new()];
        for seg in &segs {
            let pat: Vec<char> = seg.chars().collect();
            let mut next = Vec::new();
            for base in &cur {
                if has_glob(seg) {
                    for name in self.list(base) {
                        let n: Vec<char> = name.chars().collect();
                        if seg_match(&pat, &n) {
                            next.push(base.join(&name));
                        }
                    }
                } else if self.lookup(&base.join(seg)).is_some() {
                    next.push(base.join(seg));
                }
            }
            cur = next;
        }
        cur.into_iter()
            .filter_map(|rel| self.lookup(&rel).map(|path| Found { path, rel }))
            .collect()
    }

    /// Everything below directory `rel`, depth first (merged, filtered).
    pub fn walk(&self, rel: &Path) -> Vec<Found> {
        let mut out = Vec::new();
        for name in self.list(rel) {
            let r = rel.join(&name);
            if let Some(path) = self.lookup(&r) {
                let is_dir = fs::symlink_metadata(&path).is_ok_and(|m| m.is_dir());
                out.push(Found {
                    path,
                    rel: r.clone(),
                });
                if is_dir {
                    out.extend(self.walk(&r));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_and_dockerignore() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        fs::create_dir_all(d.join("src/sub")).unwrap();
        for f in [
            "a.py",
            "b.py",
            "c.txt",
            "src/x.py",
            "src/sub/y.py",
            "secret.key",
        ] {
            fs::write(d.join(f), f).unwrap();
        }
        let ig = DockerIgnore::parse("*.key\n", ".dockerignore").unwrap();
        let s = Source::Context {
            dir: d,
            ignore: &ig,
        };
        let mut names: Vec<String> = s
            .expand("*.py")
            .into_iter()
            .map(|f| f.rel.display().to_string())
            .collect();
        names.sort();
        assert_eq!(names, vec!["a.py", "b.py"]);
        assert!(
            s.expand("secret.key").is_empty(),
            "ignored files are not in the context"
        );
        assert_eq!(s.expand("src/*/y.py").len(), 1);
        let all: Vec<String> = s
            .walk(Path::new("src"))
            .into_iter()
            .map(|f| f.rel.display().to_string())
            .collect();
        assert_eq!(all, vec!["src/sub", "src/sub/y.py", "src/x.py"]);
        assert!(seg_match(
            &"f[0-9].?".chars().collect::<Vec<_>>(),
            &"f3.c".chars().collect::<Vec<_>>()
        ));
    }
}
