//! `callgrid.v1.Calls`: dial, answer, hang up, look.

use callgrid_model::{AnswerOutcome, CallId, DialOutcome, HangupOutcome};
use callgrid_proto::convert;
use callgrid_proto::v1::{self, calls_server::Calls};
use tonic::{Request, Response, Status};

use super::{Api, handle, label, once};
use callgrid_actors::now_ms;

/// Counts a pickup's outcome under its kind.
pub(super) fn count_pickup(kind: &'static str, response: &v1::PickupResponse) {
    metrics::counter!("callgrid_pickups_total", "kind" => kind, "outcome" => label(response.result().as_str_name()))
        .increment(1);
}

/// Counts a retrieve's outcome.
pub(super) fn count_retrieve(response: &v1::RetrieveResponse) {
    metrics::counter!("callgrid_retrieves_total", "outcome" => label(response.result().as_str_name()))
        .increment(1);
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
                .shared
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
            let outcome: DialOutcome = self.decide(cmd).await?;
            let response = v1::DialResponse::from(&outcome);
            match &response.outcome {
                Some(v1::dial_response::Outcome::Call(c)) => {
                    metrics::counter!("callgrid_dials_total", "outcome" => label(c.result().as_str_name()))
                        .increment(1);
                }
                Some(v1::dial_response::Outcome::Pickup(p)) => count_pickup("feature_code", p),
                Some(v1::dial_response::Outcome::Retrieve(r)) => count_retrieve(r),
                None => {}
            }
            Ok(response)
        })
    }

    async fn answer(
        &self,
        request: Request<v1::AnswerRequest>,
    ) -> Result<Response<v1::AnswerResponse>, Status> {
        handle!("Calls/Answer", {
            let outcome: AnswerOutcome = self
                .decide(once(
                    "Calls/Answer",
                    &request,
                    convert::answer(request.get_ref(), now_ms()),
                ))
                .await?;
            let response = v1::AnswerResponse::from(&outcome);
            metrics::counter!("callgrid_answers_total", "outcome" => label(response.result().as_str_name()))
                .increment(1);
            Ok(response)
        })
    }

    async fn hangup(
        &self,
        request: Request<v1::HangupRequest>,
    ) -> Result<Response<v1::HangupResponse>, Status> {
        handle!("Calls/Hangup", {
            let outcome: HangupOutcome = self
                .decide(once(
                    "Calls/Hangup",
                    &request,
                    convert::hangup(request.get_ref(), now_ms()),
                ))
                .await?;
            Ok(v1::HangupResponse::from(&outcome))
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
                .shared
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
                .shared
                .consensus
                .read(|sb| sb.calls_of(&tenant).map(convert::call_info).collect());
            Ok(v1::ListCallsResponse { calls })
        })
    }
}
