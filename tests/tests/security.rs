//! Security of the real binary: TLS for clients (a client trusting the CA
//! connects; plaintext and untrusting clients do not), mutual TLS between
//! nodes (a cluster forms over it; the node-to-node service refuses a
//! caller without a cluster certificate), and bearer tokens scoped to a
//! tenant and role: every cross-tenant and cross-role attempt is refused
//! with the right status and changes nothing, while what each role may do
//! still works.

use std::path::{Path, PathBuf};
use std::time::Duration;

use callgrid_proto::internal::{JoinRequest, PingRequest, peer_client::PeerClient};
use callgrid_tests::pki::Pki;
use callgrid_tests::prometheus::free_port;
use callgrid_tests::routing::{forwarded, ring_and_pick_up};
use callgrid_tests::{Clients, Node, NodeOptions, api, eventually};
use tonic::transport::{Channel, ClientTlsConfig};
use tonic::{Code, Request, Status};

/// Waits (bounded) until the node has logged `text`.
fn logged(node: &Node, text: &str) {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !node.log().contains(text) {
        assert!(
            std::time::Instant::now() < deadline,
            "{text:?} not logged; log:\n{}",
            node.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn path(p: &Path) -> String {
    p.to_str().expect("utf-8 path").to_string()
}

async fn tls_channel(addr: &str, tls: ClientTlsConfig) -> Result<Channel, tonic::transport::Error> {
    Channel::from_shared(format!("https://{addr}"))
        .expect("valid endpoint")
        .tls_config(tls)?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
}

async fn status_over(channel: Channel, token: Option<&str>) -> Result<api::StatusResponse, Status> {
    Clients::new(channel)
        .cluster
        .status(with(token, api::StatusRequest {}))
        .await
        .map(|r| r.into_inner())
}

#[tokio::test]
async fn tls_clients_trusting_the_ca_connect_and_plaintext_or_untrusting_clients_do_not() {
    let pki = Pki::new("clients");
    let (cert, key) = pki.issue("node1");
    let dir = tempfile::tempdir().expect("tempdir");
    let node = Node::start(
        dir.path(),
        NodeOptions {
            extra_args: vec![
                "--tls-cert".into(),
                path(&cert),
                "--tls-key".into(),
                path(&key),
            ],
            ..Default::default()
        },
    );
    logged(
        &node,
        "callgrid serving (TLS, no authentication (development mode))",
    );
    let addr = node.grpc.to_string();

    let trusted = tls_channel(
        &addr,
        ClientTlsConfig::new().ca_certificate(pki.ca_certificate()),
    )
    .await
    .expect("TLS connects");
    assert_eq!(
        status_over(trusted, None)
            .await
            .expect("a request over TLS")
            .node_id,
        1
    );

    // A plaintext client gets no answer from a TLS port.
    let plaintext = Channel::from_shared(format!("http://{addr}"))
        .expect("valid endpoint")
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await;
    let refused = match plaintext {
        Err(_) => true,
        Ok(channel) => status_over(channel, None).await.is_err(),
    };
    assert!(refused, "a plaintext client was served by a TLS node");

    // A client that trusts another CA refuses the node's certificate.
    let stranger = Pki::new("stranger");
    let untrusting = tls_channel(
        &addr,
        ClientTlsConfig::new().ca_certificate(stranger.ca_certificate()),
    )
    .await;
    let refused = match untrusting {
        Err(_) => true,
        Ok(channel) => status_over(channel, None).await.is_err(),
    };
    assert!(
        refused,
        "a client trusting another CA accepted the node's certificate"
    );
}

#[tokio::test]
async fn nodes_form_a_cluster_over_mutual_tls_refuse_peers_without_a_cluster_certificate_and_serve_each_request_of_a_tls_client_with_a_token_at_its_owner()
 {
    let pki = Pki::new("cluster");
    let addrs: Vec<String> = (0..2)
        .map(|_| format!("127.0.0.1:{}", free_port()))
        .collect();
    let dirs: Vec<_> = (0..2)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    let config_dir = tempfile::tempdir().expect("tempdir");
    let config = tokens_file(config_dir.path());
    let mut nodes = Vec::new();
    for (i, addr) in addrs.iter().enumerate() {
        let (cert, key) = pki.issue(&format!("node{}", i + 1));
        let mut extra_args = vec![
            "--listen".to_string(),
            addr.clone(),
            "--tls-cert".into(),
            path(&cert),
            "--tls-key".into(),
            path(&key),
            "--tls-client-ca".into(),
            path(&pki.ca_path()),
            "--config".into(),
            path(&config),
        ];
        if i > 0 {
            extra_args.extend(["--join".to_string(), addrs[0].clone()]);
        }
        nodes.push(Node::start(
            dirs[i].path(),
            NodeOptions {
                node_id: i as u64 + 1,
                extra_args,
                ..Default::default()
            },
        ));
    }
    logged(
        &nodes[0],
        "callgrid serving (TLS, mutual TLS between nodes, bearer tokens)",
    );

    // The second node joined through the first over mutual TLS, and both see
    // one leader and both members, each owning shards.
    let client_tls = ClientTlsConfig::new().ca_certificate(pki.ca_certificate());
    for addr in &addrs {
        eventually(
            Duration::from_secs(60),
            "both nodes to see a two-member cluster with a leader",
            || async {
                let channel = tls_channel(addr, client_tls.clone()).await.ok()?;
                let status = status_over(channel, Some(ADMIN)).await.ok()?;
                (status.leader_id.is_some()
                    && status.membership.len() == 2
                    && status.membership.iter().all(|m| m.shards > 0))
                .then_some(())
            },
        )
        .await;
    }

    // The node-to-node service refuses a TLS caller without a client
    // certificate...
    let anonymous = tls_channel(&addrs[0], client_tls.clone())
        .await
        .expect("TLS connects");
    let refused = PeerClient::new(anonymous)
        .ping(PingRequest::default())
        .await
        .expect_err("refused");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused}");
    // ...and one whose certificate another CA signed fails the handshake.
    let stranger = Pki::new("stranger");
    let forged = client_tls.clone().identity(stranger.identity("intruder"));
    let refused = match tls_channel(&addrs[0], forged).await {
        Err(_) => true,
        Ok(channel) => PeerClient::new(channel)
            .ping(PingRequest::default())
            .await
            .is_err(),
    };
    assert!(refused, "a peer certificate from another CA was accepted");
    // A node certificate from the cluster CA is let through.
    let member = client_tls.clone().identity(pki.identity("node3"));
    let channel = tls_channel(&addrs[0], member)
        .await
        .expect("mutual TLS connects");
    let mut member = PeerClient::new(channel);
    member
        .ping(PingRequest::default())
        .await
        .expect("a cluster certificate is accepted");

    // Even a caller with a cluster certificate cannot add a node that is not
    // there: bad fields are refused by name, an address nobody answers on is
    // refused before it reaches the membership...
    let refused = member
        .join(JoinRequest {
            node_id: 0,
            addr: String::new(),
        })
        .await
        .expect_err("node 0 refused");
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused}");
    assert!(refused.message().contains("node_id"), "{refused}");
    let refused = member
        .join(JoinRequest {
            node_id: 77,
            addr: String::new(),
        })
        .await
        .expect_err("an empty address refused");
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused}");
    assert!(refused.message().contains("addr"), "{refused}");
    let refused = member
        .join(JoinRequest {
            node_id: 77,
            addr: "127.0.0.1:1".into(),
        })
        .await
        .expect_err("an unreachable node refused");
    assert_eq!(refused.code(), Code::FailedPrecondition, "{refused}");
    assert!(refused.message().contains("does not answer"), "{refused}");
    // ...so the cluster keeps its two members and still commits writes.
    let channel = tls_channel(&addrs[0], client_tls.clone())
        .await
        .expect("TLS connects");
    let status = status_over(channel.clone(), Some(ADMIN))
        .await
        .expect("status");
    assert_eq!(status.membership.len(), 2, "{:?}", status.membership);
    Clients::new(channel)
        .directory
        .put_tenant(with(
            Some(ADMIN),
            api::PutTenantRequest {
                tenant: "still-writing".into(),
                config: None,
            },
        ))
        .await
        .expect("the cluster still commits");

    // The shard-aware client, over TLS with the cluster admin's token,
    // learns the members (advertised as host:port, dialled over https with
    // the same CA and token) and sends each request to its owner: no node
    // forwards any of them.
    let seed = format!("https://localhost:{}", nodes[0].grpc.port());
    let client = callgrid_client::Client::builder()
        .tls(std::fs::read(pki.ca_path()).expect("CA"), None)
        .token(ADMIN)
        .connect(&[&seed])
        .await
        .expect("the client connects with TLS and a token");
    let targets: Vec<String> = (200..216).map(|n| n.to_string()).collect();
    let mut directory = api::directory_client::DirectoryClient::new(client.any());
    directory
        .put_tenant(api::PutTenantRequest {
            tenant: "acme".into(),
            config: None,
        })
        .await
        .expect("the cluster admin creates acme through the client");
    for number in ["100", "101"]
        .into_iter()
        .chain(targets.iter().map(String::as_str))
    {
        directory
            .put_extension(api::PutExtensionRequest {
                tenant: "acme".into(),
                extension: Some(api::Extension {
                    number: number.into(),
                    ..Default::default()
                }),
            })
            .await
            .expect("extension stored");
    }
    let key = |number: &str| callgrid_client::Key::extension("acme", number).expect("valid key");
    let owners: std::collections::BTreeSet<u64> = targets
        .iter()
        .filter_map(|t| client.owner(&key(t)))
        .collect();
    assert_eq!(
        owners.len(),
        2,
        "the targets live on both nodes: {owners:?}"
    );
    let before = forwarded(&nodes).await;
    for target in &targets {
        ring_and_pick_up(client.channel(&key(target)), "acme", "101", "100", target).await;
    }
    assert_eq!(
        forwarded(&nodes).await,
        before,
        "no dial or pickup of the client was forwarded"
    );

    // A tenant admin's token may not read the shard map: that client knows
    // no owner, and its requests still reach theirs through the seed.
    let tenant_admin = callgrid_client::Client::builder()
        .tls(std::fs::read(pki.ca_path()).expect("CA"), None)
        .token(ACME_ADMIN)
        .connect(&[&seed])
        .await
        .expect("a client whose token may not read the map connects all the same");
    assert_eq!(tenant_admin.owner(&key("200")), None);
    ring_and_pick_up(
        tenant_admin.channel(&key("200")),
        "acme",
        "101",
        "100",
        "200",
    )
    .await;
}

