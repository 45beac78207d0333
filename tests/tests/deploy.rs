//! The deployment artifacts in deploy/ work with the real binary: the
//! systemd unit passes `systemd-analyze verify` and its commands are valid
//! `callgrid` command lines; the Kubernetes manifests render with
//! kustomize; the StatefulSet's init script gives each pod its node id,
//! advertised address and join target; and every `CALLGRID_*` variable the
//! artifacts and README mention is one the binary reads.
//!
//! Tools that a machine may lack (systemd-analyze, kubectl) make their test
//! say so and skip.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use callgrid_tests::binary;
use callgrid_tests::prereq;
use callgrid_tests::prometheus::{which, workspace_root};

fn deploy(path: &str) -> PathBuf {
    workspace_root().join("deploy").join(path)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A minimal valid config file in `dir`.
fn minimal_config(dir: &Path) -> PathBuf {
    let file = dir.join("callgrid.toml");
    std::fs::write(
        &file,
        format!("data_dir = \"{}\"\n", dir.join("data").display()),
    )
    .expect("write config");
    file
}

fn without_callgrid_env(cmd: &mut Command) -> &mut Command {
    for (key, _) in std::env::vars() {
        if key.starts_with("CALLGRID_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_and_runs_valid_command_lines() {
    let unit = read(&deploy("systemd/callgrid.service"));
    let real = binary("callgrid");
    let dir = tempfile::tempdir().expect("tempdir");
    let config = minimal_config(dir.path());

    // Its command lines, against the real binary and a real config file.
    let commands: Vec<&str> = unit
        .lines()
        .filter_map(|l| {
            l.strip_prefix("ExecStartPre=")
                .or_else(|| l.strip_prefix("ExecStart="))
        })
        .collect();
    assert_eq!(commands.len(), 2, "ExecStartPre (check) and ExecStart");
    for command in &commands {
        let mut words = command.split_whitespace();
        assert_eq!(words.next(), Some("/usr/local/bin/callgrid"));
        let args: Vec<String> = words
            .map(|w| {
                if w == "/etc/callgrid/callgrid.toml" {
                    config.display().to_string()
                } else {
                    w.to_string()
                }
            })
            .collect();
        if args.iter().any(|a| a == "--check-config") {
            let out = without_callgrid_env(Command::new(&real).args(&args))
                .output()
                .expect("callgrid runs");
            assert!(
                out.status.success(),
                "{command}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        } else {
            // The serve command line parses (checked without starting a node).
            let out = without_callgrid_env(Command::new(&real).args(&args).arg("--check-config"))
                .output()
                .expect("runs");
            assert!(
                out.status.success(),
                "{command}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    let Some(analyze) = prereq::needs(
        prereq::SYSTEMD_ANALYZE,
        which("systemd-analyze").ok_or("not on PATH (the unit's command lines were checked)"),
    ) else {
        return;
    };
    // systemd checks that ExecStart's program exists: point it at the build.
    let local = dir.path().join("callgrid.service");
    std::fs::write(
        &local,
        unit.replace("/usr/local/bin/callgrid", &real.display().to_string()),
    )
    .expect("write unit");
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&local)
        .output()
        .expect("systemd-analyze runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {stderr}"
    );
}

#[test]
fn the_kubernetes_manifests_render_with_kustomize() {
    let Some(kubectl) = prereq::needs(prereq::KUBECTL, which("kubectl").ok_or("not on PATH"))
    else {
        return;
    };
    let out = Command::new(kubectl)
        .arg("kustomize")
        .arg(deploy("k8s"))
        .output()
        .expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl kustomize: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rendered = String::from_utf8_lossy(&out.stdout);
    for kind in [
        "kind: StatefulSet",
        "kind: Service",
        "kind: PodDisruptionBudget",
        "kind: Secret",
        "clusterIP: None",
    ] {
        assert!(
            rendered.contains(kind),
            "{kind} missing from the rendered manifests"
        );
    }
}

/// The script of the StatefulSet's init container (its `args: - |` block).
fn init_script(manifest: &str) -> String {
    let mut lines = manifest.lines().skip_while(|l| l.trim() != "- |");
    lines
        .next()
        .expect("the StatefulSet has a `- |` script in args");
    let body: Vec<&str> = lines
        .take_while(|l| l.trim().is_empty() || l.starts_with("              "))
        .collect();
    body.iter()
        .map(|l| l.get(14..).unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_statefulset_gives_each_pod_its_node_id_advertise_address_and_join_target() {
    let manifest = read(&deploy("k8s/statefulset.yaml"));
    assert!(
        manifest.contains("args: [\"serve\", \"--config\", \"/run/callgrid/callgrid.toml\"]"),
        "the node runs on the config the init container writes"
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let generated = dir.path().join("node.toml");
    // The pod's paths, moved into the tempdir; the shared file is the one
    // kustomize puts in the Secret.
    let script = init_script(&manifest)
        .replace(
            "/etc/callgrid/callgrid.toml",
            &deploy("k8s/callgrid.toml").display().to_string(),
        )
        .replace(
            "/run/callgrid/callgrid.toml",
            &generated.display().to_string(),
        );

    for (pod, node_id, join) in [
        ("callgrid-0", 1, None),
        (
            "callgrid-2",
            3,
            Some("callgrid-0.callgrid.prod.svc.cluster.local:7700"),
        ),
    ] {
        let out = Command::new("sh")
            .arg("-c")
            .arg(&script)
            .env("POD_NAME", pod)
            .env("POD_NAMESPACE", "prod")
            .env("SERVICE_NAME", "callgrid")
            .output()
            .expect("sh runs");
        assert!(
            out.status.success(),
            "{pod}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // The container's environment, then the real binary checks the file.
        let mut cmd = Command::new(binary("callgrid"));
        without_callgrid_env(&mut cmd)
            .args([
                "serve",
                "--config",
                &generated.display().to_string(),
                "--check-config",
            ])
            .env("CALLGRID_LISTEN", "0.0.0.0:7700")
            .env("CALLGRID_DATA_DIR", dir.path().join("data"));
        let out = cmd.output().expect("callgrid runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{pod}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let has = |line: &str| stdout.lines().any(|l| l == line);
        assert!(
            has(&format!("node_id = {node_id}  # config file")),
            "{pod}:\n{stdout}"
        );
        assert!(
            has(&format!(
                "advertise = \"{pod}.callgrid.prod.svc.cluster.local:7700\"  # config file"
            )),
            "{pod}:\n{stdout}"
        );
        match join {
            Some(seed) => assert!(
                has(&format!("join = \"{seed}\"  # config file")),
                "{pod}:\n{stdout}"
            ),
            None => assert!(has("# join = (not set)"), "{pod}:\n{stdout}"),
        }
    }
}

#[test]
fn every_callgrid_variable_the_deploy_artifacts_mention_is_read_by_the_binary() {
    let help = Command::new(binary("callgrid"))
        .args(["serve", "--help"])
        .output()
        .expect("callgrid runs");
    let help = String::from_utf8_lossy(&help.stdout);
    let mut mentioned = BTreeSet::new();
    for file in [
        "README.md",
        "k8s/statefulset.yaml",
        "systemd/callgrid.service",
        "callgrid.example.toml",
    ] {
        let text = read(&deploy(file));
        for (i, _) in text.match_indices("CALLGRID_") {
            let name: String = text[i..]
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                .collect();
            if name.len() > "CALLGRID_".len() && !name.ends_with('_') {
                mentioned.insert((file, name));
            }
        }
    }
    assert!(!mentioned.is_empty());
    for (file, name) in mentioned {
        assert!(
            help.contains(&format!("[env: {name}=")),
            "{file} mentions {name}, which `callgrid serve` does not read"
        );
    }
}
