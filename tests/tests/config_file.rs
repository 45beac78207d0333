//! Configuration and logs of the real binary: one TOML file under the
//! environment and flags (flag > environment > file > default),
//! `--check-config` validating and printing the effective settings or
//! naming the bad key, a node started from the file alone using its values,
//! and `log_format = "json"` giving one JSON object per line whose request
//! spans carry node, method, tenant and call id.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use callgrid_tests::prometheus::free_port;
use callgrid_tests::{Clients, START_TIMEOUT, api, binary, eventually};

/// `callgrid` with `args`, none of the caller's `CALLGRID_*` variables,
/// and `env` added.
fn callgrid(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(binary("callgrid"));
    cmd.args(args).stdin(Stdio::null());
    for (key, _) in std::env::vars() {
        if key.starts_with("CALLGRID_") {
            cmd.env_remove(key);
        }
    }
    cmd.env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE");
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd
}

fn check_config(file: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let mut args = vec![
        "serve",
        "--config",
        file.to_str().expect("utf-8 path"),
        "--check-config",
    ];
    args.extend_from_slice(extra);
    callgrid(&args, env).output().expect("callgrid runs")
}

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

#[test]
fn check_config_prints_the_effective_settings_with_their_sources_and_exits_0() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Tokens need mutual TLS; --check-config reads the PEM files only for
    // their markers.
    let cert = write(dir.path(), "node.crt", "-----BEGIN CERTIFICATE-----\n");
    let key = write(dir.path(), "node.key", "-----BEGIN PRIVATE KEY-----\n");
    let ca = write(dir.path(), "ca.crt", "-----BEGIN CERTIFICATE-----\n");
    let file = write(
        dir.path(),
        "callgrid.toml",
        &format!(
            "node_id = 7\nmetrics = \"127.0.0.1:9799\"\nlog_format = \"json\"\n\n\
             [tls]\ncert = {cert:?}\nkey = {key:?}\nclient_ca = {ca:?}\n\n\
             [[tokens]]\ntoken = \"a-very-long-secret-token\"\nrole = \"tenant_admin\"\ntenant = \"acme\"\n"
        ),
    );
    let out = check_config(&file, &[], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "exit {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "node_id = 7  # config file",
        "metrics = \"127.0.0.1:9799\"  # config file",
        "log_format = \"json\"  # config file",
        "listen = \"127.0.0.1:7700\"  # default",
        "role = \"tenant_admin\"",
        "tenant = \"acme\"",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line:?} in:\n{stdout}"
        );
    }
    assert!(
        !stdout.contains("a-very-long-secret-token"),
        "a token secret was printed:\n{stdout}"
    );
    // What it prints is itself a valid config file.
    let reprinted = write(
        dir.path(),
        "effective.toml",
        &stdout.replace("<24 characters, not shown>", "another-long-secret-token"),
    );
    let again = check_config(&reprinted, &[], &[]);
    assert!(
        again.status.success(),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    // And nothing was started: no data directory appeared.
    assert!(!dir.path().join("callgrid-data").exists());
}

#[test]
fn check_config_refuses_a_bad_file_naming_the_key_and_rule() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cases: &[(&str, &[&str])] = &[
        (
            "listen = \"not-an-address\"\n",
            &["`listen`", "invalid socket address"],
        ),
        (
            "lisen = \"127.0.0.1:1\"\n",
            &["`lisen`", "unknown key", "listen"],
        ),
        ("node_id = \"seven\"\n", &["`node_id`", "seven"]),
        ("snapshot_every = 3\n", &["`snapshot_every`", "3"]),
        ("timer_scale = 0\n", &["`timer_scale`", "above 0"]),
        ("log_format = \"xml\"\n", &["`log_format`", "xml"]),
        (
            "[tls]\ncert = \"/nonexistent/node.crt\"\nkey = \"/nonexistent/node.key\"\n",
            &["`tls.cert`", "cannot read"],
        ),
        (
            "[tls]\ncert = \"/nonexistent/node.crt\"\n",
            &["`tls.key`", "required"],
        ),
        ("[tls]\ncrt = \"x\"\n", &["`tls.crt`", "unknown key"]),
        (
            "[[tokens]]\ntoken = \"a-very-long-secret-token\"\nrole = \"tenant_admin\"\n",
            &["`tokens[0].tenant`", "required"],
        ),
        (
            "[[tokens]]\ntoken = \"short\"\nrole = \"cluster_admin\"\n",
            &["`tokens[0].token`", "16"],
        ),
        (
            "[[tokens]]\ntoken = \"a-very-long-secret-token\"\nrole = \"root\"\n",
            &["`tokens[0]`", "root"],
        ),
        (
            "[[tokens]]\ntoken = \"a-very-long-secret-token\"\nrole = \"extension_user\"\ntenant = \"acme\"\n",
            &["`tokens[0].extension`", "required"],
        ),
        (
            "[[tokens]]\ntoken = \"a-very-long-secret-token\"\nrole = \"cluster_admin\"\n",
            &["`tls.client_ca`", "required when [[tokens]] are set"],
        ),
        (
            "listen = [1, 2]\n",
            &["`listen`", "string, number or boolean"],
        ),
        ("listen = \n", &["line 1", "callgrid.toml"]),
    ];
    for (text, fragments) in cases {
        let file = write(dir.path(), "callgrid.toml", text);
        let out = check_config(&file, &[], &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{text:?} was accepted: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            out.stdout.is_empty(),
            "{text:?}: printed a configuration although invalid"
        );
        for fragment in *fragments {
            assert!(
                stderr.contains(fragment),
                "{text:?}: {fragment:?} not in the error:\n{stderr}"
            );
        }
        assert!(
            !stderr.contains("backtrace"),
            "{text:?}: a configuration error is a message, not a crash:\n{stderr}"
        );
    }
    // A missing file is named too.
    let out = check_config(&dir.path().join("missing.toml"), &[], &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
}

