//! `watch` and `notifications`: the Presence service's streams, printed
//! event by event until the server ends the stream or Ctrl-C.

use callgrid_proto::v1::{self, presence_client::PresenceClient};
use tonic::Streaming;

use super::Ctx;
use crate::output::{Output, Render};

/// Prints every message of `stream` as it arrives. Ctrl-C ends it cleanly
/// (exit 0); a broken stream is an error.
async fn follow<T: Render>(out: Output, mut stream: Streaming<T>) -> anyhow::Result<()> {
    loop {
        tokio::select! {
            next = stream.message() => match next? {
                Some(item) => out.show(&item),
                None => return Ok(()),
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

pub async fn watch(
    ctx: &Ctx,
    extensions: Vec<String>,
    park_codes: Vec<u32>,
    watcher: Option<String>,
) -> anyhow::Result<()> {
    if extensions.is_empty() && park_codes.is_empty() {
        crate::exit::invalid!("give at least one extension or --park-code to watch");
    }
    let stream = PresenceClient::new(ctx.any())
        .watch_lamps(v1::WatchLampsRequest {
            tenant: ctx.tenant.clone(),
            watcher: watcher.unwrap_or_default(),
            extensions,
            park_codes,
        })
        .await?
        .into_inner();
    follow(ctx.out, stream).await
}

pub async fn notifications(ctx: &Ctx, extension: String) -> anyhow::Result<()> {
    let stream = PresenceClient::new(ctx.any())
        .notifications(v1::NotificationsRequest {
            tenant: ctx.tenant.clone(),
            extension,
        })
        .await?
        .into_inner();
    follow(ctx.out, stream).await
}
