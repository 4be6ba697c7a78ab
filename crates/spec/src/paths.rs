//! Resolving relative paths in a tree against a directory (the project
//! directory, or the directory of an extended or included file).

use std::path::{Component, Path, PathBuf};

use crate::yaml::{Kind, Node};

/// Lexically cleans a path like Go's `filepath.Clean`.
pub fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                if !out.pop() && !p.is_absolute() {
                    out.push("..");
                }
            }
            Component::CurDir => {}
            c => out.push(c.as_os_str()),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// `dir/p` cleaned, `p` unchanged when absolute, `~` expanded with `home`.
pub fn resolve(dir: &Path, p: &str, home: Option<&str>) -> String {
    if let (Some(h), Some(rest)) = (home, p.strip_prefix('~'))
        && (rest.is_empty() || rest.starts_with('/'))
    {
        return clean(&PathBuf::from(format!("{h}{rest}")))
            .to_string_lossy()
            .into_owned();
    }
    if p.starts_with('/') || is_windows_abs(p) {
        return p.to_owned();
    }
    clean(&dir.join(p)).to_string_lossy().into_owned()
}

/// `C:\\…` or `C:/…`: Compose keeps Windows absolute paths as they are.
fn is_windows_abs(p: &str) -> bool {
    let b = p.as_bytes();
    b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && (b[2] == b'\\' || b[2] == b'/')
}

fn is_remote(s: &str) -> bool {
    s.contains("://") || s.starts_with("git@") || s.starts_with("github.com/")
}

fn set_path(n: &mut Node, dir: &Path, home: Option<&str>) {
    if let Kind::Str(s) = &mut n.kind
        && !s.is_empty()
    {
        *s = resolve(dir, s, home);
    }
}

/// Makes every relative path in one service node absolute.
pub fn resolve_service(svc: &mut Node, dir: &Path, home: Option<&str>) {
    let Some(m) = svc.as_map_mut() else { return };
    // The default context is the directory of the file (or included app) the
    // service comes from, so it is set here, once that scope is merged.
    if let Some(b) = m.get_mut("build") {
        let pos = b.pos;
        if let Some(bm) = b.as_map_mut() {
            bm.entry("context".to_owned())
                .or_insert_with(|| Node::str(".", pos));
        }
    }
    if let Some(b) = m.get_mut("build").and_then(Node::as_map_mut) {
        if let Some(c) = b.get_mut("context")
            && c.as_str().is_some_and(|s| !is_remote(s))
        {
            set_path(c, dir, home);
        }
        if let Some(ac) = b.get_mut("additional_contexts").and_then(Node::as_map_mut) {
            for v in ac.values_mut() {
                if v.as_str().is_some_and(|s| {
                    !is_remote(s) && !s.starts_with("docker-image:") && !s.starts_with("service:")
                }) {
                    set_path(v, dir, home);
                }
            }
        }
    }
    for key in ["env_file", "label_file"] {
        if let Some(Kind::Seq(items)) = m.get_mut(key).map(|n| &mut n.kind) {
            for it in items {
                match &mut it.kind {
                    Kind::Str(_) => set_path(it, dir, home),
                    Kind::Map(em) => {
                        if let Some(p) = em.get_mut("path") {
                            set_path(p, dir, home);
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    if let Some(f) = m
        .get_mut("extends")
        .and_then(Node::as_map_mut)
        .and_then(|e| e.get_mut("file"))
    {
        set_path(f, dir, home);
    }
    if let Some(Kind::Seq(items)) = m.get_mut("volumes").map(|n| &mut n.kind) {
        for it in items {
            let Some(vm) = it.as_map_mut() else { continue };
            if vm.get("type").and_then(Node::as_str) != Some("bind") {
                continue;
            }
            if let Some(src) = vm.get_mut("source") {
                set_path(src, dir, home);
            }
        }
    }
    if let Some(Kind::Seq(items)) = m
        .get_mut("develop")
        .and_then(Node::as_map_mut)
        .and_then(|d| d.get_mut("watch"))
        .map(|n| &mut n.kind)
    {
        for it in items {
            if let Some(p) = it.as_map_mut().and_then(|w| w.get_mut("path")) {
                set_path(p, dir, home);
            }
        }
    }
}

/// Makes every relative path in a whole (canonical) file tree absolute.
pub fn resolve_tree(root: &mut Node, dir: &Path, home: Option<&str>) {
    let Some(m) = root.as_map_mut() else { return };
    if let Some(services) = m.get_mut("services").and_then(Node::as_map_mut) {
        for svc in services.values_mut() {
            resolve_service(svc, dir, home);
        }
    }
    for section in ["secrets", "configs"] {
        if let Some(sec) = m.get_mut(section).and_then(Node::as_map_mut) {
            for item in sec.values_mut() {
                if let Some(f) = item.as_map_mut().and_then(|im| im.get_mut("file")) {
                    set_path(f, dir, home);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_like_compose() {
        let d = Path::new("/p/q");
        assert_eq!(resolve(d, "./a/../b", None), "/p/q/b");
        assert_eq!(resolve(d, "../x", None), "/p/x");
        assert_eq!(resolve(d, "/abs/keep/", None), "/abs/keep/");
        assert_eq!(resolve(d, "~/data", Some("/home/u")), "/home/u/data");
        assert_eq!(resolve(d, "~", Some("/home/u")), "/home/u");
        assert_eq!(resolve(d, "~user/x", Some("/home/u")), "/p/q/~user/x");
        assert_eq!(resolve(d, "C:\\data", None), "C:\\data");
        assert_eq!(clean(Path::new("a/./b/../c")), PathBuf::from("a/c"));
    }
}
