//! Typed Dockerfile instructions. Arguments that Docker substitutes variables
//! in are kept raw (quotes and `$` intact) for the builder to expand.

use std::time::Duration;

use super::words;

/// Shell form (run through `SHELL`) or exec form (a JSON array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Shell(String),
    Exec(Vec<String>),
}

/// `ARG name[=default]` (the default is raw, expanded at build time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
}

/// Arguments of `COPY` and `ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopySpec {
    /// Raw sources and destination (expanded at build time).
    pub sources: Vec<String>,
    pub dest: String,
    /// Whether the exec (JSON) form was used: its words are not split again.
    pub json: bool,
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthcheckSpec {
    /// `["CMD", …]` or `["CMD-SHELL", cmd]`.
    pub test: Vec<String>,
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
    pub retries: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    From {
        image: String,
        name: Option<String>,
        platform: Option<String>,
    },
    Run {
        command: Command,
        network: Option<String>,
    },
    Cmd(Command),
    Entrypoint(Command),
    Shell(Vec<String>),
    /// Raw `key=value` words (or the legacy `ENV key value`, normalised).
    Env(Vec<(String, String)>),
    Arg(Vec<ArgDecl>),
    Copy(CopySpec),
    Add(CopySpec),
    Workdir(String),
    User(String),
    Expose(String),
    Label(Vec<(String, String)>),
    Volume(Vec<String>),
    /// `None` for `HEALTHCHECK NONE`.
    Healthcheck(Option<HealthcheckSpec>),
    StopSignal(String),
    /// The trigger instruction's text, run when the image is used as a base.
    Onbuild(String),
    Maintainer(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub line: usize,
    /// Upper-case keyword (`RUN`).
    pub keyword: String,
    /// The whole logical line, for cache keys and messages.
    pub text: String,
    pub kind: Kind,
}

/// `--name=value` flags at the start of an instruction's arguments.
fn take_flags(args: &str) -> (Vec<(String, Option<String>)>, &str) {
    let mut flags = Vec::new();
    let mut rest = args.trim_start();
    while let Some(after) = rest.strip_prefix("--") {
        let end = after.find(char::is_whitespace).unwrap_or(after.len());
        let flag = &after[..end];
        match flag.split_once('=') {
            Some((k, v)) => flags.push((k.to_ascii_lowercase(), Some(v.to_owned()))),
            None => flags.push((flag.to_ascii_lowercase(), None)),
        }
        rest = after[end..].trim_start();
    }
    (flags, rest)
}

fn json_array(args: &str) -> Option<Vec<String>> {
    let t = args.trim();
    if !t.starts_with('[') {
        return None;
    }
    serde_json::from_str::<Vec<String>>(t).ok()
}

fn command(args: &str) -> Command {
    match json_array(args) {
        Some(v) => Command::Exec(v),
        None => Command::Shell(args.trim().to_owned()),
    }
}

fn no_flags(keyword: &str, flags: &[(String, Option<String>)]) -> Result<(), String> {
    match flags.first() {
        Some((f, _)) => Err(format!("{keyword} does not accept the flag --{f}")),
        None => Ok(()),
    }
}

fn key_values(keyword: &str, args: &str, escape: char) -> Result<Vec<(String, String)>, String> {
    let ws = words::split(args, escape).map_err(|e| e.0)?;
    if ws.is_empty() {
        return Err(format!("{keyword} requires at least one argument"));
    }
    if !ws[0].contains('=') {
        // Legacy `ENV key value with spaces`.
        let (key, value) = args
            .trim()
            .split_once(char::is_whitespace)
            .ok_or_else(|| format!("{keyword} {} is missing a value", ws[0]))?;
        return Ok(vec![(key.to_owned(), value.trim().to_owned())]);
    }
    ws.iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
            _ => Err(format!("{keyword} expects key=value pairs, got {w:?}")),
        })
        .collect()
}

fn duration_flag(name: &str, v: &Option<String>) -> Result<Duration, String> {
    let v = v
        .as_deref()
        .ok_or_else(|| format!("--{name} needs a value"))?;
    parse_duration(v).ok_or_else(|| {
        format!("--{name}: invalid duration {v:?} (expected e.g. 30s, 1m30s, 500ms)")
    })
}

