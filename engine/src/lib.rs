//! slipway-engine: the build session as a library. A [`BuildRequest`] (Dockerfile,
//! context, target, args, platforms, cache imports and exports, outputs, push) goes in;
//! the session pulls the bases the store lacks, imports caches, plans, builds (once per
//! target platform), exports, exports caches and pushes, telling an [`Events`] listener
//! what happens. The CLI is flags and rendering around it; the language server or any
//! embedding can run a build the same way. No syscalls here: containers are the
//! runner's, transfers the registry client's.

pub mod bases;
pub mod caches;
pub mod events;
pub mod publish;
pub mod session;

pub use events::{Events, Silent};
pub use session::{build, plan, plan_with_caches, BuildRequest, Outcome, PlatformImage, Pushed};

use std::io;

/// Why a session stopped.
#[derive(Debug)]
pub enum Error {
    /// The request itself is wrong (a flag's value, a missing name): exit code 2.
    Usage(String),
    /// The Dockerfile has errors, or a step failed: diagnostics at their spans, exit code 1.
    Dockerfile {
        name: String,
        text: String,
        diagnostics: Vec<slipway_parser::Diagnostic>,
    },
    /// A build step could not be carried out (not at a span): exit code 1.
    Build(String),
    /// A registry refused or failed (push, cache export): exit code 2.
    Registry(String),
    Io(io::Error),
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Error {
        Error::Io(e)
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Usage(m) | Error::Build(m) | Error::Registry(m) => f.write_str(m),
            Error::Dockerfile { name, diagnostics, .. } => {
                write!(f, "{name}: ")?;
                let messages: Vec<&str> = diagnostics.iter().map(|d| d.message.as_str()).collect();
                f.write_str(&messages.join("; "))
            }
            Error::Io(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for Error {}
