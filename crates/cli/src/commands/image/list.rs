//! `berth image ls` and `berth image inspect`.

use std::io::Write;

use anyhow::Context;
use berth_image::reference::familiar;
use berth_image::{Image, ImageStore};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::format::{human_duration, human_size, render, table};

#[derive(clap::Args, Debug)]
pub struct LsArgs {
    /// Show all images (berth has no intermediate images; accepted for compatibility)
    #[arg(short, long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short, long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Show digests
    #[arg(long)]
    pub digests: bool,
    /// Format output: table, json, or a template like '{{.Repository}}:{{.Tag}}'
    #[arg(long)]
    pub format: Option<String>,
    /// Only images of this repository (and tag)
    #[arg(value_name = "REPOSITORY[:TAG]")]
    pub filter: Option<String>,
}

fn created(image: &Image) -> Option<OffsetDateTime> {
    image
        .created
        .as_deref()
        .and_then(|c| OffsetDateTime::parse(c, &Rfc3339).ok())
}

/// One `ls` row per repository tag (one `<none>` row for an untagged image),
/// with Docker's field names.
fn rows(images: &[Image], args: &LsArgs) -> Vec<Value> {
    let now = OffsetDateTime::now_utc();
    let (want_repo, want_tag) = match &args.filter {
        Some(f) => {
            let slash = f.rfind('/').map_or(0, |i| i + 1);
            match f[slash..].rfind(':') {
                Some(i) => (
                    Some(familiar(&f[..slash + i])),
                    Some(f[slash + i + 1..].to_owned()),
                ),
                None => (Some(familiar(f)), None),
            }
        }
        None => (None, None),
    };
    let mut out = Vec::new();
    for img in images {
        let id = if args.no_trunc {
            img.id.clone()
        } else {
            img.short_id().to_owned()
        };
        let created = created(img);
        let since = created.map_or("N/A".into(), |c| {
            format!("{} ago", human_duration((now - c).whole_seconds()))
        });
        let created_at = created.map_or(String::new(), |c| {
            let t = c.to_offset(time::UtcOffset::UTC);
            format!(
                "{:04}-{:02}-{:02} {:02}:{:02}:{:02} +0000 UTC",
                t.year(),
                u8::from(t.month()),
                t.day(),
                t.hour(),
                t.minute(),
                t.second()
            )
        });
        let mut pairs: Vec<(String, String)> = img
            .familiar_tags()
            .iter()
            .map(|t| {
                let slash = t.rfind('/').map_or(0, |i| i + 1);
                let i = t[slash..].rfind(':').map_or(t.len(), |i| slash + i);
                (t[..i].to_owned(), t[i + 1..].to_owned())
            })
            .collect();
        if pairs.is_empty() {
            pairs.push(("<none>".into(), "<none>".into()));
        }
        for (repo, tag) in pairs {
            if want_repo.as_ref().is_some_and(|r| *r != repo)
                || want_tag.as_ref().is_some_and(|t| *t != tag)
            {
                continue;
            }
            let digest = img
                .repo_digests
                .iter()
                .find(|d| familiar(d.split('@').next().unwrap_or("")) == repo)
                .and_then(|d| d.split('@').nth(1))
                .unwrap_or("<none>")
                .to_owned();
            out.push(json!({
                "Containers": "N/A",
                "CreatedAt": created_at,
                "CreatedSince": since,
                "Digest": digest,
                "ID": id,
                "Repository": repo,
                "SharedSize": "N/A",
                "Size": human_size(img.size),
                "Tag": tag,
                "UniqueSize": "N/A",
                "VirtualSize": human_size(img.size),
            }));
        }
    }
    out
}