/// Go-style durations: `1h2m3s`, `500ms`, `1.5s`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = 0f64;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    while !rest.is_empty() {
        let num_end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        let n: f64 = rest[..num_end].parse().ok()?;
        rest = &rest[num_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total += n * scale;
        rest = &rest[unit_end..];
    }
    Some(Duration::from_secs_f64(total))
}

fn copy_spec(
    keyword: &str,
    flags: &[(String, Option<String>)],
    args: &str,
    escape: char,
) -> Result<CopySpec, String> {
    if args.contains("<<") && args.split_whitespace().any(|w| w.starts_with("<<")) {
        return Err(format!(
            "{keyword} with a heredoc (<<) is not supported by berth"
        ));
    }
    let mut spec = CopySpec {
        sources: vec![],
        dest: String::new(),
        json: false,
        from: None,
        chown: None,
        chmod: None,
    };
    for (k, v) in flags {
        match (k.as_str(), v) {
            ("from", Some(v)) if keyword == "COPY" => spec.from = Some(v.clone()),
            ("chown", Some(v)) => spec.chown = Some(v.clone()),
            ("chmod", Some(v)) => spec.chmod = Some(v.clone()),
            ("link", _) => {} // only changes how BuildKit caches; same result here
            _ => return Err(format!("{keyword} does not support the flag --{k}")),
        }
    }
    let mut ws = match json_array(args) {
        Some(v) => {
            spec.json = true;
            v
        }
        None => words::split(args, escape).map_err(|e| e.0)?,
    };
    if ws.len() < 2 {
        return Err(format!(
            "{keyword} requires at least two arguments: source(s) and destination"
        ));
    }
    spec.dest = ws.pop().unwrap();
    spec.sources = ws;
    Ok(spec)
}

