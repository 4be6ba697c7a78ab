//! `.env` files as Compose reads them: `KEY=VALUE`, `export`, comments,
//! single quotes (literal), double quotes (escapes and `${}`), multi-line
//! quoted values, inline ` #` comments on unquoted values, a bare `KEY` that
//! takes the value from the environment, and references to earlier lines.

use indexmap::IndexMap;

use crate::interpolate::{TemplateError, substitute};

/// Parses `src`. `lookup` resolves variables not defined earlier in the file
/// (Compose gives the process environment precedence over the file's own
/// earlier values). Errors carry the line number.
pub fn parse(
    src: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<IndexMap<String, String>, String> {
    let src = src.strip_prefix('\u{feff}').unwrap_or(src);
    let mut out: IndexMap<String, String> = IndexMap::new();
    let mut line = 1usize;
    let mut rest = src;
    loop {
        // Skip blank space and comment lines.
        let trimmed = rest.trim_start_matches(|c: char| {
            if c == '\n' {
                line += 1;
            }
            c.is_whitespace()
        });
        rest = trimmed;
        if rest.is_empty() {
            break;
        }
        if rest.starts_with('#') {
            rest = rest.find('\n').map_or("", |i| &rest[i..]);
            continue;
        }
        if let Some(r) = rest.strip_prefix("export")
            && r.starts_with([' ', '\t'])
        {
            rest = r.trim_start_matches([' ', '\t']);
        }
        // The key ends at `=`, `:` or the end of the line.
        let mut end = None;
        for (i, c) in rest.char_indices() {
            match c {
                '=' | ':' | '\n' => {
                    end = Some((i, c));
                    break;
                }
                ' ' | '\t' | '_' | '.' | '-' | '[' | ']' => {}
                c if c.is_alphanumeric() => {}
                c => {
                    let first = rest.lines().next().unwrap_or("");
                    return Err(format!(
                        "line {line}: unexpected character {c:?} in variable name {first:?}"
                    ));
                }
            }
        }
        let (key_end, sep) = end.unwrap_or((rest.len(), '\n'));
        let key = rest[..key_end].trim_end().to_owned();
        if key.contains(' ') || key.contains('\t') {
            return Err(format!("line {line}: key cannot contain a space"));
        }
        rest = if key_end < rest.len() {
            &rest[key_end + 1..]
        } else {
            ""
        };
        if sep == '\n' {
            // A bare KEY: inherit it from the environment if set.
            if let Some(v) = lookup(&key) {
                out.insert(key, v);
            }
            line += 1;
            continue;
        }
        rest = rest.trim_start_matches([' ', '\t', '\r']);
        let lookup_all = |k: &str| lookup(k).or_else(|| out.get(k).cloned());
        let value;
        match rest.as_bytes().first() {
            Some(&q @ (b'"' | b'\'')) => {
                let (raw, after, lines) = quoted(&rest[1..], q as char)
                    .ok_or_else(|| format!("line {line}: unterminated quoted value"))?;
                line += lines;
                value = if q == b'"' {
                    expand(&unescape(&raw), &lookup_all).map_err(|e| format!("line {line}: {e}"))?
                } else {
                    raw
                };
                // Anything after the closing quote up to the newline is ignored
                // (an inline comment).
                rest = after.find('\n').map_or("", |i| &after[i..]);
            }
            _ => {
                let (l, after) = rest.split_once('\n').unwrap_or((rest, ""));
                let l = l.split(" #").next().unwrap_or("").trim_end();
                value = expand(l, &lookup_all).map_err(|e| format!("line {line}: {e}"))?;
                line += 1;
                rest = after;
            }
        }
        out.insert(key, value);
    }
    Ok(out)
}

/// The `raw` env_file format: `KEY=VALUE` lines taken verbatim (no quotes,
/// escapes or interpolation); blank lines and `#` comments are skipped.
pub fn parse_raw(src: &str) -> IndexMap<String, String> {
    src.lines()
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
        .collect()
}

/// The content of a quoted value up to the closing quote: a backslash keeps
/// the next character (with the backslash, except before the quote itself).
fn quoted(s: &str, q: char) -> Option<(String, &str, usize)> {
    let mut out = String::new();
    let mut esc = false;
    let mut lines = 0;
    for (i, c) in s.char_indices() {
        if c == '\n' {
            lines += 1;
        }
        if c != q {
            if !esc && c == '\\' {
                esc = true;
                continue;
            }
            if esc {
                esc = false;
                out.push('\\');
            }
            out.push(c);
            continue;
        }
        if esc {
            esc = false;
            out.push(c);
            continue;
        }
        return Some((out, &s[i + 1..], lines));
    }
    None
}

/// Double-quote escapes: `\n`, `\t`, `\\`, `\"`, `\$` (kept as `$$` so the
/// expansion below leaves a literal `$`), …
fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.peek().copied() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('a') => out.push('\x07'),
            Some('b') => out.push('\x08'),
            Some('f') => out.push('\x0c'),
            Some('v') => out.push('\x0b'),
            Some('\\') => out.push('\\'),
            Some('"') => out.push('"'),
            Some('$') => out.push_str("$$"),
            _ => {
                out.push('\\');
                continue;
            }
        }
        chars.next();
    }
    out
}

fn expand(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    substitute(s, lookup, &mut |_| {}).map_err(|e| match e {
        TemplateError::Invalid => format!("invalid interpolation format in {s:?}"),
        TemplateError::TooLong => "the value expands to more than 16 MiB".to_owned(),
        TemplateError::Required { name, reason } => {
            format!("required variable {name} is missing a value: {reason}")
        }
    })
}

#[cfg(test)]
#[path = "dotenv_tests.rs"]
mod tests;
