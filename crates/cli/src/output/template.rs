//! The part of Go's `text/template` that `--format` strings use in
//! practice: `{{.Field}}`, `{{json .}}`, `{{json .Field}}`, `\t`, and a
//! leading `table` that adds a header row of the field names.

use serde_json::Value;

/// One piece of a parsed format.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(String),
    Json(Option<String>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
    /// `table …`: print a header first.
    pub table: bool,
}

impl Template {
    pub fn parse(format: &str) -> Result<Template, String> {
        let (table, body) = match format.strip_prefix("table") {
            Some(rest) => (true, rest.trim_start()),
            None => (false, format),
        };
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let mut pieces = Vec::new();
        let mut rest = body.as_str();
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                pieces.push(Piece::Text(rest[..open].to_owned()));
            }
            let after = &rest[open + 2..];
            let close = after
                .find("}}")
                .ok_or_else(|| format!("template: unclosed action in {format:?}"))?;
            let action = after[..close].trim().trim_matches('-').trim();
            let piece = if action == "json ." {
                Piece::Json(None)
            } else if let Some(f) = action.strip_prefix("json .") {
                Piece::Json(Some(f.to_owned()))
            } else if let Some(f) = action.strip_prefix('.') {
                if f.is_empty() || !f.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(format!("template: unsupported action {{{{{action}}}}}"));
                }
                Piece::Field(f.to_owned())
            } else {
                return Err(format!("template: unsupported action {{{{{action}}}}}"));
            };
            pieces.push(piece);
            rest = &after[close + 2..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        Ok(Template { pieces, table })
    }

    /// The header row of a `table` format: field names in upper case.
    pub fn header(&self) -> String {
        self.pieces
            .iter()
            .map(|p| match p {
                Piece::Text(t) => t.clone(),
                Piece::Field(f) | Piece::Json(Some(f)) => upper(f),
                Piece::Json(None) => String::new(),
            })
            .collect()
    }

    /// `v` (an object) rendered; a missing field is an error, as in Go.
    pub fn render(&self, v: &Value) -> Result<String, String> {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(f) => {
                    let x = v
                        .get(f)
                        .ok_or_else(|| format!("template: can't evaluate field {f}"))?;
                    out.push_str(&plain(x));
                }
                Piece::Json(None) => out.push_str(&v.to_string()),
                Piece::Json(Some(f)) => {
                    let x = v
                        .get(f)
                        .ok_or_else(|| format!("template: can't evaluate field {f}"))?;
                    out.push_str(&x.to_string());
                }
            }
        }
        Ok(out)
    }
}

/// `RunningFor` → `RUNNING FOR`, `ID` → `ID`.
fn upper(field: &str) -> String {
    let mut out = String::new();
    let chars: Vec<char> = field.chars().collect();
    for (i, c) in chars.iter().enumerate() {
        let next_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
        let prev_lower = i > 0 && chars[i - 1].is_lowercase();
        if i > 0 && c.is_uppercase() && (prev_lower || next_lower && chars[i - 1].is_uppercase()) {
            out.push(' ');
        }
        out.extend(c.to_uppercase());
    }
    out
}

/// A value as Go prints it with `{{.X}}`.
fn plain(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "<nil>".into(),
        Value::Array(a) => format!("[{}]", a.iter().map(plain).collect::<Vec<_>>().join(" ")),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn fields_json_and_tables() {
        let v = json!({"Name": "app-web-1", "State": "running", "ExitCode": 0});
        let t = Template::parse("{{.Name}}\\t{{ .State }} {{.ExitCode}}").unwrap();
        assert_eq!(t.render(&v).unwrap(), "app-web-1\trunning 0");
        let t = Template::parse("{{json .}}").unwrap();
        assert_eq!(t.render(&v).unwrap(), v.to_string());
        let t = Template::parse("table {{.Name}}\\t{{.RunningFor}}").unwrap();
        assert!(t.table);
        assert_eq!(t.header(), "NAME\tRUNNING FOR");
        assert!(
            Template::parse("{{.Nope}}")
                .unwrap()
                .render(&v)
                .unwrap_err()
                .contains("Nope")
        );
        assert!(Template::parse("{{range .}}").is_err());
        assert_eq!(upper("ID"), "ID");
        assert_eq!(upper("LocalVolumes"), "LOCAL VOLUMES");
    }
}
