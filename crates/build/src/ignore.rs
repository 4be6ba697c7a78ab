//! `.dockerignore`: which files of a build context are left out.
//!
//! Rules (as Docker applies them): one pattern per line, `#` comments, blank
//! lines ignored; `!` re-includes; patterns are relative to the context root
//! (a leading `/` is dropped) and matched with `*` and `?` inside one path
//! segment, `**` across any number of segments, `[…]` classes, `\` escapes;
//! a pattern that matches a directory also matches everything below it; the
//! last matching pattern decides.

use regex::Regex;

use crate::BuildError;

#[derive(Debug, Clone)]
struct Pattern {
    regex: Regex,
    exclude: bool,
}

/// A compiled `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

impl DockerIgnore {
    /// Parses the content of a `.dockerignore`; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<DockerIgnore, BuildError> {
        let mut patterns = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (exclude, pat) = match line.strip_prefix('!') {
                Some(p) => (false, p.trim()),
                None => (true, line),
            };
            let pat = clean(pat);
            if pat.is_empty() {
                continue;
            }
            let regex = Regex::new(&to_regex(&pat)).map_err(|e| BuildError::Ignore {
                file: file.to_owned(),
                line: i + 1,
                message: format!("invalid pattern {pat:?}: {e}"),
            })?;
            patterns.push(Pattern { regex, exclude });
        }
        Ok(DockerIgnore { patterns })
    }

    /// Whether `path` (relative to the context root, `/`-separated) is left out.
    pub fn is_excluded(&self, path: &str) -> bool {
        let path = clean(path);
        let mut excluded = false;
        for p in &self.patterns {
            if matches_or_parent(&p.regex, &path) {
                excluded = p.exclude;
            }
        }
        excluded
    }

    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }
}

fn matches_or_parent(re: &Regex, path: &str) -> bool {
    if re.is_match(path) {
        return true;
    }
    let mut end = path.len();
    while let Some(i) = path[..end].rfind('/') {
        if re.is_match(&path[..i]) {
            return true;
        }
        end = i;
    }
    false
}

/// Like Go's `filepath.Clean` for relative patterns: no leading `/` or `./`,
/// no empty or `.` segments, `..` resolved where possible.
fn clean(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for seg in p.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|s| *s != "..") {
                    out.pop();
                } else {
                    out.push("..");
                }
            }
            s => out.push(s),
        }
    }
    out.join("/")
}

fn to_regex(pat: &str) -> String {
    let chars: Vec<char> = pat.chars().collect();
    let mut re = String::from("^");
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '*' if chars.get(i + 1) == Some(&'*') => {
                i += 1;
                if chars.get(i + 1) == Some(&'/') {
                    re.push_str("(?:.*/)?");
                    i += 1;
                } else {
                    re.push_str(".*");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '[' => {
                let close = (i + 1..chars.len()).find(|&j| chars[j] == ']' && j > i + 1);
                match close {
                    Some(j) => {
                        let mut class: String = chars[i + 1..j].iter().collect();
                        if let Some(rest) = class.strip_prefix('!') {
                            class = format!("^{rest}");
                        }
                        re.push('[');
                        re.push_str(&class.replace('\\', "\\\\"));
                        re.push(']');
                        i = j;
                    }
                    None => re.push_str("\\["),
                }
            }
            '\\' => {
                i += 1;
                if let Some(&n) = chars.get(i) {
                    re.push_str(&regex::escape(&n.to_string()));
                }
            }
            c => re.push_str(&regex::escape(&c.to_string())),
        }
        i += 1;
    }
    re.push('$');
    re
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(text: &str) -> DockerIgnore {
        DockerIgnore::parse(text, ".dockerignore").unwrap()
    }

    #[test]
    fn simple_names_and_directories() {
        let i = ig("# comment\nnode_modules\n/build\n*.log\n");
        assert!(i.is_excluded("node_modules"));
        assert!(i.is_excluded("node_modules/a/b.js"));
        assert!(i.is_excluded("build/out"));
        assert!(i.is_excluded("app.log"));
        assert!(!i.is_excluded("src/app.log"), "* does not cross /");
        assert!(!i.is_excluded("src/main.rs"));
    }

    #[test]
    fn double_star_and_exceptions() {
        let i = ig("**/*.tmp\n*.md\n!README.md\n");
        assert!(i.is_excluded("a.tmp"));
        assert!(i.is_excluded("x/y/z.tmp"));
        assert!(i.is_excluded("CHANGES.md"));
        assert!(!i.is_excluded("README.md"));
        let i = ig("docs/**\n!docs/keep.txt\n");
        assert!(i.is_excluded("docs/a/b"));
        assert!(!i.is_excluded("docs/keep.txt"));
    }

    #[test]
    fn classes_and_question_marks() {
        let i = ig("file[0-9].txt\nx?\n");
        assert!(i.is_excluded("file3.txt"));
        assert!(!i.is_excluded("filea.txt"));
        assert!(i.is_excluded("xy"));
        assert!(!i.is_excluded("xyz"));
    }
}
