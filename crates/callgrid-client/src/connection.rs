//! How the client reaches a node: TLS with the cluster's CA, and the bearer
//! token on every request, the same for a seed and for every member it
//! learns of.

use std::task::{Context, Poll};
use std::time::Duration;

use tonic::body::Body;
use tonic::codegen::Service;
use tonic::codegen::http::{self, HeaderValue};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::error::Error;

/// How long connecting to a node may take before it counts as down.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// A connection to one node of the cluster, carrying the client's bearer
/// token (if it has one) on every request. Hand it to any generated
/// `callgrid.v1` client: `PickupClient::new(connection)`. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Connection {
    channel: Channel,
    token: Option<HeaderValue>,
}

/// A bare channel, without a token (a development-mode node needs none).
impl From<Channel> for Connection {
    fn from(channel: Channel) -> Connection {
        Connection {
            channel,
            token: None,
        }
    }
}

impl Service<http::Request<Body>> for Connection {
    type Response = http::Response<Body>;
    type Error = tonic::transport::Error;
    type Future = <Channel as Service<http::Request<Body>>>::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Service::poll_ready(&mut self.channel, cx)
    }

    fn call(&mut self, mut request: http::Request<Body>) -> Self::Future {
        if let Some(token) = &self.token {
            request
                .headers_mut()
                .insert(http::header::AUTHORIZATION, token.clone());
        }
        Service::call(&mut self.channel, request)
    }
}

/// The URI of `addr`: as given when it names its scheme, else `https` with
/// TLS settings and `http` without.
fn uri(addr: &str, tls: bool) -> String {
    if addr.starts_with("http://") || addr.starts_with("https://") {
        addr.to_owned()
    } else if tls {
        format!("https://{addr}")
    } else {
        format!("http://{addr}")
    }
}

/// What every connection of one client shares: TLS and the token.
#[derive(Clone, Default)]
pub(crate) struct Settings {
    tls: Option<ClientTlsConfig>,
    token: Option<HeaderValue>,
}

impl Settings {
    /// A connection to `addr`, made on first use (and again after a
    /// failure). An address without a scheme, as members advertise
    /// themselves (`host:port`), is reached over `https` when the client
    /// has TLS settings and over `http` when not, as nodes reach each other.
    pub(crate) fn connection(&self, addr: &str) -> Result<Connection, Error> {
        let bad = |why: String| Error::Address {
            addr: addr.to_owned(),
            why,
        };
        let mut endpoint = Endpoint::from_shared(uri(addr, self.tls.is_some()))
            .map_err(|e| bad(e.to_string()))?
            .tcp_nodelay(true)
            .connect_timeout(CONNECT_TIMEOUT);
        if let Some(tls) = &self.tls {
            endpoint = endpoint
                .tls_config(tls.clone())
                .map_err(|e| bad(format!("TLS: {e}")))?;
        }
        Ok(Connection {
            channel: endpoint.connect_lazy(),
            token: self.token.clone(),
        })
    }
}

/// Sets up a [`Client`](crate::Client) for a cluster that wants TLS or a
/// bearer token, from [`Client::builder`](crate::Client::builder); ends in
/// [`connect`](Builder::connect) or [`connect_lazy`](Builder::connect_lazy).
#[derive(Default)]
#[must_use]
pub struct Builder {
    ca_pem: Option<Vec<u8>>,
    tls_domain: Option<String>,
    token: Option<String>,
}

impl Builder {
    /// Connect with TLS, trusting the CA (PEM) that signed the nodes'
    /// certificates. Each node's certificate is checked against the host
    /// the client dials it by, or against `domain` for every node when one
    /// is given (as `callgridctl --tls-domain` does for its one server).
    pub fn tls(mut self, ca_pem: impl Into<Vec<u8>>, domain: Option<String>) -> Builder {
        self.ca_pem = Some(ca_pem.into());
        self.tls_domain = domain;
        self
    }

    /// Send `authorization: Bearer <token>` on every request, the client's
    /// own `Cluster.Status` calls included.
    pub fn token(mut self, token: impl Into<String>) -> Builder {
        self.token = Some(token.into());
        self
    }

    /// The checked settings, each bad one named by its field.
    pub(crate) fn settings(self) -> Result<Settings, Error> {
        let token = match self.token {
            None => None,
            Some(token) => {
                let mut value = HeaderValue::try_from(format!("Bearer {token}")).map_err(|_| {
                    Error::Setting {
                        field: "token",
                        why: "not a valid header value (printable ASCII only)".into(),
                    }
                })?;
                value.set_sensitive(true);
                Some(value)
            }
        };
        let tls = match self.ca_pem {
            None => None,
            Some(pem) => Some(tls_config(pem, self.tls_domain)?),
        };
        Ok(Settings { tls, token })
    }
}

/// The TLS settings, checked now so that a bad CA or domain is named
/// before any connection is made.
fn tls_config(ca_pem: Vec<u8>, domain: Option<String>) -> Result<ClientTlsConfig, Error> {
    if !String::from_utf8_lossy(&ca_pem).contains("-----BEGIN CERTIFICATE-----") {
        return Err(Error::Setting {
            field: "ca",
            why: "no PEM certificate in it".into(),
        });
    }
    let probe = |tls: ClientTlsConfig| {
        Endpoint::from_static("https://localhost")
            .tls_config(tls)
            .map(drop)
            .map_err(|e| match std::error::Error::source(&e) {
                Some(cause) => format!("{e}: {cause}"),
                None => e.to_string(),
            })
    };
    let tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca_pem));
    probe(tls.clone()).map_err(|why| Error::Setting { field: "ca", why })?;
    let Some(domain) = domain else {
        return Ok(tls);
    };
    let tls = tls.domain_name(domain);
    probe(tls.clone()).map_err(|why| Error::Setting {
        field: "tls_domain",
        why,
    })?;
    Ok(tls)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting_error(builder: Builder) -> (&'static str, String) {
        match builder.settings() {
            Err(Error::Setting { field, why }) => (field, why),
            Err(other) => panic!("not a setting error: {other}"),
            Ok(_) => panic!("accepted"),
        }
    }

    #[test]
    fn a_bad_setting_is_refused_by_its_name() {
        let (field, _) = setting_error(Builder::default().token("two\nlines"));
        assert_eq!(field, "token");
        let (field, why) = setting_error(Builder::default().tls("not a certificate", None));
        assert_eq!(field, "ca");
        assert!(why.contains("PEM"), "{why}");
        assert!(Builder::default().token("s3cret-token").settings().is_ok());
    }

    #[test]
    fn members_are_dialled_over_https_with_tls_and_over_http_without() {
        assert_eq!(uri("10.0.0.2:7700", true), "https://10.0.0.2:7700");
        assert_eq!(uri("10.0.0.2:7700", false), "http://10.0.0.2:7700");
        // A seed given with its scheme keeps it.
        assert_eq!(
            uri("https://cg.example:7700", true),
            "https://cg.example:7700"
        );
        assert_eq!(uri("http://127.0.0.1:7700", false), "http://127.0.0.1:7700");
    }
}
