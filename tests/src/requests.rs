//! Typed shorthands for the requests every suite makes.
//!
//! Plain names expect success and panic with the request's context when the
//! node refuses; `try_*` names hand the status back, for tests of refusals.
//! Business outcomes (pickup, answer, park results) are returned as the
//! node sent them, for the test to judge.

use tonic::{Code, Status, Streaming};

use crate::{Clients, EVENT_TIMEOUT, api, eventually};

/// An extension as a call party.
pub fn ext(number: &str) -> api::Party {
    api::Party {
        kind: Some(api::party::Kind::Extension(number.into())),
    }
}

/// An outside (PSTN) number as a call party.
pub fn outside(number: &str) -> api::Party {
    api::Party {
        kind: Some(api::party::Kind::Outside(number.into())),
    }
}

/// An extension record with only its number: every optional flag absent.
pub fn extension(number: &str) -> api::Extension {
    api::Extension {
        number: number.into(),
        ..Default::default()
    }
}

/// A call-group member alerted `alert`, without delay.
pub fn member(number: &str, alert: api::AlertMode) -> api::CallGroupMember {
    api::CallGroupMember {
        extension: number.into(),
        alert: alert as i32,
        delay_secs: 0,
    }
}

/// The ordinary-call outcome of a dial; panics if the digits meant a feature.
pub fn as_call(dial: &api::DialResponse) -> &api::CallResponse {
    match &dial.outcome {
        Some(api::dial_response::Outcome::Call(c)) => c,
        other => panic!("expected an ordinary call, got {other:?}"),
    }
}

/// The pickup outcome of a dialled pickup code.
pub fn as_pickup(dial: &api::DialResponse) -> &api::PickupResponse {
    match &dial.outcome {
        Some(api::dial_response::Outcome::Pickup(p)) => p,
        other => panic!("expected a pickup outcome, got {other:?}"),
    }
}

/// The retrieve outcome of a dialled retrieve code.
pub fn as_retrieve(dial: &api::DialResponse) -> &api::RetrieveResponse {
    match &dial.outcome {
        Some(api::dial_response::Outcome::Retrieve(r)) => r,
        other => panic!("expected a retrieve outcome, got {other:?}"),
    }
}

/// Everything the directory holds for one tenant, read back through the
/// API: what "a refusal changes nothing" compares.
#[derive(Debug, Clone, PartialEq)]
pub struct DirectorySnapshot {
    pub tenants: Vec<api::Tenant>,
    pub extensions: Vec<api::Extension>,
    pub call_groups: Vec<api::CallGroup>,
    pub park_policies: Vec<api::ParkPolicy>,
}

fn not_found_is_none<T>(result: Result<T, Status>) -> Option<T> {
    match result {
        Ok(v) => Some(v),
        Err(s) if s.code() == Code::NotFound => None,
        Err(s) => panic!("unexpected refusal: {s}"),
    }
}

impl Clients {
    /// Creates or replaces a tenant, returning its stored settings.
    pub async fn put_tenant(
        &mut self,
        tenant: &str,
        config: api::TenantConfig,
    ) -> api::TenantConfig {
        self.directory
            .put_tenant(api::PutTenantRequest {
                tenant: tenant.into(),
                config: Some(config),
            })
            .await
            .unwrap_or_else(|s| panic!("tenant {tenant} not stored: {s}"))
            .into_inner()
            .config
            .expect("stored config")
    }

    pub async fn try_put_extension(
        &mut self,
        tenant: &str,
        extension: api::Extension,
    ) -> Result<api::Extension, Status> {
        let request = api::PutExtensionRequest {
            tenant: tenant.into(),
            extension: Some(extension),
        };
        Ok(self
            .directory
            .put_extension(request)
            .await?
            .into_inner()
            .extension
            .expect("stored extension"))
    }

    pub async fn get_extension(&mut self, tenant: &str, number: &str) -> api::Extension {
        let request = api::GetExtensionRequest {
            tenant: tenant.into(),
            number: number.into(),
        };
        self.directory
            .get_extension(request)
            .await
            .unwrap_or_else(|s| panic!("extension {number} not read: {s}"))
            .into_inner()
            .extension
            .expect("extension present")
    }

    pub async fn try_put_call_group(
        &mut self,
        tenant: &str,
        group: api::CallGroup,
    ) -> Result<api::CallGroup, Status> {
        let request = api::PutCallGroupRequest {
            tenant: tenant.into(),
            group: Some(group),
        };
        Ok(self
            .directory
            .put_call_group(request)
            .await?
            .into_inner()
            .group
            .expect("stored group"))
    }

