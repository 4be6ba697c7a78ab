//! Docker's word processing for Dockerfile arguments: splitting on blanks while
//! honouring quotes, then expanding `$VAR` / `${VAR…}` and removing quotes.
//! Used for every instruction Docker substitutes variables in (FROM, COPY,
//! ADD, ENV, ARG, LABEL, EXPOSE, USER, WORKDIR, VOLUME, STOPSIGNAL).

use std::collections::HashMap;

/// Variables visible to substitution (build args and ENV, later ones winning).
pub type Vars = HashMap<String, String>;

/// Why a word could not be processed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WordError(pub String);

/// Splits `raw` into words on unquoted blanks. Quotes and escapes are kept
/// (they are removed by [`expand`]), so `A="x y" B=z` gives `A="x y"`, `B=z`.
pub fn split(raw: &str, escape: char) -> Result<Vec<String>, WordError> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut chars = raw.chars();
    let mut in_word = false;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                cur.push(c);
                if c == escape && q == '"' {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == q {
                    quote = None;
                }
            }
            None if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            None => {
                in_word = true;
                cur.push(c);
                if c == escape {
                    if let Some(n) = chars.next() {
                        cur.push(n);
                    }
                } else if c == '"' || c == '\'' {
                    quote = Some(c);
                }
            }
        }
    }
    if let Some(q) = quote {
        return Err(WordError(format!("unterminated quote {q} in: {raw}")));
    }
    if in_word {
        words.push(cur);
    }
    Ok(words)
}

/// Expands variables in one word and removes its quotes and escapes.
/// Single quotes keep everything literal; inside double quotes the escape
/// character only escapes `"`, `$` and itself.
pub fn expand(word: &str, vars: &Vars, escape: char) -> Result<String, WordError> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == escape {
            if let Some(&n) = chars.get(i + 1) {
                out.push(n);
                i += 2;
            } else {
                out.push(c);
                i += 1;
            }
        } else if c == '\'' {
            let end = find(&chars, i + 1, '\'')
                .ok_or_else(|| WordError(format!("unterminated quote in: {word}")))?;
            out.extend(&chars[i + 1..end]);
            i = end + 1;
        } else if c == '"' {
            i += 1;
            loop {
                let Some(&d) = chars.get(i) else {
                    return Err(WordError(format!("unterminated quote in: {word}")));
                };
                if d == '"' {
                    i += 1;
                    break;
                }
                if d == escape && matches!(chars.get(i + 1), Some('"') | Some('$')) {
                    out.push(chars[i + 1]);
                    i += 2;
                } else if d == escape && chars.get(i + 1) == Some(&escape) {
                    out.push(escape);
                    i += 2;
                } else if d == '$' {
                    i = variable(&chars, i, vars, escape, &mut out)?;
                } else {
                    out.push(d);
                    i += 1;
                }
            }
        } else if c == '$' {
            i = variable(&chars, i, vars, escape, &mut out)?;
        } else {
            out.push(c);
            i += 1;
        }
    }
    Ok(out)
}

/// Splits then expands every word.
pub fn expand_all(raw: &str, vars: &Vars, escape: char) -> Result<Vec<String>, WordError> {
    split(raw, escape)?
        .iter()
        .map(|w| expand(w, vars, escape))
        .collect()
}

fn find(chars: &[char], from: usize, c: char) -> Option<usize> {
    (from..chars.len()).find(|&j| chars[j] == c)
}

