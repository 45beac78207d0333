//! The node's browser console (`--http`): a `callgrid-console` client of
//! this node's own gRPC port, told only who a page's token is (from this
//! node's token table) so the page can choose its views; every read and
//! action is still a public API request the node checks.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use callgrid_console::{Console, ConsoleConfig, Identity};
use tonic::metadata::MetadataMap;

use crate::args::{HttpListen, ServeArgs};
use crate::auth::{Authorizer, Principal};
use crate::tls::Security;

/// Binds the console, or `None` with `--http off`.
pub async fn bind(
    args: &ServeArgs,
    security: &Security,
    grpc: SocketAddr,
    advertise: &str,
) -> anyhow::Result<Option<Console>> {
    let HttpListen::At(listen) = args.http else {
        return Ok(None);
    };
    // Over TLS the node is dialled as its peers dial it: the name it
    // advertises is the one its certificate must carry.
    let tls_domain = security.peer.as_ref().map(|_| {
        advertise
            .rsplit_once(':')
            .map_or(advertise, |(host, _)| host)
            .trim_matches(['[', ']'])
            .to_owned()
    });
    let auth = security.auth.clone();
    let console = Console::bind(ConsoleConfig {
        listen,
        node: grpc,
        tls: security.peer.clone(),
        tls_domain,
        identify: Arc::new(move |token| identify(&auth, token)),
    })
    .await
    .with_context(|| format!("--http {listen}"))?;
    Ok(Some(console))
}

/// Who `token` is in this node's token table.
fn identify(auth: &Authorizer, token: Option<&str>) -> Identity {
    if auth.is_dev_mode() {
        return Identity::Development;
    }
    let Some(value) = token.and_then(|t| format!("Bearer {t}").parse().ok()) else {
        return Identity::Unknown;
    };
    let mut metadata = MetadataMap::new();
    metadata.insert("authorization", value);
    match auth.authenticate(&metadata) {
        Ok(Principal::ClusterAdmin) => Identity::ClusterAdmin,
        Ok(Principal::TenantAdmin { tenant }) => Identity::TenantAdmin {
            tenant: tenant.to_string(),
        },
        Ok(Principal::ExtensionUser { tenant, extension }) => Identity::ExtensionUser {
            tenant: tenant.to_string(),
            extension: extension.to_string(),
        },
        Err(_) => Identity::Unknown,
    }
}
