//! The files a project is loaded from, so that editing them reloads it: the
//! Compose files, the files they `include` (found by reading the YAML, since
//! the loader does not report them), the `.env` / `--env-file` files and the
//! services' `env_file`s. Files that do not exist yet are listed too: creating
//! `.env` changes the project as much as editing it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use berth_spec::Project;

/// `include:` entries of one parsed file: their paths, relative to `dir`.
fn includes(text: &str, dir: &Path) -> Vec<PathBuf> {
    let Ok(docs) = berth_spec::yaml::parse_documents(text, 0) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for doc in docs {
        let Some(items) = doc.get("include").and_then(|n| n.as_seq()) else {
            continue;
        };
        for it in items {
            if let Some(p) = it.as_str() {
                out.push(dir.join(p));
                continue;
            }
            match it.get("path") {
                Some(p) if p.as_str().is_some() => out.push(dir.join(p.as_str().unwrap())),
                Some(p) => {
                    for q in p.as_seq().into_iter().flatten() {
                        if let Some(q) = q.as_str() {
                            out.push(dir.join(q));
                        }
                    }
                }
                None => {}
            }
            let base = it
                .get("project_directory")
                .and_then(|d| d.as_str())
                .map(|d| dir.join(d));
            match it.get("env_file") {
                Some(e) if e.as_str().is_some() => out.push(dir.join(e.as_str().unwrap())),
                Some(e) => {
                    for q in e.as_seq().into_iter().flatten() {
                        if let Some(q) = q.as_str() {
                            out.push(dir.join(q));
                        }
                    }
                }
                None => {
                    if let Some(b) = base {
                        out.push(b.join(".env"));
                    }
                }
            }
        }
    }
    out
}

/// Every file `project` was (or would be) loaded from. `env_files` are the
/// `--env-file` flags, made absolute by the caller.
pub fn project_sources(project: &Project, env_files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut todo: Vec<PathBuf> = project
        .compose_files
        .iter()
        .filter(|f| f.as_path() != Path::new("-"))
        .cloned()
        .collect();
    while let Some(f) = todo.pop() {
        if !out.insert(f.clone()) {
            continue;
        }
        let dir = f.parent().map(Path::to_path_buf).unwrap_or_default();
        if let Ok(text) = std::fs::read_to_string(&f) {
            for inc in includes(&text, &dir) {
                // An included app's default `.env` sits next to its file.
                if let Some(d) = inc.parent() {
                    out.insert(d.join(".env"));
                }
                todo.push(inc);
            }
        }
    }
    if env_files.is_empty() {
        out.insert(project.working_dir.join(".env"));
    } else {
        out.extend(env_files.iter().cloned());
    }
    for svc in project.services.values() {
        for e in &svc.env_file {
            out.insert(PathBuf::from(&e.path));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_included_files_in_every_form() {
        let yaml = "include:\n  - sub/a.yaml\n  - path: [b.yaml, c.yaml]\n    env_file: b.env\n  - path: d/d.yaml\n    project_directory: d\nservices: {}\n";
        let got = includes(yaml, Path::new("/p"));
        let want: Vec<PathBuf> = [
            "/p/sub/a.yaml",
            "/p/b.yaml",
            "/p/c.yaml",
            "/p/b.env",
            "/p/d/d.yaml",
            "/p/d/.env",
        ]
        .iter()
        .map(PathBuf::from)
        .collect();
        assert_eq!(got, want);
        assert!(includes("services: [", Path::new("/p")).is_empty());
    }
}