#[test]
fn environment_overrides_the_file_and_flags_override_the_environment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let file = write(
        dir.path(),
        "callgrid.toml",
        "node_id = 5\ntimer_scale = 0.5\ndata_dir = \"/from/file\"\n",
    );
    let out = check_config(
        &file,
        &["--node-id", "8"],
        &[("CALLGRID_NODE_ID", "6"), ("CALLGRID_TIMER_SCALE", "0.25")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "node_id = 8  # flag",
        "timer_scale = 0.25  # environment",
        "data_dir = \"/from/file\"  # config file",
    ] {
        assert!(
            stdout.lines().any(|l| l == line),
            "missing {line:?} in:\n{stdout}"
        );
    }
    // The file itself can come from the environment.
    let out = callgrid(
        &["serve", "--check-config"],
        &[("CALLGRID_CONFIG", file.to_str().expect("utf-8"))],
    )
    .output()
    .expect("runs");
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l == "node_id = 5  # config file")
    );
    // A bad environment value is refused before the file is even read.
    let out = check_config(&file, &[], &[("CALLGRID_LISTEN", "nowhere")]);
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nowhere"));
}

/// A `callgrid serve` process started by a test; killed when dropped.
struct Served {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Served {
    /// Starts `callgrid` and waits (bounded) for its "callgrid serving" line.
    fn start(mut cmd: Command) -> Served {
        let mut child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("callgrid starts");
        let stderr = child.stderr.take().expect("stderr is piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = mpsc::channel();
        let sink = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("callgrid serving") {
                    let _ = ready_tx.send(());
                }
                sink.lock().expect("lines lock").push(line);
            }
        });
        let served = Served { child, lines };
        if ready_rx.recv_timeout(START_TIMEOUT).is_err() {
            panic!("callgrid did not start serving; its log:\n{}", served.log());
        }
        served
    }

    fn log(&self) -> String {
        self.lines.lock().expect("lines lock").join("\n")
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().expect("lines lock").clone()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn connect(addr: &str) -> Clients {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("valid endpoint")
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {addr}: {e}"));
    Clients::new(channel)
}

#[tokio::test]
async fn a_node_started_from_a_config_file_alone_uses_its_values_and_logs_json_with_request_spans()
{
    let dir = tempfile::tempdir().expect("tempdir");
    let (grpc, metrics) = (free_port(), free_port());
    let file = write(
        dir.path(),
        "callgrid.toml",
        &format!(
            "listen = \"127.0.0.1:{grpc}\"\nmetrics = \"127.0.0.1:{metrics}\"\ndata_dir = \"{}\"\n\
             node_id = 4\nlog_format = \"json\"\nhttp = \"127.0.0.1:0\"\n",
            dir.path().join("data").display()
        ),
    );
    let node = Served::start(callgrid(
        &["serve", "--config", file.to_str().expect("utf-8")],
        &[("RUST_LOG", "info,callgrid_node=debug,openraft=warn")],
    ));

    // The file's listen address, data directory and node id are used.
    let mut c = connect(&format!("127.0.0.1:{grpc}")).await;
    let status = c
        .cluster
        .status(api::StatusRequest {})
        .await
        .expect("status")
        .into_inner();
    assert_eq!(status.node_id, 4);
    assert!(
        dir.path().join("data").is_dir(),
        "the data directory of the file was used"
    );
    let scrape = std::net::TcpStream::connect(("127.0.0.1", metrics));
    assert!(scrape.is_ok(), "metrics listen on the file's address");

    // Requests with a tenant and a call id.
    c.tenant_with("acme", &["101", "102", "103"]).await;
    let call = c.ring("acme", "103", "102").await;
    c.calls
        .answer(api::AnswerRequest {
            tenant: "acme".into(),
            call_id: call,
            by: "102".into(),
        })
        .await
        .expect("answered");

    // Every line is one JSON object with the standard fields.
    let answered = eventually(
        Duration::from_secs(10),
        "the answer's request span in the log",
        || async {
            let lines = node.lines();
            lines
                .iter()
                .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
                .find(|l| {
                    l["span"]["method"] == "Calls/Answer"
                        && l["fields"]["message"] == "request done"
                })
        },
    )
    .await;
    for line in node.lines() {
        let json: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        for field in ["timestamp", "level", "target", "fields"] {
            assert!(json.get(field).is_some(), "no {field} in {line}");
        }
    }
    let serving = node
        .lines()
        .into_iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .find(|l| {
            l["fields"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("callgrid serving"))
        })
        .expect("a serving line");
    assert_eq!(serving["fields"]["node"], 4);
    assert_eq!(serving["fields"]["grpc"], format!("127.0.0.1:{grpc}"));

    // The request span names the node, method, tenant, acting extension and call.
    let span = &answered["span"];
    assert_eq!(span["name"], "request");
    assert_eq!(span["node"], 4);
    assert_eq!(span["tenant"], "acme");
    assert_eq!(span["acting"], "102");
    assert_eq!(span["call_id"], call);
    assert_eq!(answered["fields"]["code"], "Ok");
    drop(node);
}

#[tokio::test]
async fn the_environment_overrides_the_file_in_a_running_node() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (from_file, from_env, metrics) = (free_port(), free_port(), free_port());
    let file = write(
        dir.path(),
        "callgrid.toml",
        &format!(
            "listen = \"127.0.0.1:{from_file}\"\nmetrics = \"127.0.0.1:{metrics}\"\ndata_dir = \"{}\"\nnode_id = 3\nhttp = \"127.0.0.1:0\"\n",
            dir.path().join("data").display()
        ),
    );
    let listen = format!("127.0.0.1:{from_env}");
    let node = Served::start(callgrid(
        &["serve", "--config", file.to_str().expect("utf-8")],
        &[("CALLGRID_LISTEN", &listen), ("CALLGRID_NODE_ID", "9")],
    ));
    let mut c = connect(&listen).await;
    let status = c
        .cluster
        .status(api::StatusRequest {})
        .await
        .expect("status")
        .into_inner();
    assert_eq!(status.node_id, 9, "CALLGRID_NODE_ID overrides the file");
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", from_file)).is_err(),
        "nothing listens on the file's address when the environment overrides it; log:\n{}",
        node.log()
    );
}

