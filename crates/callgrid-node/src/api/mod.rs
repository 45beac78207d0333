//! The public gRPC API, `callgrid.v1`.
//!
//! Each handler does three things: convert the request (bad input is
//! `INVALID_ARGUMENT` naming the field and rule, and nothing is proposed),
//! decide it through the owning actor and Raft, and convert the outcome.
//! Refusals become `tonic::Status` here and only here.

mod calls;
mod cluster;
mod directory;
mod park;
mod pickup;
mod presence;
mod registrar;
mod streams;

pub use streams::{StreamBudget, StreamLimits};

use std::time::Instant;

use callgrid_actors::{Deadline, DecideError};
use callgrid_model::{
    AnswerOutcome, Command, DialOutcome, DirectoryError, HangupOutcome, ParkOutcome, PickupOutcome,
    Response, RetrieveOutcome, TenantId, ValidationError,
};
use callgrid_proto::{convert, retry};
use tonic::{Code, Request, Status};

use crate::consensus::Consensus;
use crate::hub::Hub;
use crate::route::Router;

/// What the services share: the applied state to read, the router every
/// decision goes through, the hub that fans applied events out, and what
/// presence streams may hold.
#[derive(Clone)]
pub struct Shared {
    pub consensus: Consensus,
    pub router: Router,
    pub hub: Hub,
    pub streams: StreamBudget,
}

/// The node's gRPC services; one value implements them all.
#[derive(Clone)]
pub struct Api {
    shared: Shared,
}

/// A request turned into a command, with the deadline it carries.
pub(crate) struct Asked {
    cmd: Command,
    deadline: Deadline,
}

/// The typed outcome of one kind of command: the one [`Response`] variant
/// applying it can answer.
pub(crate) trait Outcome: Sized {
    fn of(response: Response) -> Result<Self, Response>;
}

macro_rules! outcome {
    ($($variant:ident => $ty:ty),* $(,)?) => {$(
        impl Outcome for $ty {
            fn of(response: Response) -> Result<Self, Response> {
                match response {
                    Response::$variant(outcome) => Ok(outcome),
                    other => Err(other),
                }
            }
        }
    )*};
}

outcome!(
    Dial => DialOutcome,
    Answer => AnswerOutcome,
    Hangup => HangupOutcome,
    Pickup => PickupOutcome,
    Park => ParkOutcome,
    Retrieve => RetrieveOutcome,
    Register => Result<Vec<callgrid_model::Binding>, DirectoryError>,
    Directory => Result<(), DirectoryError>,
);

impl Api {
    pub fn new(shared: Shared) -> Self {
        Self { shared }
    }

    /// Checks that a request names an existing tenant.
    fn existing_tenant(&self, raw: &str) -> Result<TenantId, Status> {
        let tenant = convert::tenant(raw).map_err(|e| convert::invalid_argument(&e))?;
        if self
            .shared
            .consensus
            .read(|sb| sb.tenant(&tenant).is_some())
        {
            Ok(tenant)
        } else {
            Err(Status::not_found(format!(
                "tenant: no tenant named {tenant}"
            )))
        }
    }

    /// Decides a call-control command: its tenant must exist; the outcome
    /// is a business result, never an error.
    async fn decide<O: Outcome>(&self, asked: Result<Asked, ValidationError>) -> Result<O, Status> {
        let asked = asked.map_err(|e| convert::invalid_argument(&e))?;
        if let Some(tenant) = asked.cmd.tenant() {
            self.existing_tenant(tenant.as_str())?;
        }
        self.commit(asked).await
    }

    /// Decides a command through its owner, by the request's deadline,
    /// and takes the outcome of its kind.
    async fn commit<O: Outcome>(&self, Asked { cmd, deadline }: Asked) -> Result<O, Status> {
        match self
            .shared
            .router
            .decide(cmd, deadline)
            .await
            .map_err(unavailable)?
        {
            Response::RequestReused => Err(request_reused()),
            decided => O::of(decided).map_err(|other| {
                Status::internal(format!("unexpected state machine response {other:?}"))
            }),
        }
    }