/// Expands the variable reference starting at `chars[i] == '$'`; returns the
/// index after it.
fn variable(
    chars: &[char],
    i: usize,
    vars: &Vars,
    escape: char,
    out: &mut String,
) -> Result<usize, WordError> {
    let is_name = |c: char| c.is_ascii_alphanumeric() || c == '_';
    match chars.get(i + 1) {
        Some('{') => {
            let mut depth = 1;
            let mut j = i + 2;
            while j < chars.len() {
                match chars[j] {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
            if j >= chars.len() {
                return Err(WordError(format!(
                    "missing '}}' in: {}",
                    chars.iter().collect::<String>()
                )));
            }
            let inner: String = chars[i + 2..j].iter().collect();
            out.push_str(&braced(&inner, vars, escape)?);
            Ok(j + 1)
        }
        Some(&c) if is_name(c) => {
            let mut j = i + 1;
            while j < chars.len() && is_name(chars[j]) {
                j += 1;
            }
            let name: String = chars[i + 1..j].iter().collect();
            out.push_str(vars.get(&name).map(String::as_str).unwrap_or(""));
            Ok(j)
        }
        _ => {
            out.push('$');
            Ok(i + 1)
        }
    }
}

/// `${NAME}`, `${NAME:-word}`, `${NAME-word}`, `${NAME:+word}`, `${NAME+word}`,
/// `${NAME:?msg}`, `${NAME?msg}`.
fn braced(inner: &str, vars: &Vars, escape: char) -> Result<String, WordError> {
    let name_len = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    let (name, rest) = inner.split_at(name_len);
    if name.is_empty() {
        return Err(WordError(format!("bad substitution: ${{{inner}}}")));
    }
    let value = vars.get(name);
    let (colon, rest) = match rest.strip_prefix(':') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() && !colon {
        return Ok(value.cloned().unwrap_or_default());
    }
    let set = match value {
        Some(v) => !colon || !v.is_empty(),
        None => false,
    };
    let mut it = rest.chars();
    let op = it
        .next()
        .ok_or_else(|| WordError(format!("bad substitution: ${{{inner}}}")))?;
    let word = expand(it.as_str(), vars, escape)?;
    match op {
        '-' => Ok(if set {
            value.cloned().unwrap_or_default()
        } else {
            word
        }),
        '+' => Ok(if set { word } else { String::new() }),
        '?' if set => Ok(value.cloned().unwrap_or_default()),
        '?' => Err(WordError(if word.is_empty() {
            format!("{name}: is not allowed to be empty")
        } else {
            format!("{name}: {word}")
        })),
        _ => Err(WordError(format!(
            "unsupported modifier ({op}) in substitution: ${{{inner}}}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> Vars {
        [("A", "one"), ("EMPTY", ""), ("P", "/app")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn x(w: &str) -> String {
        expand(w, &vars(), '\\').unwrap()
    }

    #[test]
    fn plain_and_braced() {
        assert_eq!(x("$A"), "one");
        assert_eq!(x("${A}x"), "onex");
        assert_eq!(x("$P/bin"), "/app/bin");
        assert_eq!(x("$NOPE-"), "-");
        assert_eq!(x("cost $"), "cost $");
    }

    #[test]
    fn modifiers() {
        assert_eq!(x("${NOPE:-def}"), "def");
        assert_eq!(x("${EMPTY:-def}"), "def");
        assert_eq!(x("${EMPTY-def}"), "");
        assert_eq!(x("${A:+alt}"), "alt");
        assert_eq!(x("${NOPE:+alt}"), "");
        assert_eq!(x("${NOPE:-${A}}"), "one");
        assert_eq!(
            expand("${NOPE:?must be set}", &vars(), '\\').unwrap_err().0,
            "NOPE: must be set"
        );
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(x("'$A'"), "$A");
        assert_eq!(x("\"$A b\""), "one b");
        assert_eq!(x("\\$A"), "$A");
        assert_eq!(x("\"a\\\"b\""), "a\"b");
        assert_eq!(expand("`$A", &vars(), '`').unwrap(), "$A");
    }

    #[test]
    fn splitting_keeps_quoted_blanks() {
        assert_eq!(
            split("A=\"x y\"  B=z\\ w", '\\').unwrap(),
            vec!["A=\"x y\"", "B=z\\ w"]
        );
        assert_eq!(
            expand_all("A=\"x y\" B=z\\ w", &vars(), '\\').unwrap(),
            vec!["A=x y", "B=z w"]
        );
        assert!(split("\"open", '\\').is_err());
    }
}