const ADMIN: &str = "cluster-admin-secret-0001";
const ACME_ADMIN: &str = "acme-admin-secret-000001";
const GLOBEX_ADMIN: &str = "globex-admin-secret-0001";
const ACME_101: &str = "acme-101-user-secret-0001";
const GLOBEX_201: &str = "globex-201-user-secret-01";

fn tokens_file(dir: &Path) -> PathBuf {
    let file = dir.join("callgrid.toml");
    let text = format!(
        "[[tokens]]\ntoken = \"{ADMIN}\"\nrole = \"cluster_admin\"\n\n\
         [[tokens]]\ntoken = \"{ACME_ADMIN}\"\nrole = \"tenant_admin\"\ntenant = \"acme\"\n\n\
         [[tokens]]\ntoken = \"{GLOBEX_ADMIN}\"\nrole = \"tenant_admin\"\ntenant = \"globex\"\n\n\
         [[tokens]]\ntoken = \"{ACME_101}\"\nrole = \"extension_user\"\ntenant = \"acme\"\nextension = \"101\"\n\n\
         [[tokens]]\ntoken = \"{GLOBEX_201}\"\nrole = \"extension_user\"\ntenant = \"globex\"\nextension = \"201\"\n"
    );
    std::fs::write(&file, text).expect("write config");
    file
}

