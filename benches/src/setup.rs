//! The directory setup phase: tenants, the park policy, extensions. Timed
//! and reported on its own, apart from the scenario.

use std::time::{Duration, Instant};

use callgrid_proto::v1::{self, directory_client::DirectoryClient};
use serde::Serialize;

use crate::layout::{self, Layout};
use crate::recorder::Recorder;
use crate::runner::{Budget, drive};
use crate::stats::Summary;
use crate::target::Pool;

/// Park codes the bench policy hands out: the widest range allowed.
const PARK_CODES: (u32, u32) = (10, 9999);
/// The longest park timeout allowed, so churn never rings back.
const PARK_TIMEOUT_SECS: u32 = 1800;

#[derive(Debug, Clone, Serialize)]
pub struct SetupReport {
    pub tenants: u32,
    pub extensions_per_tenant: u32,
    pub writes: u64,
    pub secs: f64,
    pub writes_per_sec: f64,
    pub latency: Summary,
}

async fn put_tenant(pool: &Pool, rec: &mut Recorder, tenant: String) {
    let mut dir = DirectoryClient::new(pool.for_slot(0));
    let put = dir.put_tenant(v1::PutTenantRequest {
        tenant: tenant.clone(),
        config: None,
    });
    rec.rpc("put_tenant", put).await;
    let policy = v1::ParkPolicy {
        name: layout::PARK_POLICY.to_owned(),
        allow_parking: Some(true),
        code_start: PARK_CODES.0,
        code_end: PARK_CODES.1,
        timeout_secs: PARK_TIMEOUT_SECS,
    };
    let put = dir.put_park_policy(v1::PutParkPolicyRequest {
        tenant,
        policy: Some(policy),
    });
    rec.rpc("put_park_policy", put).await;
}

/// Creates (or replaces) every tenant and extension of `layout`.
pub async fn run(pool: &Pool, layout: Layout, concurrency: usize) -> anyhow::Result<SetupReport> {
    let started = Instant::now();
    let mut rec = Recorder::default();
    for t in 0..layout.tenants {
        put_tenant(pool, &mut rec, layout::tenant_name(t)).await;
    }
    let total = layout.total_extensions();
    let (extensions, _) = drive("setup", concurrency, Budget::Ops(total), |slot, work| {
        let mut dir = DirectoryClient::new(pool.for_slot(slot));
        async move {
            let mut rec = Recorder::default();
            while let Some(i) = work.next() {
                let tenant = (i / u64::from(layout.extensions)) as u32;
                let index = (i % u64::from(layout.extensions)) as u32;
                let put = dir.put_extension(v1::PutExtensionRequest {
                    tenant: layout::tenant_name(tenant),
                    extension: Some(layout.extension(index)),
                });
                rec.rpc("put_extension", put).await;
                work.finished();
            }
            rec
        }
    })
    .await?;
    rec.merge(extensions);
    if let Some((what, e)) = rec.errors.iter().next() {
        anyhow::bail!(
            "directory setup failed: {} error(s), first {what}: {}",
            rec.error_total(),
            e.example
        );
    }
    let secs = started.elapsed().as_secs_f64();
    let mut all = crate::stats::Latency::default();
    for l in rec.latency.values() {
        all.merge(l);
    }
    let writes = all.count();
    Ok(SetupReport {
        tenants: layout.tenants,
        extensions_per_tenant: layout.extensions,
        writes,
        secs,
        writes_per_sec: writes as f64 / secs.max(1e-9),
        latency: all.summary(),
    })
}

/// Waits until a node answers its health check (a spawned node, or a
/// target that is still starting).
pub async fn wait_healthy(pool: &Pool, within: Duration) -> anyhow::Result<()> {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
    let deadline = Instant::now() + within;
    for t in 0..pool.targets() {
        let mut health = HealthClient::new(pool.channel(t, 0));
        loop {
            let r = health.check(HealthCheckRequest::default()).await;
            match r {
                Ok(_) => break,
                Err(e) if Instant::now() > deadline => {
                    anyhow::bail!("target {t} is not healthy after {within:?}: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }
    Ok(())
}
