//! Output helpers that make `berth image` look like `docker image`: sizes,
//! "2 weeks ago", aligned tables and Go-template-like `--format` strings.

use serde_json::Value;

/// Docker's `HumanSizeWithPrecision(n, 3)`: decimal units, 3 significant digits.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", sig3(v), UNITS[i])
}

/// `%.3g` without trailing zeros: 4.26, 12.3, 123, 1.2, 1.
fn sig3(v: f64) -> String {
    let decimals = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        s
    }
}

/// go-units' `HumanDuration`.
pub fn human_duration(secs: i64) -> String {
    let secs = secs.max(0);
    let (m, h) = (secs / 60, secs / 3600);
    match () {
        _ if secs < 1 => "Less than a second".into(),
        _ if secs == 1 => "1 second".into(),
        _ if secs < 60 => format!("{secs} seconds"),
        _ if m == 1 => "About a minute".into(),
        _ if m < 60 => format!("{m} minutes"),
        _ if h == 1 => "About an hour".into(),
        _ if h < 48 => format!("{h} hours"),
        _ if h < 24 * 7 * 2 => format!("{} days", h / 24),
        _ if h < 24 * 30 * 2 => format!("{} weeks", h / 24 / 7),
        _ if h < 24 * 365 * 2 => format!("{} months", h / 24 / 30),
        _ => format!("{} years", h / 24 / 365),
    }
}

/// Columns padded like Go's tabwriter with padding 3.
pub fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < r.len() {
                line.push_str(&" ".repeat(widths[i] - cell.chars().count() + 3));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// A value printed the way Go's text/template prints it.
fn go_print(v: &Value) -> String {
    match v {
        Value::Null => "<no value>".into(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(go_print).collect::<Vec<_>>().join(" ")),
        Value::Object(o) => format!(
            "map[{}]",
            o.iter()
                .map(|(k, v)| format!("{k}:{}", go_print(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut cur = root;
    for part in path.split('.').filter(|p| !p.is_empty()) {
        cur = cur.get(part)?;
    }
    Some(cur)
}

/// Renders `{{.Field.Sub}}`, `{{json .Field}}`, `{{index .Map "key"}}` and
/// `{{.}}`; `\t` and `\n` escapes as Docker accepts them. Unknown actions
/// are an error naming them.
pub fn render(template: &str, value: &Value) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("}}")
            .ok_or_else(|| format!("template {template:?}: unclosed action"))?;
        let action = rest[start + 2..start + end].trim();
        let words: Vec<&str> = action.split_whitespace().collect();
        let field = |w: &str| -> Result<Value, String> {
            let p = w
                .strip_prefix('.')
                .ok_or_else(|| format!("template: unsupported argument {w:?}"))?;
            Ok(lookup(value, p).cloned().unwrap_or(Value::Null))
        };
        let text = match words.as_slice() {
            [w] => go_print(&field(w)?),
            ["json", w] => serde_json::to_string(&field(w)?).unwrap_or_default(),
            ["index", w, key] => {
                let key = key.trim_matches('"');
                go_print(field(w)?.get(key).unwrap_or(&Value::Null))
            }
            ["lower", w] => go_print(&field(w)?).to_lowercase(),
            ["upper", w] => go_print(&field(w)?).to_uppercase(),
            _ => return Err(format!("template: unsupported action {{{{{action}}}}}")),
        };
        out.push_str(&text);
        rest = &rest[start + end + 2..];
    }
    out.push_str(rest);
    Ok(out.replace("\\t", "\t").replace("\\n", "\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_and_durations_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(1_200_000_000), "1.2GB");
        assert_eq!(human_size(123_456), "123kB");
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(3 * 86400), "3 days");
        assert_eq!(human_duration(20 * 86400), "2 weeks");
        assert_eq!(human_duration(400 * 86400), "13 months");
    }

    #[test]
    fn templates() {
        let v = json!({"Repository": "redis", "Tag": "7", "Config": {"Cmd": ["sh", "-c"], "Labels": {"a.b": "c"}}});
        assert_eq!(render("{{.Repository}}:{{.Tag}}", &v).unwrap(), "redis:7");
        assert_eq!(
            render("{{json .Config.Cmd}}", &v).unwrap(),
            r#"["sh","-c"]"#
        );
        assert_eq!(render("{{.Config.Cmd}}", &v).unwrap(), "[sh -c]");
        assert_eq!(
            render(r#"{{index .Config.Labels "a.b"}}"#, &v).unwrap(),
            "c"
        );
        assert_eq!(render("{{.Nope}}", &v).unwrap(), "<no value>");
        assert!(render("{{range .X}}", &v).is_err());
        let t = table(&[
            vec!["A".into(), "BB".into()],
            vec!["ccc".into(), "d".into()],
        ]);
        assert_eq!(t, "A     BB\nccc   d\n");
    }
}
