//! `extends`: a service inherits from another service of the same file or
//! of another file (whose relative paths are resolved against its own
//! directory). Chains are followed; cycles are an error naming the chain.

use std::path::{Path, PathBuf};

use crate::error::{Raw, SpecError};
use crate::loader::{Ctx, Env};
use crate::yaml::{Kind, Node};

/// Resolves `extends` for every service of one (canonical) file tree.
pub fn apply(ctx: &mut Ctx, root: &mut Node, dir: &Path, env: &Env) -> Result<(), SpecError> {
    let Some(services) = root.get("services").and_then(Node::as_map) else {
        return Ok(());
    };
    if !services.values().any(|s| s.get("extends").is_some()) {
        return Ok(());
    }
    let snapshot = services.clone();
    let names: Vec<String> = snapshot.keys().cloned().collect();
    let mut resolved = Vec::new();
    for name in names {
        let mut chain = Vec::new();
        resolved.push((
            name.clone(),
            resolve(ctx, &snapshot, &name, dir, env, None, &mut chain)?,
        ));
    }
    if let Some(m) = root
        .as_map_mut()
        .and_then(|m| m.get_mut("services"))
        .and_then(Node::as_map_mut)
    {
        for (name, svc) in resolved {
            m.insert(name, svc);
        }
    }
    Ok(())
}

const MAX_CHAIN: usize = 64;

/// The service `name` of `services` with its `extends` chain merged in.
fn resolve(
    ctx: &mut Ctx,
    services: &crate::yaml::Map,
    name: &str,
    dir: &Path,
    env: &Env,
    file: Option<&Path>,
    chain: &mut Vec<(Option<PathBuf>, String)>,
) -> Result<Node, SpecError> {
    let key = (file.map(Path::to_path_buf), name.to_owned());
    if chain.contains(&key) {
        let names: Vec<String> = chain
            .iter()
            .map(|(_, n)| n.clone())
            .chain([name.to_owned()])
            .collect();
        return Err(SpecError::msg(format!(
            "extends cycle detected: {}",
            names.join(" -> ")
        )));
    }
    let svc = services.get(name).cloned().ok_or_else(|| match file {
        Some(f) => SpecError::msg(format!(
            "cannot extend service {name:?}: not found in {}",
            f.display()
        )),
        None => SpecError::msg(format!("cannot extend service {name:?}: no such service")),
    })?;
    let Some(ext) = svc.get("extends").cloned() else {
        return Ok(svc);
    };
    // Real chains are a few links long; a bound keeps hostile files from
    // exhausting the stack.
    if chain.len() >= MAX_CHAIN {
        return Err(SpecError::msg(format!(
            "service {name:?}: extends chain longer than {MAX_CHAIN} services"
        )));
    }
    chain.push(key);
    let base_name = ext
        .get("service")
        .and_then(Node::scalar_text)
        .ok_or_else(|| {
            ctx.err(Raw::new(
                ext.pos,
                format!("services.{name}.extends: `service` is required"),
            ))
        })?;
    let base = match ext.get("file").and_then(Node::as_str) {
        Some(f) => {
            let path = crate::paths::clean(&dir.join(f));
            let (_, docs) = ctx.parse_file(&path)?;
            let mut tree = Node::map(Default::default(), ext.pos);
            for mut doc in docs {
                if let Some(m) = doc.as_map_mut() {
                    m.shift_remove("version");
                }
                ctx.interpolate(&mut doc, env)?;
                crate::canonical::canonical_file(&mut doc);
                crate::merge::merge(&mut tree, doc, &[]).map_err(|e| ctx.err(e))?;
            }
            let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
            let other = tree
                .get("services")
                .and_then(Node::as_map)
                .cloned()
                .unwrap_or_default();
            let mut base = resolve(ctx, &other, &base_name, &base_dir, env, Some(&path), chain)?;
            crate::paths::resolve_service(&mut base, &base_dir, ctx.home.as_deref());
            base
        }
        None => resolve(ctx, services, &base_name, dir, env, file, chain)?,
    };
    chain.pop();
    let mut own = svc;
    if let Some(m) = own.as_map_mut() {
        m.shift_remove("extends");
    }
    let mut merged = base;
    if let Kind::Map(m) = &mut merged.kind {
        m.shift_remove("extends");
    }
    merged.pos = own.pos;
    merged.key = own.key;
    crate::merge::merge(&mut merged, own, &["services", name]).map_err(|e| ctx.err(e))?;
    Ok(merged)
}