/// A node in the documented secure mode: TLS, mutual TLS between nodes
/// (the cluster CA of `pki`) and the bearer tokens of [`tokens_file`].
fn secure_node(pki: &Pki, dir: &Path) -> Node {
    let (cert, key) = pki.issue("node1");
    let config = tokens_file(dir);
    Node::start(
        &dir.join("data"),
        NodeOptions {
            extra_args: vec![
                "--tls-cert".into(),
                path(&cert),
                "--tls-key".into(),
                path(&key),
                "--tls-client-ca".into(),
                path(&pki.ca_path()),
                "--config".into(),
                path(&config),
            ],
            ..Default::default()
        },
    )
}

/// `msg` with `token` as its bearer token (or none).
fn with<T>(token: Option<&str>, msg: T) -> Request<T> {
    let mut request = Request::new(msg);
    if let Some(token) = token {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {token}").parse().expect("ascii token"),
        );
    }
    request
}

fn party(extension: &str) -> Option<api::Party> {
    Some(api::Party {
        kind: Some(api::party::Kind::Extension(extension.into())),
    })
}

/// Everything a refused request could have changed, as the cluster admin
/// reads it.
async fn snapshot(c: &mut Clients) -> String {
    let a = Some(ADMIN);
    let mut out = format!(
        "{:?}\n",
        c.directory
            .list_tenants(with(a, api::ListTenantsRequest {}))
            .await
            .expect("tenants")
            .into_inner()
    );
    for tenant in ["acme", "globex"] {
        let t = || tenant.to_string();
        out += &format!(
            "{:?}\n{:?}\n{:?}\n{:?}\n",
            c.directory
                .list_extensions(with(a, api::ListExtensionsRequest { tenant: t() }))
                .await
                .expect("extensions")
                .into_inner(),
            c.directory
                .list_park_policies(with(a, api::ListParkPoliciesRequest { tenant: t() }))
                .await
                .expect("policies")
                .into_inner(),
            c.calls
                .list_calls(with(a, api::ListCallsRequest { tenant: t() }))
                .await
                .expect("calls")
                .into_inner(),
            c.park
                .list_parked(with(a, api::ListParkedRequest { tenant: t() }))
                .await
                .expect("parked")
                .into_inner(),
        );
        for number in ["101", "201"] {
            let bindings = c
                .registrar
                .lookup(with(
                    a,
                    api::LookupRequest {
                        tenant: t(),
                        extension: number.into(),
                    },
                ))
                .await;
            out += &format!(
                "{number} bindings: {:?}\n",
                bindings.map(|b| b.into_inner()).map_err(|s| s.code())
            );
        }
        for owner in ["101", "102", "201", "202"] {
            let group = c
                .directory
                .get_call_group(with(
                    a,
                    api::GetCallGroupRequest {
                        tenant: t(),
                        owner: owner.into(),
                    },
                ))
                .await;
            out += &format!(
                "{owner}: {:?}\n",
                group.map(|g| g.into_inner()).map_err(|s| s.code())
            );
        }
    }
    out
}

