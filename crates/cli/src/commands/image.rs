//! `berth image`: load, save, import, ls, inspect, rm, prune, pull, tag —
//! flags and output as `docker image` has them.
//!
//! `pull` reaches registries over HTTPS, except loopback ones (`localhost`,
//! 127.0.0.0/8) and those named with `--insecure-registry HOST[:PORT]`
//! (repeatable; also read from `BERTH_INSECURE_REGISTRIES`, comma separated),
//! which are reached over plain HTTP. Credentials come from
//! `~/.docker/config.json` (or `$DOCKER_CONFIG/config.json`).

mod format;
mod list;

use std::fs::File;
use std::io::{self, BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use berth_image::progress::{ConsoleProgress, ProgressMode};
use berth_image::reference::familiar;
use berth_image::{
    ImageStore, ImageUsers, ImportOptions, LoadOptions, Platform, PruneOptions, PullOptions,
    RemoveAction, RemoveOptions,
};

use crate::global::Global;

#[derive(clap::Subcommand, Debug)]
pub enum ImageCommand {
    /// Load images from a tar archive (OCI layout or docker save; gzip/zstd allowed)
    Load {
        /// Read from tar archive file, instead of STDIN
        #[arg(short, long, value_name = "FILE")]
        input: Option<PathBuf>,
        /// Suppress the load output
        #[arg(short, long)]
        quiet: bool,
        /// Load this platform of a multi-platform archive (default: the host's)
        #[arg(long)]
        platform: Option<String>,
    },
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save {
        /// Write to a file, instead of STDOUT
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
    },
    /// Import the contents from a tarball to create a filesystem image
    Import {
        /// Apply Dockerfile instruction to the created image
        #[arg(short, long = "change", value_name = "CHANGE")]
        changes: Vec<String>,
        /// Set commit message for imported image
        #[arg(short, long)]
        message: Option<String>,
        /// Set platform of the imported image
        #[arg(long)]
        platform: Option<String>,
        /// A tarball file, or - for STDIN
        #[arg(value_name = "file|-")]
        source: String,
        #[arg(value_name = "REPOSITORY[:TAG]")]
        reference: Option<String>,
    },
    /// List images
    #[command(visible_alias = "list")]
    Ls(list::LsArgs),
    /// Display detailed information on one or more images
    Inspect(list::InspectArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm {
        /// Force removal of the image
        #[arg(short, long)]
        force: bool,
        /// Accepted for compatibility (berth images have no parents)
        #[arg(long)]
        no_prune: bool,
        #[arg(required = true, value_name = "IMAGE")]
        images: Vec<String>,
    },
    /// Remove unused images
    Prune {
        /// Remove all unused images, not just dangling ones
        #[arg(short, long)]
        all: bool,
        /// Do not prompt for confirmation
        #[arg(short, long)]
        force: bool,
    },
    /// Download an image from a registry
    Pull {
        /// Set platform if server is multi-platform capable
        #[arg(long)]
        platform: Option<String>,
        /// Suppress verbose output
        #[arg(short, long)]
        quiet: bool,
        /// Registry (HOST[:PORT]) to reach over plain HTTP (repeatable)
        #[arg(long = "insecure-registry", value_name = "HOST")]
        insecure: Vec<String>,
        #[arg(value_name = "NAME[:TAG|@DIGEST]")]
        reference: String,
    },
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag {
        #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
        source: String,
        #[arg(value_name = "TARGET_IMAGE[:TAG]")]
        target: String,
    },
}

/// Which images containers use. The runtime owns container state; until it
/// exposes it, no image counts as used.
fn image_users(_g: &Global) -> impl ImageUsers {}

fn platform(p: &Option<String>) -> anyhow::Result<Option<Platform>> {
    p.as_deref()
        .map(Platform::parse)
        .transpose()
        .context("--platform")
}

pub fn run(g: &Global, cmd: ImageCommand) -> anyhow::Result<i32> {
    let root = g.root();
    let store = ImageStore::open(&root)
        .with_context(|| format!("image store in {}", root.path().display()))?;
    match cmd {
        ImageCommand::Load {
            input,
            quiet: _,
            platform: p,
        } => {
            let opts = LoadOptions {
                platform: platform(&p)?,
            };
            let loaded = match &input {
                Some(path) => {
                    let f = File::open(path).with_context(|| format!("open {}", path.display()))?;
                    store.load(f, &path.display().to_string(), &opts)?
                }
                None => {
                    if io::stdin().is_terminal() {
                        bail!("requested load from stdin, but stdin is empty");
                    }
                    store.load(io::stdin().lock(), "<stdin>", &opts)?
                }
            };
            let mut out = io::stdout().lock();
            for l in loaded {
                if l.names.is_empty() {
                    writeln!(out, "Loaded image ID: {}", l.id)?;
                }
                for n in &l.names {
                    writeln!(out, "Loaded image: {}", familiar(n))?;
                }
            }
            Ok(0)
        }
        ImageCommand::Save { output, images } => {
            let refs: Vec<&str> = images.iter().map(String::as_str).collect();
            match output {
                Some(path) => save_to_file(&store, &refs, &path)?,
                None => {
                    if io::stdout().is_terminal() {
                        bail!(
                            "cowardly refusing to save to a terminal. Use the -o flag or redirect"
                        );
                    }
                    store.save(&refs, io::BufWriter::new(io::stdout().lock()))?;
                }
            }
            Ok(0)
        }
        ImageCommand::Import {
            changes,
            message,
            platform: p,
            source,
            reference,
        } => {
            let opts = ImportOptions {
                reference,
                changes,
                message,
                platform: platform(&p)?,
                source: source.clone(),
            };
            let img = if source == "-" {
                store.import(io::stdin().lock(), opts)?
            } else if source.contains("://") {
                bail!(
                    "importing from a URL is not supported: download {source} and import the file"
                );
            } else {
                let f = File::open(&source).with_context(|| format!("open {source}"))?;
                store.import(f, opts)?
            };
            println!("{}", img.id);
            Ok(0)
        }
        ImageCommand::Ls(args) => list::ls(&store, args),
        ImageCommand::Inspect(args) => list::inspect(&store, args),
        ImageCommand::Rm { force, images, .. } => {
            let users = image_users(g);
            let mut code = 0;
            for name in images {
                match store.remove(&name, RemoveOptions { force }, &users) {
                    Ok(actions) => print_actions(&actions, false)?,
                    Err(e) => {
                        errln!("Error: {e}");
                        code = 1;
                    }
                }
            }
            Ok(code)
        }
        ImageCommand::Prune { all, force, .. } => {
            if !force && !confirm(all)? {
                return Ok(0);
            }
            let report = store.prune(PruneOptions { all }, &image_users(g))?;
            if !report.actions.is_empty() {
                println!("Deleted Images:");
                print_actions(&report.actions, true)?;
                println!();
            }
            println!(
                "Total reclaimed space: {}",
                format::human_size(report.reclaimed)
            );
            Ok(0)
        }
        ImageCommand::Pull {
            platform: p,
            quiet,
            insecure,
            reference,
        } => {
            let opts = PullOptions {
                platform: platform(&p)?,
                insecure_registries: insecure,
                ..Default::default()
            };
            let mode = if quiet {
                ProgressMode::Quiet
            } else {
                ProgressMode::parse(&g.progress).with_context(|| {
                    format!(
                        "--progress {:?}: expected auto, tty, plain, quiet or json",
                        g.progress
                    )
                })?
            };
            let progress = ConsoleProgress::new(mode);
            let result = store.pull(&reference, &opts, &progress);
            drop(progress);
            let _img = result?;
            let full = berth_image::Reference::parse(&reference)?;
            println!("{full}");
            Ok(0)
        }
        ImageCommand::Tag { source, target } => {
            store.tag(&source, &target)?;
            Ok(0)
        }
    }
}

/// Writes next to `path` and renames, so a failed save leaves no half archive.
fn save_to_file(store: &ImageStore, refs: &[&str], path: &Path) -> anyhow::Result<()> {
    let tmp = path.with_file_name(format!(
        ".{}.berth-tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default()
    ));
    let res = (|| {
        let f = File::create(&tmp).with_context(|| format!("create {}", tmp.display()))?;
        let mut w = io::BufWriter::new(f);
        store.save(refs, &mut w)?;
        w.into_inner().map_err(|e| e.into_error())?.sync_all()?;
        std::fs::rename(&tmp, path).with_context(|| format!("write {}", path.display()))?;
        Ok(())
    })();
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

fn print_actions(actions: &[RemoveAction], lower: bool) -> anyhow::Result<()> {
    let mut out = io::stdout().lock();
    for a in actions {
        let (verb, what) = match a {
            RemoveAction::Untagged(n) => ("Untagged", n),
            RemoveAction::Deleted(id) => ("Deleted", id),
        };
        let verb = if lower {
            verb.to_lowercase()
        } else {
            verb.to_owned()
        };
        writeln!(out, "{verb}: {what}")?;
    }
    Ok(())
}

fn confirm(all: bool) -> anyhow::Result<bool> {
    if all {
        println!(
            "WARNING! This will remove all images without at least one container associated to them."
        );
    } else {
        println!("WARNING! This will remove all dangling images.");
    }
    print!("Are you sure you want to continue? [y/N] ");
    io::stdout().flush()?;
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line)?;
    Ok(matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}