    pub async fn put_call_group(&mut self, tenant: &str, group: api::CallGroup) -> api::CallGroup {
        self.try_put_call_group(tenant, group)
            .await
            .unwrap_or_else(|s| panic!("call group not stored: {s}"))
    }

    /// The call group `owner` owns, or `None` (NOT_FOUND).
    pub async fn call_group(&mut self, tenant: &str, owner: &str) -> Option<api::CallGroup> {
        let request = api::GetCallGroupRequest {
            tenant: tenant.into(),
            owner: owner.into(),
        };
        not_found_is_none(self.directory.get_call_group(request).await)
            .and_then(|r| r.into_inner().group)
    }

    pub async fn try_put_park_policy(
        &mut self,
        tenant: &str,
        policy: api::ParkPolicy,
    ) -> Result<api::ParkPolicy, Status> {
        let request = api::PutParkPolicyRequest {
            tenant: tenant.into(),
            policy: Some(policy),
        };
        Ok(self
            .directory
            .put_park_policy(request)
            .await?
            .into_inner()
            .policy
            .expect("stored policy"))
    }

    pub async fn try_grant(
        &mut self,
        tenant: &str,
        number: &str,
        policy: &str,
    ) -> Result<(), Status> {
        let request = api::GrantParkPolicyRequest {
            tenant: tenant.into(),
            number: number.into(),
            policy: policy.into(),
        };
        self.directory.grant_park_policy(request).await.map(drop)
    }

    /// Stores `policy` and grants it to each of `holders`.
    pub async fn park_group(&mut self, tenant: &str, policy: api::ParkPolicy, holders: &[&str]) {
        let name = policy.name.clone();
        self.try_put_park_policy(tenant, policy)
            .await
            .unwrap_or_else(|s| panic!("policy {name} not stored: {s}"));
        for h in holders {
            self.try_grant(tenant, h, &name)
                .await
                .unwrap_or_else(|s| panic!("{name} not granted to {h}: {s}"));
        }
    }

    /// The default park policy `lobby` (codes 10-99), granted to `holders`.
    pub async fn lobby(&mut self, tenant: &str, holders: &[&str]) {
        let policy = api::ParkPolicy {
            name: "lobby".into(),
            ..Default::default()
        };
        self.park_group(tenant, policy, holders).await;
    }

    /// Everything the directory holds for `tenant` (empty lists when it does not exist).
    pub async fn snapshot(&mut self, tenant: &str) -> DirectorySnapshot {
        let tenants = self
            .directory
            .list_tenants(api::ListTenantsRequest {})
            .await
            .expect("tenants listed");
        let list = api::ListExtensionsRequest {
            tenant: tenant.into(),
        };
        let extensions = not_found_is_none(self.directory.list_extensions(list).await)
            .map(|r| r.into_inner().extensions)
            .unwrap_or_default();
        let mut call_groups = Vec::new();
        for e in &extensions {
            call_groups.extend(self.call_group(tenant, &e.number).await);
        }
        let list = api::ListParkPoliciesRequest {
            tenant: tenant.into(),
        };
        let park_policies = not_found_is_none(self.directory.list_park_policies(list).await)
            .map(|r| r.into_inner().policies)
            .unwrap_or_default();
        DirectorySnapshot {
            tenants: tenants.into_inner().tenants,
            extensions,
            call_groups,
            park_policies,
        }
    }

    /// Dials `digits` from any party, handing back a refusal.
    pub async fn try_dial(
        &mut self,
        tenant: &str,
        from: api::Party,
        digits: &str,
    ) -> Result<api::DialResponse, Status> {
        let request = api::DialRequest {
            tenant: tenant.into(),
            from: Some(from),
            digits: digits.into(),
        };
        Ok(self.calls.dial(request).await?.into_inner())
    }

    pub async fn answer(&mut self, tenant: &str, call_id: u64, by: &str) -> api::AnswerResponse {
        let request = api::AnswerRequest {
            tenant: tenant.into(),
            call_id,
            by: by.into(),
        };
        self.calls
            .answer(request)
            .await
            .expect("answer decided")
            .into_inner()
    }

    pub async fn hangup(
        &mut self,
        tenant: &str,
        call_id: u64,
        by: api::Party,
    ) -> api::HangupResponse {
        let request = api::HangupRequest {
            tenant: tenant.into(),
            call_id,
            by: Some(by),
        };
        self.calls
            .hangup(request)
            .await
            .expect("hangup decided")
            .into_inner()
    }