pub fn ls(store: &ImageStore, args: LsArgs) -> anyhow::Result<i32> {
    let images = store.list()?;
    let rows = rows(&images, &args);
    let mut out = std::io::stdout().lock();
    if args.quiet {
        for r in &rows {
            writeln!(out, "{}", r["ID"].as_str().unwrap_or(""))?;
        }
        return Ok(0);
    }
    match args.format.as_deref() {
        Some("json") => {
            for r in &rows {
                writeln!(out, "{}", serde_json::to_string(r)?)?;
            }
        }
        Some(t) if t != "table" => {
            let (header, tpl) = match t.strip_prefix("table ") {
                Some(rest) => (true, rest),
                None => (false, t),
            };
            let mut lines: Vec<Vec<String>> = Vec::new();
            if header {
                let names = render(tpl, &json!({
                    "Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "CreatedSince": "CREATED",
                    "CreatedAt": "CREATED AT", "Size": "SIZE", "Digest": "DIGEST", "Containers": "CONTAINERS",
                    "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE", "VirtualSize": "VIRTUAL SIZE",
                }))
                .map_err(anyhow::Error::msg)?;
                lines.push(names.split('\t').map(str::to_owned).collect());
            }
            for r in &rows {
                let s = render(tpl, r).map_err(anyhow::Error::msg)?;
                lines.push(s.split('\t').map(str::to_owned).collect());
            }
            write!(out, "{}", table(&lines))?;
        }
        _ => {
            let mut lines = vec![];
            let mut head = vec!["REPOSITORY", "TAG"];
            if args.digests {
                head.push("DIGEST");
            }
            head.extend(["IMAGE ID", "CREATED", "SIZE"]);
            lines.push(head.into_iter().map(str::to_owned).collect::<Vec<_>>());
            for r in &rows {
                let s = |k: &str| r[k].as_str().unwrap_or("").to_owned();
                let mut line = vec![s("Repository"), s("Tag")];
                if args.digests {
                    line.push(s("Digest"));
                }
                line.extend([s("ID"), s("CreatedSince"), s("Size")]);
                lines.push(line);
            }
            write!(out, "{}", table(&lines))?;
        }
    }
    Ok(0)
}

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    /// Format output using a template ('{{.Id}}', '{{json .Config}}')
    #[arg(short, long)]
    pub format: Option<String>,
    /// Images (names or ids)
    #[arg(required = true, value_name = "IMAGE")]
    pub images: Vec<String>,
}

/// What `docker image inspect` shows for an image.
fn inspect_value(store: &ImageStore, img: &Image) -> anyhow::Result<Value> {
    let raw: Value = serde_json::from_slice(&store.config_bytes(img)?).context("image config")?;
    let dirs = store.layer_dirs(img)?;
    let upper = dirs
        .first()
        .map(|d| d.display().to_string())
        .unwrap_or_default();
    let lower: Vec<String> = dirs
        .iter()
        .skip(1)
        .map(|d| d.display().to_string())
        .collect();
    let mut v = json!({
        "Id": img.id,
        "RepoTags": img.familiar_tags(),
        "RepoDigests": img.repo_digests.iter().map(|d| familiar(d)).collect::<Vec<_>>(),
        "Parent": "",
        "Comment": raw.get("comment").cloned().unwrap_or(Value::String(String::new())),
        "Created": img.created.clone().unwrap_or_default(),
        "DockerVersion": raw.get("docker_version").cloned().unwrap_or(Value::String(String::new())),
        "Author": img.author.clone().unwrap_or_default(),
        "Config": raw.get("config").cloned().unwrap_or(Value::Null),
        "Architecture": img.architecture,
        "Os": img.os,
        "Size": img.size,
        "GraphDriver": {"Data": {"LowerDir": lower.join(":"), "UpperDir": upper}, "Name": "overlay"},
        "RootFS": {"Type": "layers", "Layers": img.layers.iter().map(|l| l.diff_id.clone()).collect::<Vec<_>>()},
        "Metadata": {"LastTagTime": img.last_tag_time.clone().unwrap_or_else(|| "0001-01-01T00:00:00Z".into())},
        "Descriptor": img.manifest,
    });
    if let Some(var) = &img.variant {
        v["Variant"] = json!(var);
    }
    Ok(v)
}

pub fn inspect(store: &ImageStore, args: InspectArgs) -> anyhow::Result<i32> {
    let mut values = Vec::new();
    let mut code = 0;
    for name in &args.images {
        match store.resolve(name)? {
            Some(img) => values.push(inspect_value(store, &img)?),
            None => {
                errln!("Error: No such image: {name}");
                code = 1;
            }
        }
    }
    let mut out = std::io::stdout().lock();
    match &args.format {
        Some(t) => {
            for v in &values {
                writeln!(out, "{}", render(t, v).map_err(anyhow::Error::msg)?)?;
            }
        }
        None => writeln!(out, "{}", serde_json::to_string_pretty(&values)?)?,
    }
    Ok(code)
}
