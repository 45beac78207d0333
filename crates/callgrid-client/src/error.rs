//! Why the client could not be set up, connect or refresh.

use callgrid_model::ValidationError;

/// Why the client could not be set up, connect or refresh.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A key's tenant or number is not valid (the field is named).
    #[error("{0}")]
    Invalid(#[from] ValidationError),
    /// A setting of the [`Builder`](crate::Builder) is not usable; `field`
    /// is its name (`token`, `ca`, `tls_domain`), for a binary to name its
    /// own flag.
    #[error("{field}: {why}")]
    Setting { field: &'static str, why: String },
    /// No seed answered `Cluster.Status` (the last failure is given).
    #[error("no seed node answered Cluster.Status: {0}")]
    NoSeed(String),
    /// A seed or member address is not a URI.
    #[error("bad address {addr}: {why}")]
    Address { addr: String, why: String },
}
