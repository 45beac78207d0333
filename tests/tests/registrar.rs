//! SIP registration against a real node: an extension's write-only SIP
//! password, digest checks that cannot tell an unknown extension (or
//! tenant) from a wrong password, bindings that light the lamp, go dark
//! when they lapse and survive a restart, and bad input refused naming its
//! field (DESIGN §1 "SIP
//! edge", §3.2-3.4).
//!
//! One node serves the whole file: each behaviour below is a step of the
//! one test, in its own tenant or extension.

use callgrid_tests::{Clients, TestNode, api, assert_refused, extension, next_lamp};
use md5::{Digest, Md5};
use tonic::Code;

const T: &str = "acme";
const PASSWORD: &str = "Circle Of Life";
const CONTACT: &str = "sip:101@192.0.2.7:5062";

fn md5_hex(s: &str) -> String {
    Md5::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What a phone knowing `password` answers to nonce "n-1" with qop=auth,
/// computed here independently of the node (realm = tenant).
fn answer(tenant: &str, number: &str, password: &str) -> api::AuthenticateRequest {
    let ha1 = md5_hex(&format!("{number}:{tenant}:{password}"));
    let ha2 = md5_hex(&format!("REGISTER:sip:{tenant}.example"));
    api::AuthenticateRequest {
        tenant: tenant.into(),
        extension: number.into(),
        method: "REGISTER".into(),
        uri: format!("sip:{tenant}.example"),
        nonce: "n-1".into(),
        nc: "00000001".into(),
        cnonce: "c-1".into(),
        qop: "auth".into(),
        response: md5_hex(&format!("{ha1}:n-1:00000001:c-1:auth:{ha2}")),
    }
}

async fn authenticates(c: &mut Clients, request: api::AuthenticateRequest) -> bool {
    c.registrar
        .authenticate(request)
        .await
        .expect("authenticate answers")
        .into_inner()
        .ok
}

fn register_request(number: &str, contact: &str, expires_s: u32) -> api::RegisterRequest {
    api::RegisterRequest {
        tenant: T.into(),
        extension: number.into(),
        contact: contact.into(),
        edge: "192.0.2.1:5060".into(),
        source: "udp:192.0.2.7:5062".into(),
        expires_s,
    }
}

async fn register(
    c: &mut Clients,
    number: &str,
    contact: &str,
    expires_s: u32,
) -> Vec<api::Binding> {
    c.registrar
        .register(register_request(number, contact, expires_s))
        .await
        .unwrap_or_else(|s| panic!("register {number} {contact}: {s}"))
        .into_inner()
        .bindings
}

async fn lookup(c: &mut Clients, number: &str) -> Vec<api::Binding> {
    c.registrar
        .lookup(api::LookupRequest {
            tenant: T.into(),
            extension: number.into(),
        })
        .await
        .unwrap_or_else(|s| panic!("lookup {number}: {s}"))
        .into_inner()
        .bindings
}

/// Tenant `acme` with 101 (password, offline until registered) and 102
/// (no password); tenant `globex` with its own 101 and the same password.
async fn furnish(c: &mut Clients) {
    c.tenant_with(T, &["102"]).await;
    let with_password = api::Extension {
        online: Some(false),
        sip_password: Some(PASSWORD.into()),
        ..extension("101")
    };
    let stored = c.try_put_extension(T, with_password.clone()).await.unwrap();
    assert_eq!(stored.sip_password, None, "PutExtension does not echo it");
    c.tenant_with("globex", &[]).await;
    c.put_extension("globex", with_password).await;
}

async fn the_password_is_write_only_and_an_edit_without_it_keeps_it(c: &mut Clients) {
    let read = c.get_extension(T, "101").await;
    assert_eq!(read.sip_password, None, "GetExtension");
    let listed = c
        .directory
        .list_extensions(api::ListExtensionsRequest { tenant: T.into() })
        .await
        .unwrap()
        .into_inner();
    assert!(listed.extensions.iter().all(|e| e.sip_password.is_none()));

    let renamed = api::Extension {
        display_name: "Front desk".into(),
        online: Some(false),
        ..extension("101")
    };
    c.put_extension(T, renamed).await;
    assert!(
        authenticates(c, answer(T, "101", PASSWORD)).await,
        "an edit without sip_password keeps the secret"
    );
}

async fn a_digest_is_ok_only_with_the_right_password_and_all_failures_look_alike(c: &mut Clients) {
    assert!(authenticates(c, answer(T, "101", PASSWORD)).await);
    let failures = [
        ("wrong password", answer(T, "101", "Circle of Life")),
        ("extension without a password", answer(T, "102", PASSWORD)),
        ("unknown extension", answer(T, "199", PASSWORD)),
        ("unknown tenant", answer("nobody", "101", PASSWORD)),
        // globex's 101 has the same password, but the realm differs: a
        // response computed for acme proves nothing in globex.
        (
            "other tenant's realm",
            api::AuthenticateRequest {
                tenant: "globex".into(),
                ..answer(T, "101", PASSWORD)
            },
        ),
    ];
    for (what, request) in failures {
        let reply = c.registrar.authenticate(request).await;
        let reply = reply.unwrap_or_else(|s| panic!("{what}: refused {s}, not ok=false"));
        assert_eq!(
            reply.into_inner(),
            api::AuthenticateResponse { ok: false },
            "{what}"
        );
    }
    assert!(authenticates(c, answer("globex", "101", PASSWORD)).await);
    let auth_int = api::AuthenticateRequest {
        qop: "auth-int".into(),
        ..answer(T, "101", PASSWORD)
    };
    assert_refused(
        c.registrar.authenticate(auth_int).await,
        Code::InvalidArgument,
        &["qop", "auth-int"],
    );
}

async fn registering_binds_the_contact_and_brings_the_extension_online_until_removed(
    c: &mut Clients,
) {
    let mut lamps = c.try_watch_lamps(T, "", &["101"], &[]).await.unwrap();
    assert_eq!(next_lamp(&mut lamps).await.state(), api::LampState::Offline);

    let bindings = register(c, "101", CONTACT, 7200).await;
    assert_eq!(bindings.len(), 1);
    let b = &bindings[0];
    assert_eq!(
        (b.contact.as_str(), b.edge.as_str(), b.source.as_str()),
        (CONTACT, "192.0.2.1:5060", "udp:192.0.2.7:5062")
    );
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(
        b.expires_at_ms <= now_ms + 3_600_000,
        "7200 s is granted 3600 s"
    );
    assert!(b.expires_at_ms > now_ms + 3_500_000);
    assert_eq!(lookup(c, "101").await, bindings);
    assert_eq!(next_lamp(&mut lamps).await.state(), api::LampState::Idle);
    assert_eq!(c.get_extension(T, "101").await.online, Some(true));

    assert!(register(c, "101", CONTACT, 0).await.is_empty());
    assert!(lookup(c, "101").await.is_empty());
    assert_eq!(next_lamp(&mut lamps).await.state(), api::LampState::Offline);
    assert_eq!(c.get_extension(T, "101").await.online, Some(false));
}

async fn bad_or_unregistrable_requests_are_refused_and_change_nothing(c: &mut Clients) {
    register(c, "101", CONTACT, 600).await;
    let before = lookup(c, "101").await;
    let bad = [
        (
            register_request("101", "101@192.0.2.7", 60),
            Code::InvalidArgument,
            vec!["contact", "sip: or sips:"],
        ),
        (
            api::RegisterRequest {
                edge: String::new(),
                ..register_request("101", CONTACT, 60)
            },
            Code::InvalidArgument,
            vec!["edge"],
        ),
        (
            api::RegisterRequest {
                source: "s".repeat(65),
                ..register_request("101", CONTACT, 60)
            },
            Code::InvalidArgument,
            vec!["source", "64"],
        ),
        (
            register_request("101", "sip:lapsed@callgrid.invalid", 60),
            Code::InvalidArgument,
            vec!["contact", "reserved"],
        ),
        (
            register_request("102", "sip:102@192.0.2.8", 60),
            Code::FailedPrecondition,
            vec!["102", "no SIP password"],
        ),
        (
            register_request("199", "sip:199@192.0.2.8", 60),
            Code::NotFound,
            vec!["extension", "199"],
        ),
    ];
    for (request, code, fragments) in bad {
        assert_refused(c.registrar.register(request).await, code, &fragments);
    }
    let bad_password = api::Extension {
        sip_password: Some("short".into()),
        ..extension("101")
    };
    assert_refused(
        c.try_put_extension(T, bad_password).await,
        Code::InvalidArgument,
        &["extension.sip_password", "8 to 128 printable ASCII"],
    );
    assert_eq!(lookup(c, "101").await, before, "nothing changed");
    assert!(authenticates(c, answer(T, "101", PASSWORD)).await);
    assert_refused(
        c.registrar
            .lookup(api::LookupRequest {
                tenant: T.into(),
                extension: "199".into(),
            })
            .await,
        Code::NotFound,
        &["extension", "199"],
    );
}

/// Nobody unregisters a phone that was unplugged: its binding lapses, and
/// the extension goes offline (its lamp too) within a sweep of the expiry,
/// without another REGISTER.
async fn a_binding_nobody_refreshes_takes_the_extension_offline_when_it_lapses(c: &mut Clients) {
    c.put_extension(
        T,
        api::Extension {
            online: Some(false),
            sip_password: Some(PASSWORD.into()),
            ..extension("160")
        },
    )
    .await;
    let mut lamps = c.try_watch_lamps(T, "", &["160"], &[]).await.unwrap();
    assert_eq!(next_lamp(&mut lamps).await.state(), api::LampState::Offline);
    assert_eq!(register(c, "160", "sip:160@192.0.2.10", 1).await.len(), 1);
    assert_eq!(next_lamp(&mut lamps).await.state(), api::LampState::Idle);
    // The lamp's next change is the lapse: bounded by next_lamp's timeout.
    assert_eq!(next_lamp(&mut lamps).await.state(), api::LampState::Offline);
    assert!(lookup(c, "160").await.is_empty());
    assert_eq!(c.get_extension(T, "160").await.online, Some(false));
}

async fn deleting_the_extension_drops_its_bindings(c: &mut Clients) {
    let with_password = api::Extension {
        sip_password: Some(PASSWORD.into()),
        ..extension("150")
    };
    c.put_extension(T, with_password.clone()).await;
    register(c, "150", "sip:150@192.0.2.9", 600).await;
    c.directory
        .delete_extension(api::DeleteExtensionRequest {
            tenant: T.into(),
            number: "150".into(),
        })
        .await
        .expect("deleted");
    c.put_extension(T, with_password).await;
    assert!(lookup(c, "150").await.is_empty());
}

/// `callgrid_sip_auth_failures_total` as the node's /metrics shows it.
async fn auth_failures(node: &TestNode) -> f64 {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut http = tokio::net::TcpStream::connect(node.metrics).await.unwrap();
    http.write_all(b"GET /metrics HTTP/1.0\r\nHost: callgrid\r\n\r\n")
        .await
        .unwrap();
    let mut page = String::new();
    http.read_to_string(&mut page).await.unwrap();
    page.lines()
        .find_map(|l| l.strip_prefix("callgrid_sip_auth_failures_total "))
        .map_or(0.0, |v| v.trim().parse().expect("a number"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sip_phones_authenticate_register_and_their_bindings_survive_a_restart() {
    let mut node = TestNode::start(1.0);
    let mut c = node.clients().await;
    furnish(&mut c).await;
    the_password_is_write_only_and_an_edit_without_it_keeps_it(&mut c).await;
    a_digest_is_ok_only_with_the_right_password_and_all_failures_look_alike(&mut c).await;
    assert_eq!(auth_failures(&node).await, 5.0, "each ok=false is counted");
    registering_binds_the_contact_and_brings_the_extension_online_until_removed(&mut c).await;
    bad_or_unregistrable_requests_are_refused_and_change_nothing(&mut c).await;
    deleting_the_extension_drops_its_bindings(&mut c).await;
    a_binding_nobody_refreshes_takes_the_extension_offline_when_it_lapses(&mut c).await;

    // An acknowledged registration and the secret come back after SIGKILL.
    let before = lookup(&mut c, "101").await;
    assert_eq!(before.len(), 1);
    node.kill();
    node.restart();
    let mut c = node.clients().await;
    assert_eq!(lookup(&mut c, "101").await, before);
    assert_eq!(c.get_extension(T, "101").await.online, Some(true));
    assert!(authenticates(&mut c, answer(T, "101", PASSWORD)).await);
}