    /// A call from `from` to `to`, answered by `to`.
    pub async fn answered_call(&mut self, tenant: &str, from: &str, to: &str) -> u64 {
        let call = self.ring(tenant, from, to).await;
        let answer = self.answer(tenant, call, to).await;
        assert_eq!(
            answer.result(),
            api::AnswerResult::Answered,
            "{to} answers call {call}"
        );
        call
    }

    /// Polls the call until `want` holds (bounded by [`EVENT_TIMEOUT`]).
    pub async fn wait_for_call(
        &mut self,
        tenant: &str,
        call_id: u64,
        what: &str,
        want: impl Fn(&api::CallInfo) -> bool,
    ) -> api::CallInfo {
        let want = &want;
        eventually(EVENT_TIMEOUT, what, || {
            let mut c = self.clone();
            async move { Some(c.call_info(tenant, call_id).await).filter(|info| want(info)) }
        })
        .await
    }

    pub async fn directed_pickup(
        &mut self,
        tenant: &str,
        picker: &str,
        target: &str,
    ) -> api::PickupResponse {
        let request = api::DirectedPickupRequest {
            tenant: tenant.into(),
            picker: picker.into(),
            target: target.into(),
        };
        self.pickup
            .directed_pickup(request)
            .await
            .expect("pickup decided")
            .into_inner()
    }

    pub async fn group_pickup(&mut self, tenant: &str, picker: &str) -> api::PickupResponse {
        let request = api::GroupPickupRequest {
            tenant: tenant.into(),
            picker: picker.into(),
        };
        self.pickup
            .group_pickup(request)
            .await
            .expect("pickup decided")
            .into_inner()
    }

    pub async fn named_pickup(
        &mut self,
        tenant: &str,
        picker: &str,
        group_name: &str,
    ) -> api::PickupResponse {
        let request = api::NamedPickupRequest {
            tenant: tenant.into(),
            picker: picker.into(),
            group_name: group_name.into(),
        };
        self.pickup
            .named_pickup(request)
            .await
            .expect("pickup decided")
            .into_inner()
    }

    pub async fn blf_pickup(
        &mut self,
        tenant: &str,
        picker: &str,
        target: &str,
        call_id: Option<u64>,
    ) -> api::PickupResponse {
        let request = api::BlfPickupRequest {
            tenant: tenant.into(),
            picker: picker.into(),
            target: target.into(),
            call_id,
        };
        self.pickup
            .blf_pickup(request)
            .await
            .expect("pickup decided")
            .into_inner()
    }

    pub async fn park_call(
        &mut self,
        tenant: &str,
        call_id: u64,
        by: &str,
        code: Option<u32>,
    ) -> api::ParkResponse {
        let request = api::ParkRequest {
            tenant: tenant.into(),
            call_id,
            by: by.into(),
            code,
        };
        self.park
            .park(request)
            .await
            .expect("park decided")
            .into_inner()
    }

    pub async fn retrieve(&mut self, tenant: &str, by: &str, code: u32) -> api::RetrieveResponse {
        let request = api::RetrieveRequest {
            tenant: tenant.into(),
            by: by.into(),
            code,
        };
        self.park
            .retrieve(request)
            .await
            .expect("retrieve decided")
            .into_inner()
    }

    pub async fn list_parked(&mut self, tenant: &str) -> Vec<api::ParkedCall> {
        let request = api::ListParkedRequest {
            tenant: tenant.into(),
        };
        self.park
            .list_parked(request)
            .await
            .expect("parked calls listed")
            .into_inner()
            .parked
    }

    /// Follows `number`'s notifications; the subscription is live when this returns.
    pub async fn notifications(
        &mut self,
        tenant: &str,
        number: &str,
    ) -> Streaming<api::Notification> {
        self.try_notifications(tenant, number)
            .await
            .unwrap_or_else(|s| panic!("notifications of {number}: {s}"))
    }

    pub async fn try_notifications(
        &mut self,
        tenant: &str,
        number: &str,
    ) -> Result<Streaming<api::Notification>, Status> {
        let request = api::NotificationsRequest {
            tenant: tenant.into(),
            extension: number.into(),
        };
        Ok(self.presence.notifications(request).await?.into_inner())
    }

    pub async fn try_watch_lamps(
        &mut self,
        tenant: &str,
        watcher: &str,
        extensions: &[&str],
        park_codes: &[u32],
    ) -> Result<Streaming<api::LampEvent>, Status> {
        let request = api::WatchLampsRequest {
            tenant: tenant.into(),
            watcher: watcher.into(),
            extensions: extensions.iter().map(|e| e.to_string()).collect(),
            park_codes: park_codes.to_vec(),
        };
        Ok(self.presence.watch_lamps(request).await?.into_inner())
    }
}
