//! `${VAR}` interpolation, as Compose does it: `$VAR`, `${VAR}`,
//! `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`,
//! `${VAR:+alt}`, `${VAR+alt}`, nesting in the operand, `$$` for a literal `$`.
//! Only values are interpolated, never keys.

use crate::error::{Raw, RawResult};
use crate::yaml::{Kind, Node};

/// Why a template could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplateError {
    /// `${` without a valid name or closing brace.
    Invalid,
    /// `${VAR:?msg}` / `${VAR?msg}` on a missing variable.
    Required { name: String, reason: String },
    /// The result would exceed [`MAX_LEN`] (for example `.env` lines that
    /// each double the previous value).
    TooLong,
}

/// The longest value interpolation produces: 16 MiB.
pub const MAX_LEN: usize = 16 << 20;

/// Expands `s`. `lookup` returns a variable's value; `unset` is told about
/// each variable that was used without a value and without a default.
pub fn substitute(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut dyn FnMut(&str),
) -> Result<String, TemplateError> {
    substitute_at(s, lookup, unset, 0)
}

/// Nesting deeper than this (`${A:-${B:-…}}`) is refused rather than
/// risking the stack on hostile input.
const MAX_DEPTH: usize = 64;

fn substitute_at(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut dyn FnMut(&str),
    depth: usize,
) -> Result<String, TemplateError> {
    if depth > MAX_DEPTH {
        return Err(TemplateError::Invalid);
    }
    if !s.contains('$') {
        return Ok(s.to_owned());
    }
    let b = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut lit = 0;
    while i < b.len() {
        if b[i] != b'$' {
            i += 1;
            continue;
        }
        out.push_str(&s[lit..i]);
        match b.get(i + 1) {
            Some(b'$') => {
                out.push('$');
                i += 2;
            }
            Some(b'{') => {
                let close = closing_brace(b, i + 2).ok_or(TemplateError::Invalid)?;
                out.push_str(&braced(&s[i + 2..close], lookup, unset, depth)?);
                i = close + 1;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                let end = name_end(b, i + 1);
                let name = &s[i + 1..end];
                match lookup(name) {
                    Some(v) => out.push_str(&v),
                    None => unset(name),
                }
                i = end;
            }
            // A `$` not followed by a name stays as it is.
            _ => {
                out.push('$');
                i += 1;
            }
        }
        lit = i;
        if out.len() > MAX_LEN {
            return Err(TemplateError::TooLong);
        }
    }
    out.push_str(&s[lit..]);
    if out.len() > MAX_LEN {
        return Err(TemplateError::TooLong);
    }
    Ok(out)
}

fn name_end(b: &[u8], start: usize) -> usize {
    let mut j = start;
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
        j += 1;
    }
    j
}

/// The index of the `}` closing a `${` whose content starts at `start`.
fn closing_brace(b: &[u8], start: usize) -> Option<usize> {
    let mut depth = 1;
    let mut j = start;
    while j < b.len() {
        match b[j] {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(j);
                }
            }
            _ => {}
        }
        j += 1;
    }
    None
}

fn braced(
    inner: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut dyn FnMut(&str),
    depth: usize,
) -> Result<String, TemplateError> {
    let sub = |s: &str, unset: &mut dyn FnMut(&str)| substitute_at(s, lookup, unset, depth + 1);
    let b = inner.as_bytes();
    if b.is_empty() || !(b[0].is_ascii_alphabetic() || b[0] == b'_') {
        return Err(TemplateError::Invalid);
    }
    let end = name_end(b, 0);
    let name = &inner[..end];
    let rest = &inner[end..];
    let (op, operand) = if let Some(r) = rest.strip_prefix(":-") {
        (":-", r)
    } else if let Some(r) = rest.strip_prefix(":?") {
        (":?", r)
    } else if let Some(r) = rest.strip_prefix(":+") {
        (":+", r)
    } else if let Some(r) = rest.strip_prefix('-') {
        ("-", r)
    } else if let Some(r) = rest.strip_prefix('?') {
        ("?", r)
    } else if let Some(r) = rest.strip_prefix('+') {
        ("+", r)
    } else if rest.is_empty() {
        ("", "")
    } else {
        return Err(TemplateError::Invalid);
    };
    let value = lookup(name);
    let set_nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
    match op {
        "" => Ok(value.unwrap_or_else(|| {
            unset(name);
            String::new()
        })),
        ":-" if !set_nonempty => sub(operand, unset),
        "-" if value.is_none() => sub(operand, unset),
        ":+" if set_nonempty => sub(operand, unset),
        "+" if value.is_some() => sub(operand, unset),
        ":?" if !set_nonempty => Err(required(name, operand, lookup, unset, depth)),
        "?" if value.is_none() => Err(required(name, operand, lookup, unset, depth)),
        _ => Ok(value.unwrap_or_default()),
    }
}

fn required(
    name: &str,
    msg: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut dyn FnMut(&str),
    depth: usize,
) -> TemplateError {
    let reason = substitute_at(msg, lookup, unset, depth + 1).unwrap_or_else(|_| msg.to_owned());
    TemplateError::Required {
        name: name.to_owned(),
        reason,
    }
}

/// Interpolates every string value below `node` (keys are left alone).
/// `path` names the node in messages.
pub fn interpolate_node(
    node: &mut Node,
    path: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    unset: &mut dyn FnMut(&str, &Node),
) -> RawResult<()> {
    match &mut node.kind {
        Kind::Str(s) if s.contains('$') => {
            let mut missing = Vec::new();
            let r = substitute(s, lookup, &mut |n| missing.push(n.to_owned()));
            match r {
                Ok(v) => *s = v,
                Err(TemplateError::Invalid) => {
                    return Err(Raw::new(
                        node.pos,
                        format!(
                            "{path}: invalid interpolation format in \"{s}\": you may need to escape any $ with another $"
                        ),
                    ));
                }
                Err(TemplateError::TooLong) => {
                    return Err(Raw::new(
                        node.pos,
                        format!("{path}: the interpolated value is longer than 16 MiB"),
                    ));
                }
                Err(TemplateError::Required { name, reason }) => {
                    let mut msg = format!("{path}: required variable {name} is missing a value");
                    if !reason.is_empty() {
                        msg.push_str(": ");
                        msg.push_str(&reason);
                    }
                    return Err(Raw::new(node.pos, msg));
                }
            }
            for m in missing {
                unset(&m, node);
            }
        }
        Kind::Seq(items) => {
            for (i, it) in items.iter_mut().enumerate() {
                interpolate_node(it, &format!("{path}[{i}]"), lookup, unset)?;
            }
        }
        Kind::Map(m) => {
            for (k, v) in m.iter_mut() {
                interpolate_node(v, &crate::convert::join(path, k), lookup, unset)?;
            }
        }
        _ => {}
    }
    Ok(())
}

#[cfg(test)]
#[path = "interpolate_tests.rs"]
mod tests;
