//! Dockerfile parsing: logical lines (parser directives, comments, line
//! continuations), then typed instructions grouped into stages. Variables are
//! not substituted here: their values depend on build arguments and on the
//! order of ARG/ENV, so the builder expands them with [`words`] as it goes.

mod instruction;
mod lines;
pub mod words;

pub use instruction::*;

use crate::BuildError;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// The escape character (`\` unless `# escape=`` ` ``).
    pub escape: char,
    /// `ARG`s before the first `FROM` (usable in `FROM` lines).
    pub global_args: Vec<ArgDecl>,
    pub stages: Vec<Stage>,
}

/// One `FROM` and the instructions that follow it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub line: usize,
    /// The base image as written (before substitution), or `scratch`.
    pub base: String,
    /// `AS name`, lower-cased as Docker does.
    pub name: Option<String>,
    pub platform: Option<String>,
    pub instructions: Vec<Instruction>,
}

impl Dockerfile {
    /// Parses `text`; `file` names the Dockerfile in error messages.
    pub fn parse(text: &str, file: &str) -> Result<Dockerfile, BuildError> {
        let err = |line: usize, message: String| BuildError::Dockerfile {
            file: file.to_owned(),
            line,
            message,
        };
        let (escape, logical) = lines::logical_lines(text);
        let mut global_args = Vec::new();
        let mut stages: Vec<Stage> = Vec::new();
        for l in logical {
            let instr = Instruction::parse(&l.text, l.line, escape).map_err(|m| err(l.line, m))?;
            match instr.kind {
                Kind::From {
                    image,
                    name,
                    platform,
                } => stages.push(Stage {
                    line: l.line,
                    base: image,
                    name: name.map(|n| n.to_ascii_lowercase()),
                    platform,
                    instructions: Vec::new(),
                }),
                Kind::Arg(decls) if stages.is_empty() => global_args.extend(decls),
                _ => match stages.last_mut() {
                    Some(stage) => stage.instructions.push(instr),
                    None => {
                        return Err(err(
                            l.line,
                            format!(
                                "{} before the first FROM: a Dockerfile must begin with FROM (only ARG may precede it)",
                                instr.keyword
                            ),
                        ));
                    }
                },
            }
        }
        if stages.is_empty() {
            return Err(err(1, "the Dockerfile has no FROM instruction".into()));
        }
        let mut seen = std::collections::HashSet::new();
        for s in &stages {
            if let Some(n) = &s.name
                && !seen.insert(n.clone())
            {
                return Err(err(s.line, format!("duplicate stage name {n:?}")));
            }
        }
        Ok(Dockerfile {
            escape,
            global_args,
            stages,
        })
    }

    /// Index of the stage called `name` (or given by its number).
    pub fn stage_index(&self, name: &str) -> Option<usize> {
        let lower = name.to_ascii_lowercase();
        self.stages
            .iter()
            .position(|s| s.name.as_deref() == Some(lower.as_str()))
            .or_else(|| {
                name.parse::<usize>()
                    .ok()
                    .filter(|&i| i < self.stages.len())
            })
    }
}

#[cfg(test)]
mod tests;
