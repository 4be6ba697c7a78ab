//! `include`: other Compose applications loaded as their own model (their
//! own project directory and `.env`), then copied into this one; the
//! including file's definitions win. Include cycles are an error.

use std::path::{Path, PathBuf};

use crate::convert::{FromNode, StringList};
use crate::error::{Raw, SpecError};
use crate::loader::{Ctx, Env};
use crate::yaml::{Kind, Node};

struct Entry {
    paths: Vec<String>,
    project_directory: Option<String>,
    env_files: Vec<String>,
}

fn entries(ctx: &Ctx, n: &Node) -> Result<Vec<Entry>, SpecError> {
    let items = match &n.kind {
        Kind::Seq(v) => v.clone(),
        Kind::Null => Vec::new(),
        _ => return Err(ctx.err(crate::convert::expected(n, "include", "a list"))),
    };
    let mut out = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let p = format!("include[{i}]");
        let e = match &it.kind {
            Kind::Str(s) => Entry {
                paths: vec![s.clone()],
                project_directory: None,
                env_files: vec![],
            },
            Kind::Map(_) => {
                let m =
                    crate::convert::obj(it, &p, &["path", "project_directory", "env_file"], true)
                        .map_err(|e| ctx.err(e))?;
                let f = |k: &str| -> Result<Vec<String>, SpecError> {
                    Ok(crate::convert::field::<StringList>(m, it, &p, k)
                        .map_err(|e| ctx.err(e))?
                        .0)
                };
                let paths = f("path")?;
                if paths.is_empty() {
                    return Err(ctx.err(Raw::new(it.pos, format!("{p}: `path` is required"))));
                }
                Entry {
                    paths,
                    project_directory: m
                        .get("project_directory")
                        .map(|d| String::from_node(d, &format!("{p}.project_directory")))
                        .transpose()
                        .map_err(|e| ctx.err(e))?,
                    env_files: f("env_file")?,
                }
            }
            _ => return Err(ctx.err(crate::convert::expected(it, &p, "a path or a mapping"))),
        };
        out.push(e);
    }
    Ok(out)
}

/// Loads every `include` entry of `root` and merges it under `root`.
pub fn apply(
    ctx: &mut Ctx,
    root: &mut Node,
    dir: &Path,
    env: &Env,
    stack: &[PathBuf],
) -> Result<(), SpecError> {
    let Some(inc) = root.as_map_mut().and_then(|m| m.shift_remove("include")) else {
        return Ok(());
    };
    let mut base = Node::map(Default::default(), root.pos);
    for entry in entries(ctx, &inc)? {
        let files: Vec<PathBuf> = entry
            .paths
            .iter()
            .map(|p| crate::paths::clean(&dir.join(p)))
            .collect();
        for f in &files {
            if stack.contains(f) {
                let mut chain: Vec<String> =
                    stack.iter().map(|p| p.display().to_string()).collect();
                chain.push(f.display().to_string());
                return Err(SpecError::msg(format!(
                    "include cycle detected: {}",
                    chain.join(" -> ")
                )));
            }
        }
        let project_dir = match &entry.project_directory {
            Some(d) => crate::paths::clean(&dir.join(d)),
            None => files[0]
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| dir.to_owned()),
        };
        // The included app's own env file(s), under the including env.
        let env_files: Vec<PathBuf> = if entry.env_files.is_empty() {
            vec![project_dir.join(".env")]
        } else {
            entry
                .env_files
                .iter()
                .map(|f| crate::paths::clean(&dir.join(f)))
                .collect()
        };
        let mut inc_env = Env::new();
        for f in env_files {
            if !f.is_file() {
                if !entry.env_files.is_empty() {
                    return Err(SpecError::msg(format!(
                        "couldn't find env file: {}",
                        f.display()
                    )));
                }
                continue;
            }
            let text = ctx.read(&f)?;
            let lookup = |k: &str| env.get(k).or_else(|| inc_env.get(k)).cloned();
            let vars = crate::dotenv::parse(&text, &lookup)
                .map_err(|e| SpecError::msg(format!("failed to read {}: {e}", f.display())))?;
            inc_env.extend(vars);
        }
        for (k, v) in env {
            inc_env.insert(k.clone(), v.clone());
        }
        let mut inc_tree = Node::map(Default::default(), inc.pos);
        for f in &files {
            let (_, docs) = ctx.parse_file(f)?;
            let mut sub_stack = stack.to_vec();
            sub_stack.push(f.clone());
            let fdir = f.parent().map(Path::to_path_buf).unwrap_or_default();
            for node in docs {
                let node = ctx.process_file(node, &fdir, &inc_env, &sub_stack)?;
                crate::merge::merge(&mut inc_tree, node, &[]).map_err(|e| ctx.err(e))?;
            }
        }
        if let Some(m) = inc_tree.as_map_mut() {
            m.shift_remove("name");
        }
        crate::paths::resolve_tree(&mut inc_tree, &project_dir, ctx.home.as_deref());
        crate::merge::merge(&mut base, inc_tree, &[]).map_err(|e| ctx.err(e))?;
    }
    let own = std::mem::replace(root, Node::null(inc.pos));
    // A resource defined both here and in an included app must be the same
    // (Compose refuses to guess which one wins).
    for section in ["services", "networks", "volumes", "secrets", "configs"] {
        let (Some(mine), Some(theirs)) = (
            own.get(section).and_then(Node::as_map),
            base.get(section).and_then(Node::as_map),
        ) else {
            continue;
        };
        for (k, v) in mine {
            if theirs.get(k).is_some_and(|t| t.to_json() != v.to_json()) {
                return Err(ctx.err(Raw::new(
                    v.key,
                    format!("{section}.{k} conflicts with imported resource"),
                )));
            }
        }
    }
    crate::merge::merge(&mut base, own, &[]).map_err(|e| ctx.err(e))?;
    *root = base;
    Ok(())
}