/// Writes `text` with permission bits `mode`.
fn write_with_mode(dir: &Path, name: &str, text: &str, mode: u32) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let path = write(dir, name, text);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    path
}

#[test]
fn a_syntax_error_names_file_line_and_key_but_never_prints_the_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = "a-very-long-secret-token-4f9c";
    let file = write_with_mode(
        dir.path(),
        "callgrid.toml",
        &format!("node_id = 3\n\n[[tokens]]\ntoken = \"{secret}\nrole = \"cluster_admin\"\n"),
        0o600,
    );
    let out = check_config(&file, &[], &[]);
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_eq!(out.status.code(), Some(1), "accepted: {stdout}");
    for fragment in ["callgrid.toml", "line 4", "`tokens[0].token`"] {
        assert!(stderr.contains(fragment), "{fragment:?} not in:\n{stderr}");
    }
    assert!(
        !stderr.contains(secret) && !stdout.contains(secret),
        "the secret was printed:\n{stderr}{stdout}"
    );
}

#[test]
fn a_config_file_group_or_others_can_write_is_refused_naming_file_and_mode() {
    let dir = tempfile::tempdir().expect("tempdir");
    for mode in [0o664, 0o646, 0o666] {
        let file = write_with_mode(dir.path(), "loose.toml", "node_id = 3\n", mode);
        let out = check_config(&file, &[], &[]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "mode {mode:o} was accepted");
        for fragment in ["loose.toml".to_string(), format!("mode 0{mode:o}")] {
            assert!(stderr.contains(&fragment), "{fragment:?} not in:\n{stderr}");
        }
    }
    let tight = write_with_mode(dir.path(), "tight.toml", "node_id = 3\n", 0o640);
    let out = check_config(&tight, &[], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("warning"),
        "a file only owner and group can read is not warned about"
    );
}

#[tokio::test]
async fn a_node_warns_at_start_about_a_config_file_others_can_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (grpc, metrics) = (free_port(), free_port());
    let file = write_with_mode(
        dir.path(),
        "callgrid.toml",
        &format!(
            "listen = \"127.0.0.1:{grpc}\"\nmetrics = \"127.0.0.1:{metrics}\"\n\
             data_dir = \"{}\"\nsip = \"off\"\nhttp = \"off\"\n",
            dir.path().join("data").display()
        ),
        0o644,
    );
    let node = Served::start(callgrid(
        &["serve", "--config", file.to_str().expect("utf-8")],
        &[],
    ));
    let warning = node
        .lines()
        .into_iter()
        .find(|l| l.contains("WARN") && l.contains("callgrid.toml"))
        .unwrap_or_else(|| panic!("no warning about the file; log:\n{}", node.log()));
    assert!(warning.contains("0644"), "{warning}");
}