/// Asserts a refusal with `code`, saying which attempt it was.
fn refused<T: std::fmt::Debug>(what: &str, result: Result<tonic::Response<T>, Status>, code: Code) {
    match result {
        Ok(r) => panic!(
            "{what}: expected {code:?}, but it was allowed: {:?}",
            r.into_inner()
        ),
        Err(status) => assert_eq!(status.code(), code, "{what}: {status}"),
    }
}

#[tokio::test]
async fn every_cross_tenant_and_cross_role_attempt_is_refused_and_changes_nothing() {
    let pki = Pki::new("roles");
    let dir = tempfile::tempdir().expect("tempdir");
    let node = secure_node(&pki, dir.path());
    logged(
        &node,
        "callgrid serving (TLS, mutual TLS between nodes, bearer tokens)",
    );
    let mut c = Clients::new(
        tls_channel(
            &node.grpc.to_string(),
            ClientTlsConfig::new().ca_certificate(pki.ca_certificate()),
        )
        .await
        .expect("TLS connects"),
    );
    let a = Some(ADMIN);

    // The cluster admin sets up two tenants, each with a park policy, a
    // call group, a ringing call and a parked call.
    for (tenant, numbers) in [
        ("acme", ["101", "102", "103"]),
        ("globex", ["201", "202", "203"]),
    ] {
        c.directory
            .put_tenant(with(
                a,
                api::PutTenantRequest {
                    tenant: tenant.into(),
                    config: None,
                },
            ))
            .await
            .expect("tenant");
        for n in numbers {
            let extension = api::Extension {
                number: n.into(),
                sip_password: Some("phone-secret".into()),
                ..Default::default()
            };
            c.directory
                .put_extension(with(
                    a,
                    api::PutExtensionRequest {
                        tenant: tenant.into(),
                        extension: Some(extension),
                    },
                ))
                .await
                .expect("extension");
        }
        let policy = api::ParkPolicy {
            name: "lobby".into(),
            ..Default::default()
        };
        c.directory
            .put_park_policy(with(
                a,
                api::PutParkPolicyRequest {
                    tenant: tenant.into(),
                    policy: Some(policy),
                },
            ))
            .await
            .expect("policy");
        for n in &numbers[..2] {
            let grant = api::GrantParkPolicyRequest {
                tenant: tenant.into(),
                number: (*n).into(),
                policy: "lobby".into(),
            };
            c.directory
                .grant_park_policy(with(a, grant))
                .await
                .expect("grant");
        }
        let group = api::CallGroup {
            owner: numbers[1].into(),
            members: vec![api::CallGroupMember {
                extension: numbers[2].into(),
                ..Default::default()
            }],
            ..Default::default()
        };
        c.directory
            .put_call_group(with(
                a,
                api::PutCallGroupRequest {
                    tenant: tenant.into(),
                    group: Some(group),
                },
            ))
            .await
            .expect("group");
    }
    let dial = |tenant: &str, from: &str, to: &str| api::DialRequest {
        tenant: tenant.into(),
        from: party(from),
        digits: to.into(),
    };
    let call_id = |r: api::DialResponse| match r.outcome {
        Some(api::dial_response::Outcome::Call(call)) => call.call_id,
        other => panic!("not a call: {other:?}"),
    };
    let acme_ringing = call_id(
        c.calls
            .dial(with(a, dial("acme", "103", "102")))
            .await
            .expect("dial")
            .into_inner(),
    );
    let globex_ringing = call_id(
        c.calls
            .dial(with(a, dial("globex", "203", "202")))
            .await
            .expect("dial")
            .into_inner(),
    );
    let acme_parked = call_id(
        c.calls
            .dial(with(a, dial("acme", "103", "101")))
            .await
            .expect("dial")
            .into_inner(),
    );
    c.calls
        .answer(with(
            a,
            api::AnswerRequest {
                tenant: "acme".into(),
                call_id: acme_parked,
                by: "101".into(),
            },
        ))
        .await
        .expect("answer");
    let code = c
        .park
        .park(with(
            a,
            api::ParkRequest {
                tenant: "acme".into(),
                call_id: acme_parked,
                by: "101".into(),
                code: None,
            },
        ))
        .await
        .expect("park")
        .into_inner()
        .code;
    let before = snapshot(&mut c).await;

    const UNAUTH: Code = Code::Unauthenticated;
    const DENIED: Code = Code::PermissionDenied;
    let pickup = |tenant: &str, picker: &str, target: &str| api::DirectedPickupRequest {
        tenant: tenant.into(),
        picker: picker.into(),
        target: target.into(),
    };
    let list_calls = |tenant: &str| api::ListCallsRequest {
        tenant: tenant.into(),
    };

    // No token, an unknown token, a malformed header: UNAUTHENTICATED.
    refused(
        "no token",
        c.pickup
            .directed_pickup(with(None, pickup("acme", "101", "102")))
            .await,
        UNAUTH,
    );
    refused(
        "no token, read",
        c.calls.list_calls(with(None, list_calls("acme"))).await,
        UNAUTH,
    );
    refused(
        "unknown token",
        c.calls
            .list_calls(with(Some("not-a-configured-token"), list_calls("acme")))
            .await,
        UNAUTH,
    );
    let mut basic = Request::new(list_calls("acme"));
    basic.metadata_mut().insert(
        "authorization",
        format!("Basic {ADMIN}").parse().expect("ascii"),
    );
    refused(
        "not a bearer token",
        c.calls.list_calls(basic).await,
        UNAUTH,
    );
    refused(
        "no token, stream",
        c.presence
            .notifications(with(
                None,
                api::NotificationsRequest {
                    tenant: "acme".into(),
                    extension: "101".into(),
                },
            ))
            .await,
        UNAUTH,
    );

    // A tenant admin: nothing cluster-wide, nothing in another tenant.
    let t = Some(ACME_ADMIN);
    refused(
        "tenant admin creates a tenant",
        c.directory
            .put_tenant(with(
                t,
                api::PutTenantRequest {
                    tenant: "evil".into(),
                    config: None,
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "tenant admin changes its own limits",
        c.directory
            .put_tenant(with(
                t,
                api::PutTenantRequest {
                    tenant: "acme".into(),
                    config: None,
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "tenant admin deletes another tenant",
        c.directory
            .delete_tenant(with(
                t,
                api::DeleteTenantRequest {
                    tenant: "globex".into(),
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "tenant admin lists tenants",
        c.directory
            .list_tenants(with(t, api::ListTenantsRequest {}))
            .await,
        DENIED,
    );
    refused(
        "tenant admin reads cluster status",
        c.cluster.status(with(t, api::StatusRequest {})).await,
        DENIED,
    );
    refused(
        "tenant admin adds a node",
        c.cluster
            .add_node(with(
                t,
                api::AddNodeRequest {
                    node_id: 9,
                    addr: "127.0.0.1:1".into(),
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "tenant admin removes a node",
        c.cluster
            .remove_node(with(t, api::RemoveNodeRequest { node_id: 1 }))
            .await,
        DENIED,
    );
    let foreign = api::Extension {
        number: "299".into(),
        ..Default::default()
    };
    refused(
        "tenant admin adds an extension elsewhere",
        c.directory
            .put_extension(with(
                t,
                api::PutExtensionRequest {
                    tenant: "globex".into(),
                    extension: Some(foreign),
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "tenant admin deletes an extension elsewhere",
        c.directory
            .delete_extension(with(
                t,
                api::DeleteExtensionRequest {
                    tenant: "globex".into(),
                    number: "201".into(),
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "tenant admin deletes a call group elsewhere",
        c.directory
            .delete_call_group(with(
                t,
                api::DeleteCallGroupRequest {
                    tenant: "globex".into(),
                    owner: "202".into(),
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "tenant admin deletes a park policy elsewhere",
        c.directory
            .delete_park_policy(with(
                t,
                api::DeleteParkPolicyRequest {
                    tenant: "globex".into(),
                    name: "lobby".into(),
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "tenant admin picks up elsewhere",
        c.pickup
            .directed_pickup(with(t, pickup("globex", "201", "202")))
            .await,
        DENIED,
    );
    refused(
        "tenant admin dials elsewhere",
        c.calls.dial(with(t, dial("globex", "201", "203"))).await,
        DENIED,
    );
    refused(
        "tenant admin lists calls elsewhere",
        c.calls.list_calls(with(t, list_calls("globex"))).await,
        DENIED,
    );
    refused(
        "tenant admin reads a call elsewhere",
        c.calls
            .get_call(with(
                t,
                api::GetCallRequest {
                    tenant: "globex".into(),
                    call_id: globex_ringing,
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "tenant admin watches lamps elsewhere",
        c.presence
            .watch_lamps(with(
                t,
                api::WatchLampsRequest {
                    tenant: "globex".into(),
                    watcher: String::new(),
                    extensions: vec!["201".into()],
                    park_codes: vec![],
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "tenant admin hangs up elsewhere",
        c.calls
            .hangup(with(
                t,
                api::HangupRequest {
                    tenant: "globex".into(),
                    call_id: globex_ringing,
                    by: party("203"),
                },
            ))
            .await,
        DENIED,
    );

    // An extension user: only as itself, only its own call group, no admin.
    let u = Some(ACME_101);
    refused(
        "user picks up as another picker",
        c.pickup
            .directed_pickup(with(u, pickup("acme", "103", "102")))
            .await,
        DENIED,
    );
    refused(
        "user group-picks-up as another",
        c.pickup
            .group_pickup(with(
                u,
                api::GroupPickupRequest {
                    tenant: "acme".into(),
                    picker: "102".into(),
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "user named-picks-up as another",
        c.pickup
            .named_pickup(with(
                u,
                api::NamedPickupRequest {
                    tenant: "acme".into(),
                    picker: "102".into(),
                    group_name: "sales".into(),
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "user BLF-picks-up as another",
        c.pickup
            .blf_pickup(with(
                u,
                api::BlfPickupRequest {
                    tenant: "acme".into(),
                    picker: "103".into(),
                    target: "102".into(),
                    call_id: None,
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "user answers as another",
        c.calls
            .answer(with(
                u,
                api::AnswerRequest {
                    tenant: "acme".into(),
                    call_id: acme_ringing,
                    by: "102".into(),
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "user dials as another",
        c.calls.dial(with(u, dial("acme", "102", "103"))).await,
        DENIED,
    );
    let outside = api::DialRequest {
        tenant: "acme".into(),
        from: Some(api::Party {
            kind: Some(api::party::Kind::Outside("+15550100".into())),
        }),
        digits: "102".into(),
    };
    refused(
        "user injects an outside call",
        c.calls.dial(with(u, outside)).await,
        DENIED,
    );
    refused(
        "user hangs up as another",
        c.calls
            .hangup(with(
                u,
                api::HangupRequest {
                    tenant: "acme".into(),
                    call_id: acme_ringing,
                    by: party("103"),
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "user parks as another",
        c.park
            .park(with(
                u,
                api::ParkRequest {
                    tenant: "acme".into(),
                    call_id: acme_ringing,
                    by: "102".into(),
                    code: None,
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "user retrieves as another",
        c.park
            .retrieve(with(
                u,
                api::RetrieveRequest {
                    tenant: "acme".into(),
                    by: "102".into(),
                    code,
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "user sets another online",
        c.directory
            .set_online(with(
                u,
                api::SetOnlineRequest {
                    tenant: "acme".into(),
                    number: "102".into(),
                    online: false,
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "user reads another's notifications",
        c.presence
            .notifications(with(
                u,
                api::NotificationsRequest {
                    tenant: "acme".into(),
                    extension: "102".into(),
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "user watches lamps as another",
        c.presence
            .watch_lamps(with(
                u,
                api::WatchLampsRequest {
                    tenant: "acme".into(),
                    watcher: "102".into(),
                    extensions: vec!["103".into()],
                    park_codes: vec![],
                },
            ))
            .await,
        DENIED,
    );
    let others_group = api::CallGroup {
        owner: "102".into(),
        members: vec![],
        ..Default::default()
    };
    refused(
        "user manages another's call group",
        c.directory
            .put_call_group(with(
                u,
                api::PutCallGroupRequest {
                    tenant: "acme".into(),
                    group: Some(others_group),
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "user deletes another's call group",
        c.directory
            .delete_call_group(with(
                u,
                api::DeleteCallGroupRequest {
                    tenant: "acme".into(),
                    owner: "102".into(),
                },
            ))
            .await,
        DENIED,
    );
    let new_ext = api::Extension {
        number: "104".into(),
        ..Default::default()
    };
    refused(
        "user adds an extension",
        c.directory
            .put_extension(with(
                u,
                api::PutExtensionRequest {
                    tenant: "acme".into(),
                    extension: Some(new_ext),
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "user deletes an extension",
        c.directory
            .delete_extension(with(
                u,
                api::DeleteExtensionRequest {
                    tenant: "acme".into(),
                    number: "102".into(),
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "user grants itself a park policy",
        c.directory
            .grant_park_policy(with(
                u,
                api::GrantParkPolicyRequest {
                    tenant: "acme".into(),
                    number: "101".into(),
                    policy: String::new(),
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "user edits a park policy",
        c.directory
            .put_park_policy(with(
                u,
                api::PutParkPolicyRequest {
                    tenant: "acme".into(),
                    policy: Some(api::ParkPolicy {
                        name: "lobby".into(),
                        ..Default::default()
                    }),
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "user creates a tenant",
        c.directory
            .put_tenant(with(
                u,
                api::PutTenantRequest {
                    tenant: "acme".into(),
                    config: None,
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "user reads cluster status",
        c.cluster.status(with(u, api::StatusRequest {})).await,
        DENIED,
    );
    // ...and nothing in another tenant, even as its own number there.
    refused(
        "user picks up in another tenant",
        c.pickup
            .directed_pickup(with(u, pickup("globex", "101", "202")))
            .await,
        DENIED,
    );
    refused(
        "user retrieves in another tenant",
        c.park
            .retrieve(with(
                u,
                api::RetrieveRequest {
                    tenant: "globex".into(),
                    by: "101".into(),
                    code,
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "user lists calls in another tenant",
        c.calls.list_calls(with(u, list_calls("globex"))).await,
        DENIED,
    );
    refused(
        "user reads another tenant's extensions",
        c.directory
            .list_extensions(with(
                u,
                api::ListExtensionsRequest {
                    tenant: "globex".into(),
                },
            ))
            .await,
        DENIED,
    );
    let g = Some(GLOBEX_201);
    refused(
        "other tenant's user picks up here",
        c.pickup
            .directed_pickup(with(g, pickup("acme", "201", "102")))
            .await,
        DENIED,
    );
    refused(
        "other tenant's user retrieves here",
        c.park
            .retrieve(with(
                g,
                api::RetrieveRequest {
                    tenant: "acme".into(),
                    by: "201".into(),
                    code,
                },
            ))
            .await,
        DENIED,
    );
    refused(
        "other tenant's admin deletes here",
        c.directory
            .delete_extension(with(
                Some(GLOBEX_ADMIN),
                api::DeleteExtensionRequest {
                    tenant: "acme".into(),
                    number: "101".into(),
                },
            ))
            .await,
        DENIED,
    );

    // The SIP registrar is the edge's (a tenant admin's): never a phone's
    // own token, and never another tenant's admin.
    let register = |tenant: &str, number: &str| api::RegisterRequest {
        tenant: tenant.into(),
        extension: number.into(),
        contact: format!("sip:{number}@192.0.2.7:5062"),
        edge: "192.0.2.1:5060".into(),
        source: "udp:192.0.2.7:5062".into(),
        expires_s: 600,
    };
    let lookup = |tenant: &str, number: &str| api::LookupRequest {
        tenant: tenant.into(),
        extension: number.into(),
    };
    let digest = |tenant: &str, number: &str| api::AuthenticateRequest {
        tenant: tenant.into(),
        extension: number.into(),
        method: "REGISTER".into(),
        uri: "sip:example".into(),
        nonce: "n".into(),
        response: "0".repeat(32),
        ..Default::default()
    };
    for (who, token, tenant, number) in [
        ("user", u, "acme", "101"),
        ("other tenant's user", g, "acme", "101"),
        ("tenant admin", t, "globex", "201"),
        ("other tenant's admin", Some(GLOBEX_ADMIN), "acme", "101"),
    ] {
        refused(
            &format!("{who} registers {tenant}/{number}"),
            c.registrar
                .register(with(token, register(tenant, number)))
                .await,
            DENIED,
        );
        refused(
            &format!("{who} looks up {tenant}/{number}"),
            c.registrar
                .lookup(with(token, lookup(tenant, number)))
                .await,
            DENIED,
        );
        refused(
            &format!("{who} checks a digest of {tenant}/{number}"),
            c.registrar
                .authenticate(with(token, digest(tenant, number)))
                .await,
            DENIED,
        );
    }
    refused(
        "no token registers",
        c.registrar
            .register(with(None, register("acme", "101")))
            .await,
        UNAUTH,
    );

    // None of it changed anything.
    assert_eq!(
        snapshot(&mut c).await,
        before,
        "a refused request changed the state"
    );

    // What each role may do still works.
    c.calls
        .list_calls(with(u, list_calls("acme")))
        .await
        .expect("a user reads its tenant's calls");
    let own_group = api::CallGroup {
        owner: "101".into(),
        members: vec![api::CallGroupMember {
            extension: "103".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    c.directory
        .put_call_group(with(
            u,
            api::PutCallGroupRequest {
                tenant: "acme".into(),
                group: Some(own_group),
            },
        ))
        .await
        .expect("a user manages its own call group");
    let picked = c
        .pickup
        .directed_pickup(with(u, pickup("acme", "101", "102")))
        .await
        .expect("a user picks up as itself")
        .into_inner();
    assert_eq!(
        (picked.result, picked.call_id),
        (api::PickupResult::PickedUp as i32, acme_ringing)
    );
    c.presence
        .notifications(with(
            u,
            api::NotificationsRequest {
                tenant: "acme".into(),
                extension: "101".into(),
            },
        ))
        .await
        .expect("a user reads its own notifications");
    let retrieved = c
        .park
        .retrieve(with(
            Some(ACME_ADMIN),
            api::RetrieveRequest {
                tenant: "acme".into(),
                by: "102".into(),
                code,
            },
        ))
        .await
        .expect("a tenant admin acts for its extensions")
        .into_inner();
    assert_eq!(retrieved.result, api::RetrieveResult::Retrieved as i32);
    let added = api::Extension {
        number: "104".into(),
        ..Default::default()
    };
    c.directory
        .put_extension(with(
            Some(ACME_ADMIN),
            api::PutExtensionRequest {
                tenant: "acme".into(),
                extension: Some(added),
            },
        ))
        .await
        .expect("a tenant admin manages its directory");
    let bound = c
        .registrar
        .register(with(Some(ACME_ADMIN), register("acme", "101")))
        .await
        .expect("a tenant admin registers its phones")
        .into_inner();
    assert_eq!(bound.bindings.len(), 1);
    let seen = c
        .registrar
        .lookup(with(a, lookup("acme", "101")))
        .await
        .expect("the cluster admin looks up any tenant's phones")
        .into_inner();
    assert_eq!(seen.bindings, bound.bindings);
    let checked = c
        .registrar
        .authenticate(with(Some(ACME_ADMIN), digest("acme", "101")))
        .await
        .expect("a tenant admin checks its phones' digests")
        .into_inner();
    assert!(!checked.ok, "a made-up response does not verify");
    c.calls
        .list_calls(with(Some(GLOBEX_ADMIN), list_calls("globex")))
        .await
        .expect("the other tenant's admin reads its own tenant");
    c.cluster
        .status(with(a, api::StatusRequest {}))
        .await
        .expect("the cluster admin reads cluster status");
}

/// callgridctl routes through the shard-aware client: it asks the node it
/// is given for the members, and sends each request to its key's owner,
/// reached as a member is (its advertised `127.0.0.1:port`, over TLS with
/// the same CA and token), not as the `--server` named it (`localhost`).
#[tokio::test]
async fn callgridctl_speaks_tls_and_carries_its_token_to_every_node_it_routes_to() {
    let pki = Pki::new("ctl");
    let dir = tempfile::tempdir().expect("tempdir");
    let node = secure_node(&pki, dir.path());
    let server = format!("https://localhost:{}", node.grpc.port());
    let ctl = |token: Option<&str>, args: &[&str]| {
        let mut cmd = std::process::Command::new(callgrid_tests::binary("callgridctl"));
        cmd.args([
            "--server",
            &server,
            "--ca",
            &path(&pki.ca_path()),
            "--tenant",
            "acme",
            "--json",
        ]);
        if let Some(t) = token {
            cmd.args(["--token", t]);
        }
        cmd.args(args);
        cmd.output().expect("callgridctl runs")
    };
    let succeeded = |out: &std::process::Output| {
        assert!(
            out.status.success(),
            "stdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let refused = ctl(None, &["tenant", "put"]);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("Unauthenticated"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(succeeded(&ctl(Some(ADMIN), &["tenant", "put"])).contains("acme"));
    for n in ["101", "102", "103"] {
        succeeded(&ctl(Some(ADMIN), &["ext", "put", n]));
    }

    // A call and its pickup, each sent to the owner of its extension.
    let rung = succeeded(&ctl(Some(ADMIN), &["dial", "101", "102"]));
    assert!(rung.contains("\"ringing\""), "{rung}");
    let picked = succeeded(&ctl(Some(ADMIN), &["pickup", "directed", "103", "102"]));
    assert!(picked.contains("\"picked_up\""), "{picked}");

    // A tenant admin's token may not read the shard map: callgridctl then
    // sends everything to --server, which forwards it.
    let rung = succeeded(&ctl(Some(ACME_ADMIN), &["dial", "101", "102"]));
    assert!(rung.contains("\"ringing\""), "{rung}");

    // A token that cannot be a header is named by its flag.
    let bad = ctl(Some("two\nlines"), &["tenant", "get"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("--token:"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}
