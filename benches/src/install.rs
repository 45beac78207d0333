//! Software the bench drives that is not part of callgrid (SIPp, etcd):
//! installed from Debian's packages with apt-get where missing, as the
//! tests do.

use anyhow::Context;

/// `apt-get install -y <package>`, with an `apt-get update` first if the
/// package lists are stale; `Err` says why it cannot.
pub fn debian_package(package: &str) -> anyhow::Result<()> {
    let install = || {
        std::process::Command::new("apt-get")
            .args(["install", "-y", "-q", package])
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
    };
    let first =
        install().with_context(|| format!("{package} is not installed and apt-get cannot run"))?;
    if !first.status.success() {
        let _ = std::process::Command::new("apt-get")
            .args(["update", "-q"])
            .output();
        let again = install().context("apt-get")?;
        anyhow::ensure!(
            again.status.success(),
            "apt-get install {package} failed: {}",
            String::from_utf8_lossy(&again.stderr)
        );
    }
    Ok(())
}
