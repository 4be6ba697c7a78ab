//! From Dockerfile text to logical lines: parser directives, comments and
//! line continuations, keeping the number of the line each one starts on.

/// A logical line: an instruction with its continuations joined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub line: usize,
    pub text: String,
}

/// Reads parser directives (`# escape=`, `# syntax=`, `# check=` at the very
/// top) and returns the escape character and the logical lines.
pub fn logical_lines(text: &str) -> (char, Vec<Line>) {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let raw: Vec<&str> = text.lines().collect();
    let mut escape = '\\';
    let mut start = 0;
    // Directives end at the first line that is not one.
    for l in &raw {
        let Some(body) = l.trim().strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = body.split_once('=') else {
            break;
        };
        let key = key.trim().to_ascii_lowercase();
        match key.as_str() {
            "escape" => {
                if let Some(c) = value.trim().chars().next() {
                    escape = c;
                }
            }
            "syntax" | "check" => {}
            _ => break,
        }
        start += 1;
    }
    let mut out = Vec::new();
    let mut cur: Option<Line> = None;
    for (i, l) in raw.iter().enumerate().skip(start) {
        let trimmed = l.trim_start();
        // Comment lines are dropped, also in the middle of a continuation.
        if trimmed.starts_with('#') {
            continue;
        }
        // Blank lines separate instructions, and inside a continuation they
        // are skipped (Docker accepts them there with a warning).
        if trimmed.trim_end().is_empty() {
            continue;
        }
        let body = l.trim_end();
        let (content, continues) = match body.strip_suffix(escape) {
            Some(c) => (c, true),
            None => (body, false),
        };
        match &mut cur {
            Some(line) => line.text.push_str(content),
            None => {
                cur = Some(Line {
                    line: i + 1,
                    text: content.trim_start().to_owned(),
                })
            }
        }
        if !continues {
            out.extend(cur.take());
        }
    }
    out.extend(cur);
    (escape, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuations_comments_and_directives() {
        let text = "# syntax=docker/dockerfile:1\n# escape=`\n\nFROM busybox\n# comment\nRUN echo a `\n  # inner comment\n  && echo b\n\nCMD [\"sh\"]\n";
        let (esc, lines) = logical_lines(text);
        assert_eq!(esc, '`');
        assert_eq!(
            lines,
            vec![
                Line {
                    line: 4,
                    text: "FROM busybox".into()
                },
                Line {
                    line: 6,
                    text: "RUN echo a   && echo b".into()
                },
                Line {
                    line: 10,
                    text: "CMD [\"sh\"]".into()
                },
            ]
        );
    }

    #[test]
    fn blank_lines_inside_a_continuation_are_skipped() {
        let (_, lines) = logical_lines("FROM x\nRUN a \\\n\n   && b\nCMD c\n");
        assert_eq!(lines[1].text, "RUN a    && b");
        assert_eq!(lines[2].text, "CMD c");
    }

    #[test]
    fn a_comment_first_ends_directives() {
        let (esc, _) = logical_lines("# hello\n# escape=`\nFROM x\n");
        assert_eq!(esc, '\\');
    }
}
