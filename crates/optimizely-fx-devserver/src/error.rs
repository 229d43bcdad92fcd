use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

/// Why a [`DevServer`](crate::DevServer) could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DevServerError {
    /// The listening socket could not be bound (port in use, no permission, ...).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address that was asked for.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The server's runtime could not be started.
    #[error("cannot start the dev server runtime: {0}")]
    Runtime(#[source] std::io::Error),
    /// The configured address is not a loopback address and binding it was not allowed with
    /// [`DevServerConfig::allow_non_loopback`](crate::DevServerConfig::allow_non_loopback).
    #[error(
        "refusing to listen on {addr}: it is not a loopback address and the dev server has no \
         authentication; allow it explicitly (allow_non_loopback, --allow-non-loopback)"
    )]
    NonLoopback {
        /// The address that was asked for.
        addr: IpAddr,
    },
    /// The database could not be opened or prepared.
    #[error("cannot use the dev server database {location}: {problem}")]
    Database {
        /// The file path, or `:memory:`.
        location: String,
        /// What is wrong with it.
        problem: DatabaseProblem,
    },
    /// The segments file could not be read or is not valid.
    #[error("cannot load segments file {}: {message}", path.display())]
    SegmentsFile {
        /// The file that was given.
        path: PathBuf,
        /// What is wrong (with its line, for syntax errors).
        message: String,
    },
}

/// What is wrong with a dev server database (see [`DevServerError::Database`]).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DatabaseProblem {
    /// The file is not a SQLite database, or it is damaged.
    Corrupt {
        /// SQLite's own words.
        detail: String,
    },
    /// Another connection or process holds a lock on the file (for instance another dev
    /// server using the same file).
    Locked,
    /// The file is a SQLite database of some other application.
    NotADevServerDatabase,
    /// The file was written by a newer version of the dev server.
    NewerSchema {
        /// Schema version found in the file.
        found: i64,
        /// Newest schema version this build understands.
        supported: i64,
    },
    /// The file cannot be opened, read or written (missing directory, permissions, disk).
    Io {
        /// SQLite's own words.
        detail: String,
    },
}

impl fmt::Display for DatabaseProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DatabaseProblem::Corrupt { detail } => {
                write!(f, "the file is corrupt or not a SQLite database ({detail})")
            }
            DatabaseProblem::Locked => f.write_str(
                "the file is locked by another connection (is another dev server using it?)",
            ),
            DatabaseProblem::NotADevServerDatabase => {
                f.write_str("the file is a SQLite database of another application")
            }
            DatabaseProblem::NewerSchema { found, supported } => write!(
                f,
                "the file was written by a newer dev server (schema {found}, this one knows up to {supported})"
            ),
            DatabaseProblem::Io { detail } => f.write_str(detail),
        }
    }
}

/// A string that names no [`Endpoint`](crate::Endpoint).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown endpoint '{0}' (expected datafile, events, odp_events or odp_graphql)")]
pub struct ParseEndpointError(pub(crate) String);
