//! Resolving a path inside a container's root without ever leaving it: every
//! symlink met on the way is followed *relative to the root*, and `..` stops
//! at the root, so a hostile image cannot make berth mount or write over a
//! host path (the classic `/etc -> /` symlink trick).

use std::path::{Component, Path, PathBuf};

use crate::error::{Result, RuntimeError};

const MAX_LINKS: usize = 40;

/// `root` + `path` with symlinks resolved inside `root`. Components that do
/// not exist yet are appended as they are.
pub fn secure_join(root: &Path, path: &str) -> Result<PathBuf> {
    let mut todo: Vec<String> = components(path);
    todo.reverse();
    let mut done: Vec<String> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop() {
        if c == ".." {
            done.pop();
            continue;
        }
        let candidate = root.join(done.iter().collect::<PathBuf>()).join(&c);
        match std::fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > MAX_LINKS {
                    return Err(RuntimeError::Other(format!(
                        "{path}: too many levels of symbolic links"
                    )));
                }
                let target =
                    std::fs::read_link(&candidate).map_err(|e| RuntimeError::io(&candidate, e))?;
                let target = target.to_string_lossy().into_owned();
                if target.starts_with('/') {
                    done.clear();
                }
                let mut more = components(&target);
                more.reverse();
                todo.extend(more);
            }
            _ => done.push(c),
        }
    }
    Ok(root.join(done.iter().collect::<PathBuf>()))
}

fn components(p: &str) -> Vec<String> {
    Path::new(p)
        .components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn symlinks_stay_inside_the_root() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path();
        std::fs::create_dir_all(root.join("usr/lib")).unwrap();
        symlink("/", root.join("escape")).unwrap();
        symlink("../../..", root.join("usr/lib/up")).unwrap();
        symlink("usr/lib", root.join("lib")).unwrap();
        assert_eq!(
            secure_join(root, "/escape/etc/passwd").unwrap(),
            root.join("etc/passwd")
        );
        assert_eq!(
            secure_join(root, "/usr/lib/up/etc").unwrap(),
            root.join("etc")
        );
        assert_eq!(secure_join(root, "/lib/x").unwrap(), root.join("usr/lib/x"));
        assert_eq!(secure_join(root, "/../../x").unwrap(), root.join("x"));
        symlink("loop", root.join("loop")).unwrap();
        assert!(secure_join(root, "/loop").is_err());
    }
}
