//! The edge's view of the cluster: typed clients of the public API, with
//! the edge's bearer token on every request, and [`once`] for the requests
//! that change something.

use std::future::Future;
use std::time::Duration;

use callgrid_proto::v1::{
    calls_client::CallsClient, directory_client::DirectoryClient, park_client::ParkClient,
    pickup_client::PickupClient, presence_client::PresenceClient,
    registrar_client::RegistrarClient,
};
use tonic::metadata::MetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Request, Response, Status};

/// Adds `authorization: Bearer <token>` when the edge has a token.
#[derive(Clone)]
pub struct BearerToken(Option<MetadataValue<tonic::metadata::Ascii>>);

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(token) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", token.clone());
        }
        Ok(request)
    }
}

type Authed = InterceptedService<Channel, BearerToken>;

/// Clients of every service the edge uses, sharing one HTTP/2 connection.
#[derive(Clone)]
pub struct Cluster {
    pub calls: CallsClient<Authed>,
    pub directory: DirectoryClient<Authed>,
    pub park: ParkClient<Authed>,
    pub registrar: RegistrarClient<Authed>,
    pub presence: PresenceClient<Authed>,
    /// BLF pickups (INVITE with Replaces).
    pub pickup: PickupClient<Authed>,
}

impl Cluster {
    /// Clients of the node at `url` (`http://host:port`, or `https://` with
    /// the cluster's CA); connects lazily, so the edge can start before the
    /// node serves.
    pub fn connect(url: &str, token: Option<&str>, ca: Option<&[u8]>) -> anyhow::Result<Self> {
        let mut endpoint = Endpoint::from_shared(url.to_owned())?.tcp_nodelay(true);
        if let Some(ca) = ca {
            endpoint = endpoint
                .tls_config(ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)))?;
        }
        let channel = endpoint.connect_lazy();
        let token = token
            .map(|t| format!("Bearer {t}").parse())
            .transpose()
            .map_err(|_| anyhow::anyhow!("--token: not a valid header value"))?;
        let auth = BearerToken(token);
        Ok(Self {
            calls: CallsClient::with_interceptor(channel.clone(), auth.clone()),
            directory: DirectoryClient::with_interceptor(channel.clone(), auth.clone()),
            park: ParkClient::with_interceptor(channel.clone(), auth.clone()),
            registrar: RegistrarClient::with_interceptor(channel.clone(), auth.clone()),
            presence: PresenceClient::with_interceptor(channel.clone(), auth.clone()),
            pickup: PickupClient::with_interceptor(channel, auth),
        })
    }
}

/// Attempts of one request that changes something, before the edge gives
/// up and answers the phone 503.
const ATTEMPTS: u32 = 4;
/// The pause before the first retry; each next one doubles it.
const FIRST_PAUSE: Duration = Duration::from_millis(100);

/// Sends `message` under a fresh request id, and again under the same id
/// while the cluster could not decide it or cannot say whether it took
/// effect (UNAVAILABLE, in either of its two kinds, or a connection that
/// failed): the cluster applies a request id at most once and answers each
/// retry with the first outcome, so a phone's pickup that timed out and was
/// then committed learns it won. Bounded: [`ATTEMPTS`] sends, about 0.7 s
/// of pauses between them.
pub async fn once<T, R, Fut>(
    message: T,
    mut send: impl FnMut(Request<T>) -> Fut,
) -> Result<R, Status>
where
    T: Clone,
    Fut: Future<Output = Result<Response<R>, Status>>,
{
    let id = format!("sip-{:032x}", rand::random::<u128>());
    let mut pause = FIRST_PAUSE;
    let mut attempt = 1;
    loop {
        let request = callgrid_proto::retry::with_request_id(message.clone(), &id);
        match send(request).await {
            Ok(response) => return Ok(response.into_inner()),
            Err(status) if status.code() == Code::Unavailable && attempt < ATTEMPTS => {
                metrics::counter!("callgrid_sip_cluster_retries_total").increment(1);
                tracing::debug!(%status, attempt, request_id = %id, "not decided yet; retrying under the same id");
                tokio::time::sleep(pause).await;
                pause *= 2;
                attempt += 1;
            }
            Err(status) => return Err(status),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use callgrid_proto::retry::{REQUEST_ID, not_decided, outcome_unknown};

    use super::*;

    /// Sends through `once`, answering the attempts from `answers` in turn;
    /// returns the outcome and the request id each attempt carried.
    async fn run(answers: Vec<Result<u32, Status>>) -> (Result<u32, Status>, Vec<String>) {
        let answers = Mutex::new(answers.into_iter());
        let seen = Mutex::new(Vec::new());
        let outcome = once("pickup", |request: Request<&str>| {
            let id = request
                .metadata()
                .get(REQUEST_ID)
                .map(|v| v.to_str().unwrap().to_owned());
            seen.lock()
                .unwrap()
                .push(id.expect("every attempt carries an id"));
            let answer = answers
                .lock()
                .unwrap()
                .next()
                .expect("no attempt past the answers");
            async move { answer.map(Response::new) }
        })
        .await;
        (outcome, seen.into_inner().unwrap())
    }

    #[tokio::test]
    async fn an_undecided_request_is_sent_again_under_the_same_id_until_it_is_answered() {
        let (outcome, ids) = run(vec![
            Err(outcome_unknown("not committed within 10s")),
            Err(not_decided("no leader")),
            Ok(7),
        ])
        .await;
        assert_eq!(outcome.unwrap(), 7);
        assert_eq!(ids.len(), 3);
        assert!(ids.iter().all(|id| *id == ids[0]), "one id: {ids:?}");
        let (_, other) = run(vec![Ok(1)]).await;
        assert_ne!(other[0], ids[0], "each request has its own id");
    }

    #[tokio::test]
    async fn a_decided_refusal_is_not_retried_and_retries_are_bounded() {
        let (outcome, ids) = run(vec![Err(Status::permission_denied("no"))]).await;
        assert_eq!(outcome.unwrap_err().code(), Code::PermissionDenied);
        assert_eq!(ids.len(), 1);
        let unknown = || Err(outcome_unknown("timed out"));
        let (outcome, ids) = run((0..ATTEMPTS).map(|_| unknown()).collect()).await;
        assert_eq!(outcome.unwrap_err().code(), Code::Unavailable);
        assert_eq!(ids.len(), ATTEMPTS as usize);
    }
}