    /// Commits a directory write; a refusal is a status naming the field.
    /// `record` is the request field holding the record the model checked
    /// (`extension`, `group`, `policy`), so that the field named in a
    /// refusal is the request's (`group.members[0].extension`).
    async fn write(
        &self,
        asked: Result<Asked, ValidationError>,
        record: Option<&str>,
    ) -> Result<(), Status> {
        let asked = asked.map_err(|e| convert::invalid_argument(&e))?;
        self.commit::<Result<(), DirectoryError>>(asked)
            .await?
            .map_err(|e| convert::directory_status(&in_record(e, record)))
    }
}

/// Prefixes the field a directory refusal names with the request field of its record.
fn in_record(e: DirectoryError, record: Option<&str>) -> DirectoryError {
    let Some(record) = record else { return e };
    let path = |field: String| format!("{record}.{field}");
    match e {
        DirectoryError::Invalid(v) if record == "group" => {
            DirectoryError::Invalid(convert::call_group_error(v))
        }
        DirectoryError::Invalid(v) => {
            DirectoryError::Invalid(ValidationError::new(path(v.field), v.rule))
        }
        DirectoryError::ExtensionNotFound { field, number } => DirectoryError::ExtensionNotFound {
            field: path(field),
            number,
        },
        DirectoryError::PolicyNotFound { field, name } => DirectoryError::PolicyNotFound {
            field: path(field),
            name,
        },
        DirectoryError::NotVoiceEnabled { field, number } => DirectoryError::NotVoiceEnabled {
            field: path(field),
            number,
        },
        other => other,
    }
}

/// `cmd`, to take effect at most once per the `request-id` the request
/// carries (if it carries one), by the deadline the request carries. What
/// the request asks — `method` and its message — is remembered with the
/// id, so that a retry is told from another request reusing the id.
fn once<M: prost::Message>(
    method: &str,
    request: &Request<M>,
    cmd: Result<Command, ValidationError>,
) -> Result<Asked, ValidationError> {
    let cmd = cmd?;
    let cmd = match retry::request_id(request.metadata())? {
        Some(id) => Command::once(
            id,
            retry::request_fingerprint(method, request.get_ref()),
            cmd,
        ),
        None => cmd,
    };
    Ok(Asked {
        cmd,
        deadline: crate::deadline::of(request.metadata()),
    })
}

/// An undecided request, the one place its error becomes a status:
/// `not decided` when it certainly took no effect, `outcome unknown` when
/// it may have (see `callgrid_proto::retry`).
fn unavailable(e: DecideError) -> Status {
    let why = e.reason();
    if e.is_certain() {
        retry::not_decided(&why)
    } else {
        retry::outcome_unknown(&why)
    }
}

fn request_reused() -> Status {
    Status::invalid_argument(format!(
        "{}: this request id was already used for a different request of this tenant; \
         a retry must repeat its request unchanged, and a new request needs a new id",
        retry::REQUEST_ID
    ))
}

/// A metric label from a generated enum's name: `PICKUP_RESULT_PICKED_UP`
/// is `picked_up`.
fn label(as_str_name: &str) -> String {
    as_str_name
        .split_once("_RESULT_")
        .map_or(as_str_name, |(_, value)| value)
        .to_ascii_lowercase()
}

fn invalid(e: ValidationError) -> Status {
    convert::invalid_argument(&e)
}

/// Records a finished request: count by status code, latency by method.
fn observe<T>(method: &'static str, start: Instant, result: &Result<T, Status>) {
    let code = match result {
        Ok(_) => Code::Ok,
        Err(s) => s.code(),
    };
    metrics::counter!("callgrid_grpc_requests_total", "method" => method, "code" => format!("{code:?}"))
        .increment(1);
    metrics::histogram!("callgrid_grpc_request_duration_seconds", "method" => method)
        .record(start.elapsed().as_secs_f64());
}

/// Runs a handler body, recording its metrics under `method`.
macro_rules! handle {
    ($method:literal, $body:expr) => {{
        let start = std::time::Instant::now();
        let result = async { $body }.await;
        $crate::api::observe($method, start, &result);
        result.map(tonic::Response::new)
    }};
}
pub(crate) use handle;
