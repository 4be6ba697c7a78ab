//! Profiles: a service with `profiles` is enabled only when one of them is
//! active (`--profile`, `COMPOSE_PROFILES`, `*` for all) or when it is named
//! on the command line (which also enables what it depends on).

use crate::error::{Raw, SpecError};
use crate::loader::Ctx;
use crate::model::Project;
use crate::yaml::Node;

pub fn apply(ctx: &mut Ctx, p: &mut Project, tree: &Node) -> Result<(), SpecError> {
    let all = p.profiles.iter().any(|x| x == "*");
    let mut enabled: Vec<String> = p
        .services
        .values()
        .filter(|s| {
            s.profiles.is_empty() || all || s.profiles.iter().any(|x| p.profiles.contains(x))
        })
        .map(|s| s.name.clone())
        .collect();
    // Named services and everything they need.
    let mut todo: Vec<String> = ctx.opts.services.clone();
    while let Some(name) = todo.pop() {
        let Some(s) = p.services.get(&name) else {
            return Err(SpecError::msg(format!("no such service: {name}")));
        };
        if !enabled.contains(&name) {
            enabled.push(name.clone());
        }
        for d in s.depends_on.keys() {
            if !enabled.contains(d) && !todo.contains(d) {
                todo.push(d.clone());
            }
        }
    }
    let names: Vec<String> = p.services.keys().cloned().collect();
    for n in names {
        if !enabled.contains(&n)
            && let Some(s) = p.services.shift_remove(&n)
        {
            p.disabled_services.insert(n, s);
        }
    }
    // A dependency on a disabled service: an error when required, else dropped.
    for s in p.services.values_mut() {
        let mut drop = Vec::new();
        for (d, dep) in &s.depends_on {
            if let Some(off) = p.disabled_services.get(d) {
                if dep.required {
                    let pos = tree
                        .get("services")
                        .and_then(|x| x.get(&s.name))
                        .and_then(|x| x.get("depends_on"))
                        .map(|x| x.key);
                    let msg = format!(
                        "service {d:?} is required by {:?} but is disabled; enable it with one of the profiles {:?}",
                        s.name, off.profiles
                    );
                    return Err(match pos {
                        Some(pos) => ctx.err(Raw::new(pos, msg)),
                        None => SpecError::msg(msg),
                    });
                }
                drop.push(d.clone());
            }
        }
        for d in drop {
            s.depends_on.remove(&d);
        }
    }
    Ok(())
}
