//! Transport security: TLS for clients, mutual TLS between nodes.
//!
//! One gRPC port carries both the public API and node-to-node traffic, so:
//!
//! - with `tls.cert` and `tls.key`, the port speaks only TLS (rustls);
//! - with `tls.client_ca` as well (the cluster CA, which signs every node's
//!   certificate), clients *may* present a certificate and the node-to-node
//!   service accepts only callers that presented one it signed; this node
//!   presents its own certificate to the nodes it calls and verifies theirs
//!   against the same CA. API clients keep using bearer tokens.
//!
//! The node-to-node service adds members and commits any command, so it is
//! never left open on a node that authenticates its clients: configuration
//! refuses `[[tokens]]` without `tls.client_ca` (see `settings`). With no
//! tokens and no TLS the node runs plaintext and unauthenticated: the
//! development mode of the first-run command, announced at start.

use std::path::Path;

use anyhow::Context;
use tonic::transport::{Certificate, ClientTlsConfig, Identity, ServerTlsConfig};
use tonic::{Request, Status};

use crate::args::ServeArgs;
use crate::auth::Authorizer;

/// How this node secures its port and its calls to peers, and who may call.
#[derive(Clone, Default)]
pub struct Security {
    /// The port's TLS; `None` is plaintext.
    pub server: Option<ServerTlsConfig>,
    /// TLS for calls to other nodes; `None` is plaintext.
    pub peer: Option<ClientTlsConfig>,
    /// Node-to-node calls must present a certificate the cluster CA signed.
    pub mutual: bool,
    pub auth: Authorizer,
}

fn read(path: &Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path).with_context(|| format!("{what} {}: cannot read", path.display()))
}

impl Security {
    /// Builds the TLS configurations and token table from validated settings.
    pub fn from_args(args: &ServeArgs) -> anyhow::Result<Self> {
        let auth = Authorizer::from_config(&args.tokens)
            .map_err(|(key, rule)| anyhow::anyhow!("config key `{key}`: {rule}"))?;
        let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
            return Ok(Security {
                auth,
                ..Default::default()
            });
        };
        let cert = read(cert, "tls.cert")?;
        let identity = Identity::from_pem(&cert, read(key, "tls.key")?);
        let mut server = ServerTlsConfig::new().identity(identity.clone());
        // Peers are verified against the cluster CA; without one, against the
        // certificates in this node's own chain file (a chain that includes
        // its CA, or one certificate shared by every node).
        let peer_roots = match &args.tls_client_ca {
            Some(ca) => {
                let ca = Certificate::from_pem(read(ca, "tls.client_ca")?);
                server = server.client_ca_root(ca.clone()).client_auth_optional(true);
                ca
            }
            None => Certificate::from_pem(&cert),
        };
        let mut peer = ClientTlsConfig::new().ca_certificate(peer_roots);
        if args.tls_client_ca.is_some() {
            peer = peer.identity(identity);
        }
        Ok(Security {
            server: Some(server),
            peer: Some(peer),
            mutual: args.tls_client_ca.is_some(),
            auth,
        })
    }

    /// How this node is secured, for the start-up line.
    pub fn mode(&self) -> String {
        let transport = match (&self.server, self.mutual) {
            (None, _) => "plaintext gRPC (development mode)",
            (Some(_), false) => "TLS",
            (Some(_), true) => "TLS, mutual TLS between nodes",
        };
        let auth = if self.auth.is_dev_mode() {
            "no authentication (development mode)"
        } else {
            "bearer tokens"
        };
        format!("{transport}, {auth}")
    }

    /// Guards the node-to-node service: with mutual TLS, only callers that
    /// presented a certificate signed by the cluster CA get through (the
    /// TLS handshake already verified any certificate presented).
    pub fn peer_check(
        &self,
    ) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone + use<> {
        let mutual = self.mutual;
        move |request: Request<()>| {
            if mutual && request.peer_certs().is_none_or(|certs| certs.is_empty()) {
                metrics::counter!("callgrid_auth_refusals_total", "method" => "Peer", "code" => "Unauthenticated")
                    .increment(1);
                return Err(Status::unauthenticated(
                    "node-to-node calls need a client certificate signed by the cluster CA",
                ));
            }
            Ok(request)
        }
    }
}
