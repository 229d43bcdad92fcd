use std::net::SocketAddr;

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
}

/// A string that names no [`Endpoint`](crate::Endpoint).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown endpoint '{0}' (expected datafile, events, odp_events or odp_graphql)")]
pub struct ParseEndpointError(pub(crate) String);
