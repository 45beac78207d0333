//! `callgrid.v1.Calls`: dial, answer, hang up, look.

use callgrid_model::{CallId, DialOutcome, Response as Decided};
use callgrid_proto::convert;
use callgrid_proto::v1::{self, calls_server::Calls};
use tonic::{Request, Response, Status};

use super::{Api, handle, once, unexpected};
use crate::clock::now_ms;

/// Counts a pickup's outcome under its kind.
pub(super) fn count_pickup(kind: &'static str, outcome: &callgrid_model::PickupOutcome) {
    let label = match outcome {
        callgrid_model::PickupOutcome::PickedUp { .. } => "picked_up",
        callgrid_model::PickupOutcome::InvalidExtension => "invalid_extension",
        callgrid_model::PickupOutcome::NoAlertingCall => "no_alerting_call",
        callgrid_model::PickupOutcome::AlreadyAnswered => "already_answered",
        callgrid_model::PickupOutcome::NotPermitted => "not_permitted",
    };
    metrics::counter!("callgrid_pickups_total", "kind" => kind, "outcome" => label).increment(1);
}

/// Counts a retrieve's outcome.
pub(super) fn count_retrieve(outcome: &callgrid_model::RetrieveOutcome) {
    use callgrid_model::RetrieveOutcome as R;
    let label = match outcome {
        R::Retrieved { .. } => "retrieved",
        R::UnknownCode => "unknown_code",
        R::AlreadyAnswered => "already_answered",
        R::CallEnded => "call_ended",
        R::NoParkPolicy => "no_park_policy",
        R::OtherParkGroup => "other_park_group",
    };
    metrics::counter!("callgrid_retrieves_total", "outcome" => label).increment(1);
}

#[tonic::async_trait]
impl Calls for Api {
    async fn dial(
        &self,
        request: Request<v1::DialRequest>,
    ) -> Result<Response<v1::DialResponse>, Status> {
        handle!("Calls/Dial", {
            let r = request.get_ref();
            // Digits that are neither a feature nor an extension are bad input.
            let tenant = self.existing_tenant(&r.tenant)?;
            let codes = self
                .node
                .consensus
                .read(|sb| sb.tenant(&tenant).map(|t| t.config.feature_codes.clone()));
            if let Some(codes) = codes {
                codes.parse(&r.digits).map_err(super::invalid)?;
            }
            let cmd = once(
                "Calls/Dial",
                &request,
                convert::dial(r, now_ms(), rand::random()),
            );
            match self.decide(cmd).await? {
                Decided::Dial(outcome) => {
                    match &outcome {
                        DialOutcome::Call(c) => {
                            let label = match c {
                                callgrid_model::CallOutcome::Ringing { .. } => "ringing",
                                callgrid_model::CallOutcome::Unavailable { .. } => "unavailable",
                                callgrid_model::CallOutcome::NoSuchExtension => "no_such_extension",
                                callgrid_model::CallOutcome::UnknownCaller => "unknown_caller",
                            };
                            metrics::counter!("callgrid_dials_total", "outcome" => label)
                                .increment(1);
                        }
                        DialOutcome::Pickup(p) => count_pickup("feature_code", p),
                        DialOutcome::Retrieve(r) => count_retrieve(r),
                    }
                    Ok(v1::DialResponse::from(&outcome))
                }
                other => Err(unexpected(other)),
            }
        })
    }

    async fn answer(
        &self,
        request: Request<v1::AnswerRequest>,
    ) -> Result<Response<v1::AnswerResponse>, Status> {
        handle!("Calls/Answer", {
            match self
                .decide(once(
                    "Calls/Answer",
                    &request,
                    convert::answer(request.get_ref(), now_ms()),
                ))
                .await?
            {
                Decided::Answer(outcome) => {
                    let label = match outcome {
                        callgrid_model::AnswerOutcome::Answered { .. } => "answered",
                        callgrid_model::AnswerOutcome::AlreadyAnswered => "already_answered",
                        callgrid_model::AnswerOutcome::NotAlerting => "not_alerting",
                        callgrid_model::AnswerOutcome::CallEnded => "call_ended",
                        callgrid_model::AnswerOutcome::UnknownCall => "unknown_call",
                        callgrid_model::AnswerOutcome::NotPermitted => "not_permitted",
                    };
                    metrics::counter!("callgrid_answers_total", "outcome" => label).increment(1);
                    Ok(v1::AnswerResponse::from(&outcome))
                }
                other => Err(unexpected(other)),
            }
        })
    }

    async fn hangup(
        &self,
        request: Request<v1::HangupRequest>,
    ) -> Result<Response<v1::HangupResponse>, Status> {
        handle!("Calls/Hangup", {
            match self
                .decide(once(
                    "Calls/Hangup",
                    &request,
                    convert::hangup(request.get_ref(), now_ms()),
                ))
                .await?
            {
                Decided::Hangup(outcome) => Ok(v1::HangupResponse::from(&outcome)),
                other => Err(unexpected(other)),
            }
        })
    }

    async fn get_call(
        &self,
        request: Request<v1::GetCallRequest>,
    ) -> Result<Response<v1::GetCallResponse>, Status> {
        handle!("Calls/GetCall", {
            let r = request.get_ref();
            let tenant = self.existing_tenant(&r.tenant)?;
            let call = self
                .node
                .consensus
                .read(|sb| {
                    sb.call(CallId::in_tenant(&tenant, r.call_id))
                        .filter(|c| c.tenant == tenant)
                        .map(convert::call_info)
                })
                .ok_or_else(|| {
                    Status::not_found(format!("call_id: no call {} in tenant {tenant}", r.call_id))
                })?;
            Ok(v1::GetCallResponse { call: Some(call) })
        })
    }

    async fn list_calls(
        &self,
        request: Request<v1::ListCallsRequest>,
    ) -> Result<Response<v1::ListCallsResponse>, Status> {
        handle!("Calls/ListCalls", {
            let tenant = self.existing_tenant(&request.get_ref().tenant)?;
            let calls = self
                .node
                .consensus
                .read(|sb| sb.calls_of(&tenant).map(convert::call_info).collect());
            Ok(v1::ListCallsResponse { calls })
        })
    }
}