impl Instruction {
    /// Parses one logical line.
    pub fn parse(text: &str, line: usize, escape: char) -> Result<Instruction, String> {
        let (kw, args) = match text.split_once(char::is_whitespace) {
            Some((k, a)) => (k, a.trim()),
            None => (text, ""),
        };
        let keyword = kw.to_ascii_uppercase();
        let (flags, rest) = take_flags(args);
        let need = |what: &str| -> Result<(), String> {
            if rest.is_empty() {
                Err(format!("{keyword} requires {what}"))
            } else {
                Ok(())
            }
        };
        let kind = match keyword.as_str() {
            "FROM" => {
                let platform = flags
                    .iter()
                    .find(|(k, _)| k == "platform")
                    .and_then(|(_, v)| v.clone());
                if let Some((k, _)) = flags.iter().find(|(k, _)| k != "platform") {
                    return Err(format!("FROM does not support the flag --{k}"));
                }
                let ws: Vec<&str> = rest.split_whitespace().collect();
                match ws.as_slice() {
                    [image] => Kind::From {
                        image: image.to_string(),
                        name: None,
                        platform,
                    },
                    [image, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => Kind::From {
                        image: image.to_string(),
                        name: Some(name.to_string()),
                        platform,
                    },
                    _ => return Err("FROM requires an image and optionally `AS name`".into()),
                }
            }
            "RUN" => {
                let mut network = None;
                for (k, v) in &flags {
                    match (k.as_str(), v) {
                        ("network", Some(v))
                            if ["default", "none", "host"].contains(&v.as_str()) =>
                        {
                            network = Some(v.clone())
                        }
                        ("mount", _) => return Err("RUN --mount is not supported by berth".into()),
                        _ => {
                            return Err(format!(
                                "RUN does not support the flag --{k}{}",
                                v.as_ref().map(|v| format!("={v}")).unwrap_or_default()
                            ));
                        }
                    }
                }
                need("a command")?;
                if rest.split_whitespace().any(|w| w.starts_with("<<"))
                    && json_array(rest).is_none()
                {
                    return Err("RUN with a heredoc (<<) is not supported by berth".into());
                }
                Kind::Run {
                    command: command(rest),
                    network,
                }
            }
            "CMD" | "ENTRYPOINT" => {
                no_flags(&keyword, &flags)?;
                need("a command")?;
                if keyword == "CMD" {
                    Kind::Cmd(command(rest))
                } else {
                    Kind::Entrypoint(command(rest))
                }
            }
            "SHELL" => {
                no_flags(&keyword, &flags)?;
                match json_array(rest) {
                    Some(v) if !v.is_empty() => Kind::Shell(v),
                    _ => return Err("SHELL requires the arguments to be in JSON form, e.g. SHELL [\"/bin/sh\", \"-c\"]".into()),
                }
            }
            "ENV" => Kind::Env(key_values("ENV", rest, escape)?),
            "LABEL" => Kind::Label(key_values("LABEL", rest, escape)?),
            "ARG" => {
                need("a name")?;
                let decls = words::split(rest, escape)
                    .map_err(|e| e.0)?
                    .into_iter()
                    .map(|w| match w.split_once('=') {
                        Some((n, d)) => ArgDecl {
                            name: n.to_owned(),
                            default: Some(d.to_owned()),
                        },
                        None => ArgDecl {
                            name: w,
                            default: None,
                        },
                    })
                    .collect();
                Kind::Arg(decls)
            }
            "COPY" | "ADD" => {
                let spec = copy_spec(&keyword, &flags, rest, escape)?;
                if keyword == "COPY" {
                    Kind::Copy(spec)
                } else {
                    Kind::Add(spec)
                }
            }
            "WORKDIR" => {
                need("a path")?;
                Kind::Workdir(rest.to_owned())
            }
            "USER" => {
                need("a user")?;
                Kind::User(rest.to_owned())
            }
            "EXPOSE" => {
                need("at least one port")?;
                Kind::Expose(rest.to_owned())
            }
            "VOLUME" => {
                need("at least one path")?;
                match json_array(rest) {
                    Some(v) => Kind::Volume(v),
                    None => Kind::Volume(words::split(rest, escape).map_err(|e| e.0)?),
                }
            }
            "STOPSIGNAL" => {
                need("a signal")?;
                Kind::StopSignal(rest.to_owned())
            }
            "HEALTHCHECK" => Kind::Healthcheck(healthcheck(&flags, rest)?),
            "ONBUILD" => {
                need("an instruction")?;
                let inner = Instruction::parse(rest, line, escape)?;
                if matches!(inner.keyword.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                    return Err(format!(
                        "{} is not allowed as an ONBUILD trigger",
                        inner.keyword
                    ));
                }
                Kind::Onbuild(rest.to_owned())
            }
            "MAINTAINER" => Kind::Maintainer(rest.to_owned()),
            other => return Err(format!("unknown instruction: {other}")),
        };
        Ok(Instruction {
            line,
            keyword,
            text: text.to_owned(),
            kind,
        })
    }
}

fn healthcheck(
    flags: &[(String, Option<String>)],
    rest: &str,
) -> Result<Option<HealthcheckSpec>, String> {
    let (kind, cmd) = match rest.split_once(char::is_whitespace) {
        Some((k, c)) => (k.to_ascii_uppercase(), c.trim()),
        None => (rest.to_ascii_uppercase(), ""),
    };
    if kind == "NONE" {
        if !flags.is_empty() || !cmd.is_empty() {
            return Err("HEALTHCHECK NONE takes no other arguments".into());
        }
        return Ok(None);
    }
    if kind != "CMD" {
        return Err("HEALTHCHECK requires either NONE or CMD followed by a command".into());
    }
    if cmd.is_empty() {
        return Err("HEALTHCHECK CMD requires a command".into());
    }
    let test = match command(cmd) {
        Command::Exec(v) => std::iter::once("CMD".to_owned()).chain(v).collect(),
        Command::Shell(s) => vec!["CMD-SHELL".to_owned(), s],
    };
    let mut spec = HealthcheckSpec {
        test,
        interval: None,
        timeout: None,
        start_period: None,
        start_interval: None,
        retries: None,
    };
    for (k, v) in flags {
        match k.as_str() {
            "interval" => spec.interval = Some(duration_flag(k, v)?),
            "timeout" => spec.timeout = Some(duration_flag(k, v)?),
            "start-period" => spec.start_period = Some(duration_flag(k, v)?),
            "start-interval" => spec.start_interval = Some(duration_flag(k, v)?),
            "retries" => {
                let n = v
                    .as_deref()
                    .and_then(|v| v.parse().ok())
                    .ok_or("--retries needs a whole number")?;
                spec.retries = Some(n);
            }
            _ => return Err(format!("HEALTHCHECK does not support the flag --{k}")),
        }
    }
    Ok(Some(spec))
}
