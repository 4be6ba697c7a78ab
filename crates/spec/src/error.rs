//! The crate's one error type, and the source positions errors point at.

use std::fmt;
use std::path::PathBuf;

/// A place in a Compose file: which file (an index into the loader's file
/// table), 1-based line and column. `line == 0` means "unknown" (for example a
/// value that came from the command line, not from a file).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Pos {
    pub file: u32,
    pub line: u32,
    pub col: u32,
}

impl Pos {
    pub const UNKNOWN: Pos = Pos {
        file: 0,
        line: 0,
        col: 0,
    };
}

/// A position resolved to a file name, ready to print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub file: PathBuf,
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}", self.file.display())
        } else {
            write!(f, "{}:{}:{}", self.file.display(), self.line, self.col)
        }
    }
}

/// Everything that can go wrong while loading a Compose project.
///
/// Messages say where (file, line, column, or the flag) and what was expected;
/// `Invalid` and `Yaml` carry a [`Location`] when the problem is in a file.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// A file could not be read.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid YAML; `message` starts with `LINE:COL: `.
    #[error("{}:{message}", path.display())]
    Yaml { path: PathBuf, message: String },
    /// A value is present but wrong.
    #[error("{}{message}", loc_prefix(.location))]
    Invalid {
        location: Option<Location>,
        message: String,
    },
    /// No Compose file was found.
    #[error("no configuration file provided: not found")]
    NotFound,
}

fn loc_prefix(l: &Option<Location>) -> String {
    match l {
        Some(l) => format!("{l}: "),
        None => String::new(),
    }
}

impl SpecError {
    /// An error that is not tied to a place in a file (a flag, an env var).
    pub fn msg(message: impl Into<String>) -> Self {
        SpecError::Invalid {
            location: None,
            message: message.into(),
        }
    }

    /// The location this error points at, if any.
    pub fn location(&self) -> Option<&Location> {
        match self {
            SpecError::Invalid { location, .. } => location.as_ref(),
            _ => None,
        }
    }
}

/// An error raised deep in the pipeline, before file indices are resolved to
/// names. The loader turns it into a [`SpecError`] with its file table.
#[derive(Debug, Clone, PartialEq)]
pub struct Raw {
    pub pos: Pos,
    pub message: String,
}

impl Raw {
    pub fn new(pos: Pos, message: impl Into<String>) -> Self {
        Raw {
            pos,
            message: message.into(),
        }
    }
}

pub type RawResult<T> = Result<T, Raw>;

/// A warning the CLI prints but that does not stop loading.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    pub location: Option<Location>,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(l) => write!(f, "{l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}
