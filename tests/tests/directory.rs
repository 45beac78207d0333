//! The directory over gRPC: tenants, extensions, named groups, call groups
//! and park policies; every refusal names its field and rule and changes
//! nothing (DESIGN §1, §3.4).

use callgrid_tests::{TestNode, api, assert_refused, extension, member};
use tonic::Code;

const T: &str = "acme";

#[tokio::test]
async fn bare_put_tenant_stores_every_default() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    let put = c
        .directory
        .put_tenant(api::PutTenantRequest {
            tenant: T.into(),
            config: None,
        })
        .await
        .unwrap();
    let config = put.into_inner().config.unwrap();
    assert_eq!(config.max_call_groups, 32_768);
    assert_eq!(config.max_call_group_members, 5);
    assert_eq!(config.pickup_selection(), api::PickupSelection::Oldest);
    assert_eq!(config.ring_timeout_secs, 30);
    let codes = config.feature_codes.clone().unwrap();
    let codes = [
        codes.directed_pickup,
        codes.group_pickup,
        codes.named_pickup,
        codes.retrieve,
    ];
    assert_eq!(codes, ["*97", "*98", "88", "*71"]);
    let got = c
        .directory
        .get_tenant(api::GetTenantRequest { tenant: T.into() })
        .await
        .unwrap();
    assert_eq!(got.into_inner().config, Some(config));
}

#[tokio::test]
async fn tenant_limits_codes_and_selection_are_stored_listed_and_deleted() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    let config = api::TenantConfig {
        max_call_groups: 7,
        max_call_group_members: 3,
        feature_codes: Some(api::FeatureCodes {
            directed_pickup: "#7".into(),
            group_pickup: "#8".into(),
            named_pickup: "77".into(),
            retrieve: "#6".into(),
            park: "#5".into(),
        }),
        pickup_selection: api::PickupSelection::Random as i32,
        ring_timeout_secs: 45,
    };
    assert_eq!(c.put_tenant("zeta", config.clone()).await, config);
    c.tenant_with("alpha", &[]).await;
    let got = c
        .directory
        .get_tenant(api::GetTenantRequest {
            tenant: "zeta".into(),
        })
        .await
        .unwrap();
    assert_eq!(got.into_inner().config, Some(config.clone()));
    let list = c
        .directory
        .list_tenants(api::ListTenantsRequest {})
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = list.tenants.iter().map(|t| t.tenant.as_str()).collect();
    assert_eq!(ids, ["alpha", "zeta"], "tenant-id order");
    assert_eq!(list.tenants[1].config, Some(config));

    c.directory
        .delete_tenant(api::DeleteTenantRequest {
            tenant: "zeta".into(),
        })
        .await
        .unwrap();
    let gone = c
        .directory
        .get_tenant(api::GetTenantRequest {
            tenant: "zeta".into(),
        })
        .await;
    assert_refused(gone, Code::NotFound, &["zeta"]);
    assert_eq!(c.snapshot("alpha").await.tenants.len(), 1);
}

#[tokio::test]
async fn bad_tenant_settings_are_refused_naming_the_field_and_change_nothing() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101"]).await;
    let before = c.snapshot(T).await;
    let bad = [
        (
            api::TenantConfig {
                max_call_group_members: 6,
                ..Default::default()
            },
            "config.max_call_group_members",
            "between 1 and 5",
        ),
        (
            api::TenantConfig {
                ring_timeout_secs: 4,
                ..Default::default()
            },
            "config.ring_timeout_secs",
            "between 5 and 600",
        ),
        (
            api::TenantConfig {
                feature_codes: Some(api::FeatureCodes {
                    group_pickup: "*9".into(),
                    ..Default::default()
                }),
                ..Default::default()
            },
            "config.feature_codes.group_pickup",
            "prefix",
        ),
    ];
    for (config, field, rule) in bad {
        let put = c
            .directory
            .put_tenant(api::PutTenantRequest {
                tenant: T.into(),
                config: Some(config),
            })
            .await;
        assert_refused(put, Code::InvalidArgument, &[field, rule]);
        assert_eq!(
            c.snapshot(T).await,
            before,
            "{field} refusal changed nothing"
        );
    }
}

#[tokio::test]
async fn absent_extension_flags_take_their_defaults() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &[]).await;
    let stored = c.try_put_extension(T, extension("101")).await.unwrap();
    assert_eq!(stored.voice_enabled, Some(true));
    assert_eq!(stored.directed_pickup_allowed, Some(true));
    assert_eq!(stored.group_pickup_allowed, Some(true));
    assert_eq!(stored.online, Some(true));
    assert_eq!(stored.park_policy, "");
    assert_eq!(c.get_extension(T, "101").await, stored);

    let quiet = api::Extension {
        voice_enabled: Some(false),
        directed_pickup_allowed: Some(false),
        group_pickup_allowed: Some(false),
        online: Some(false),
        display_name: "Reception".into(),
        ..extension("102")
    };
    assert_eq!(c.try_put_extension(T, quiet.clone()).await.unwrap(), quiet);
    assert_eq!(c.get_extension(T, "102").await, quiet);
}

#[tokio::test]
async fn legacy_pickup_groups_keep_the_order_given() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &[]).await;
    let groups = vec!["zeta".to_string(), "7".into(), "alpha".into()];
    c.try_put_extension(
        T,
        api::Extension {
            legacy_pickup_groups: groups.clone(),
            ..extension("101")
        },
    )
    .await
    .unwrap();
    assert_eq!(c.get_extension(T, "101").await.legacy_pickup_groups, groups);
}

#[tokio::test]
async fn named_group_lists_are_stored_case_sensitively() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &[]).await;
    let longest = "a".repeat(1024);
    let record = api::Extension {
        call_groups: "Sales,sales,support_2,x-ray".into(),
        pickup_groups: longest.clone(),
        ..extension("101")
    };
    c.try_put_extension(T, record).await.unwrap();
    let got = c.get_extension(T, "101").await;
    assert_eq!(got.call_groups, "Sales,sales,support_2,x-ray");
    assert_eq!(
        got.pickup_groups, longest,
        "a 1,024-character list is allowed"
    );
}

#[tokio::test]
async fn every_group_name_rule_is_refused_naming_field_and_rule_and_changes_nothing() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &[]).await;
    let original = api::Extension {
        call_groups: "sales".into(),
        pickup_groups: "ops".into(),
        ..extension("101")
    };
    c.try_put_extension(T, original).await.unwrap();
    let too_long_list = vec!["abcdefghi"; 103].join(","); // 1,029 characters
    let cases = [
        ("sales team", "only A-Z a-z 0-9 _ -"),
        ("sales.eu", "only A-Z a-z 0-9 _ -"),
        ("sales;ops", "only A-Z a-z 0-9 _ -"),
        ("1234", "only digits"),
        ("sales,0042", "only digits"),
        ("cg_sales", "cg_"),
        (&"a".repeat(1025), "1024"),
        (&too_long_list, "1024"),
        ("sales,,support", "must not be empty"),
        (",sales", "must not be empty"),
        ("sales,", "must not be empty"),
    ];
    for field in ["pickup_groups", "call_groups"] {
        for (value, rule) in &cases {
            let before = c.get_extension(T, "101").await;
            let mut bad = before.clone();
            match field {
                "pickup_groups" => bad.pickup_groups = value.to_string(),
                _ => bad.call_groups = value.to_string(),
            }
            let put = c.try_put_extension(T, bad).await;
            assert_refused(
                put,
                Code::InvalidArgument,
                &[&format!("extension.{field}"), rule],
            );
            assert_eq!(
                c.get_extension(T, "101").await,
                before,
                "{field}={value:?} changed nothing"
            );
        }
    }
}

fn group(owner: &str, members: &[&str]) -> api::CallGroup {
    api::CallGroup {
        owner: owner.into(),
        members: members
            .iter()
            .map(|m| member(m, api::AlertMode::Ring))
            .collect(),
        ..Default::default()
    }
}

#[tokio::test]
async fn call_group_member_and_group_limits_follow_the_tenant() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.put_tenant(
        T,
        api::TenantConfig {
            max_call_group_members: 2,
            max_call_groups: 1,
            ..Default::default()
        },
    )
    .await;
    for n in ["100", "101", "102", "103", "104", "105", "106"] {
        c.try_put_extension(T, extension(n)).await.unwrap();
    }
    let before = c.snapshot(T).await;
    let three = c
        .try_put_call_group(T, group("100", &["101", "102", "103"]))
        .await;
    assert_refused(
        three,
        Code::InvalidArgument,
        &["group.members", "at most 2"],
    );
    let six = c
        .try_put_call_group(T, group("100", &["101", "102", "103", "104", "105", "106"]))
        .await;
    assert_refused(six, Code::InvalidArgument, &["group.members", "at most 5"]);
    assert_eq!(c.snapshot(T).await, before);

    c.put_call_group(T, group("100", &["101", "102"])).await;
    let before = c.snapshot(T).await;
    let second = c.try_put_call_group(T, group("103", &["104"])).await;
    assert_refused(second, Code::ResourceExhausted, &["at most 1 call groups"]);
    assert_eq!(c.snapshot(T).await, before);
}

#[tokio::test]
async fn call_group_people_must_exist_and_be_voice_enabled() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["100", "101", "102"]).await;
    c.try_put_extension(
        T,
        api::Extension {
            voice_enabled: Some(false),
            ..extension("109")
        },
    )
    .await
    .unwrap();
    c.put_call_group(T, group("100", &["101"])).await;
    let before = c.snapshot(T).await;
    let cases = [
        (
            group("100", &["101", "999"]),
            Code::NotFound,
            "group.members[1].extension",
        ),
        (
            group("100", &["109"]),
            Code::FailedPrecondition,
            "group.members[0].extension",
        ),
        (
            group("109", &["101"]),
            Code::FailedPrecondition,
            "group.owner",
        ),
        (group("998", &["101"]), Code::NotFound, "group.owner"),
        (
            group("100", &["100"]),
            Code::InvalidArgument,
            "group.members[0]",
        ),
        (
            group("100", &["101", "101"]),
            Code::InvalidArgument,
            "group.members[1]",
        ),
    ];
    for (g, code, field) in cases {
        let put = c.try_put_call_group(T, g).await;
        assert_refused(put, code, &[field]);
        assert_eq!(
            c.snapshot(T).await,
            before,
            "{field} refusal changed nothing"
        );
    }
    // A member cannot stop being voice-enabled while in a group.
    let quiet = c
        .try_put_extension(
            T,
            api::Extension {
                voice_enabled: Some(false),
                ..extension("101")
            },
        )
        .await;
    assert_refused(quiet, Code::FailedPrecondition, &["voice_enabled", "101"]);
    assert_eq!(c.snapshot(T).await, before);
}

#[tokio::test]
async fn call_group_routing_alerts_and_delays_are_stored() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["100", "101", "102", "103", "200", "201"])
        .await;
    let members = vec![
        api::CallGroupMember {
            extension: "101".into(),
            alert: api::AlertMode::Visual as i32,
            delay_secs: 3,
        },
        api::CallGroupMember {
            extension: "102".into(),
            alert: api::AlertMode::Banner as i32,
            delay_secs: 0,
        },
        api::CallGroupMember {
            extension: "103".into(),
            alert: 0,
            delay_secs: 60,
        },
    ];
    let stored = c
        .put_call_group(
            T,
            api::CallGroup {
                owner: "100".into(),
                members,
                ..Default::default()
            },
        )
        .await;
    assert_eq!(stored.routing(), api::CallGroupRouting::Simultaneous);
    let alerts: Vec<_> = stored
        .members
        .iter()
        .map(|m| (m.extension.as_str(), m.alert(), m.delay_secs))
        .collect();
    use api::AlertMode::{Banner, Ring, Visual};
    assert_eq!(
        alerts,
        [("101", Visual, 3), ("102", Banner, 0), ("103", Ring, 60)],
        "order, alert and delay kept"
    );
    assert_eq!(c.call_group(T, "100").await, Some(stored));

    let in_order = api::CallGroup {
        routing: api::CallGroupRouting::ForwardInOrder as i32,
        ..group("200", &["201"])
    };
    let stored = c.put_call_group(T, in_order).await;
    assert_eq!(
        (stored.routing(), stored.ring_secs),
        (api::CallGroupRouting::ForwardInOrder, 20)
    );
    let all = api::CallGroup {
        routing: api::CallGroupRouting::ForwardAllAtOnce as i32,
        ..group("200", &["201"])
    };
    assert_eq!(
        c.put_call_group(T, all).await.routing(),
        api::CallGroupRouting::ForwardAllAtOnce
    );

    let before = c.snapshot(T).await;
    let ring_secs = api::CallGroup {
        ring_secs: 30,
        ..group("200", &["201"])
    };
    assert_refused(
        c.try_put_call_group(T, ring_secs).await,
        Code::InvalidArgument,
        &["group.ring_secs"],
    );
    let mut late = group("200", &["201"]);
    late.members[0].delay_secs = 61;
    let late = c.try_put_call_group(T, late).await;
    assert_refused(
        late,
        Code::InvalidArgument,
        &["group.members[0].delay_secs", "between 0 and 60"],
    );
    assert_eq!(c.snapshot(T).await, before);
}

#[tokio::test]
async fn park_policies_take_defaults_and_are_granted_and_revoked() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101"]).await;
    let lobby = c
        .try_put_park_policy(
            T,
            api::ParkPolicy {
                name: "lobby".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (
            lobby.allow_parking,
            lobby.code_start,
            lobby.code_end,
            lobby.timeout_secs
        ),
        (Some(true), 10, 99, 300)
    );
    let dock = api::ParkPolicy {
        name: "dock".into(),
        allow_parking: Some(false),
        code_start: 10,
        code_end: 9999,
        timeout_secs: 1800,
    };
    assert_eq!(c.try_put_park_policy(T, dock.clone()).await.unwrap(), dock);
    let list = c.snapshot(T).await.park_policies;
    assert_eq!(list, [dock, lobby], "name order");

    c.try_grant(T, "101", "lobby").await.unwrap();
    assert_eq!(c.get_extension(T, "101").await.park_policy, "lobby");
    let before = c.snapshot(T).await;
    assert_refused(
        c.try_grant(T, "101", "nowhere").await,
        Code::NotFound,
        &["policy", "nowhere"],
    );
    assert_refused(
        c.try_grant(T, "999", "lobby").await,
        Code::NotFound,
        &["999"],
    );
    let delete = c
        .directory
        .delete_park_policy(api::DeleteParkPolicyRequest {
            tenant: T.into(),
            name: "lobby".into(),
        })
        .await;
    assert_refused(delete, Code::FailedPrecondition, &["lobby", "101"]);
    let get = c
        .directory
        .get_park_policy(api::GetParkPolicyRequest {
            tenant: T.into(),
            name: "nowhere".into(),
        })
        .await;
    assert_refused(get, Code::NotFound, &["nowhere"]);
    assert_eq!(c.snapshot(T).await, before);

    c.try_grant(T, "101", "").await.unwrap();
    assert_eq!(
        c.get_extension(T, "101").await.park_policy,
        "",
        "an empty grant revokes"
    );
}

#[tokio::test]
async fn park_policy_ranges_are_refused_naming_the_field_and_change_nothing() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &[]).await;
    let p = |start, end, timeout| api::ParkPolicy {
        name: "lobby".into(),
        allow_parking: None,
        code_start: start,
        code_end: end,
        timeout_secs: timeout,
    };
    c.try_put_park_policy(T, p(10, 9999, 120)).await.unwrap();
    c.try_put_park_policy(T, p(20, 30, 1800)).await.unwrap();
    let before = c.snapshot(T).await;
    let cases = [
        (p(5, 99, 300), "policy.code_start", "between 10 and 9999"),
        (p(10, 10_000, 300), "policy.code_end", "between 10 and 9999"),
        (p(50, 40, 300), "policy.code_start", "start below its end"),
        (p(50, 50, 300), "policy.code_start", "start below its end"),
        (p(100, 0, 300), "policy.code_start", "start below its end"),
        (
            p(10, 99, 119),
            "policy.timeout_secs",
            "between 120 and 1800",
        ),
        (
            p(10, 99, 1801),
            "policy.timeout_secs",
            "between 120 and 1800",
        ),
    ];
    for (policy, field, rule) in cases {
        let put = c.try_put_park_policy(T, policy).await;
        assert_refused(put, Code::InvalidArgument, &[field, rule]);
        assert_eq!(
            c.snapshot(T).await,
            before,
            "{field} refusal changed nothing"
        );
    }
}

#[tokio::test]
async fn unknown_tenant_is_not_found_and_nothing_is_created() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    let t = || "ghost".to_string();
    assert_refused(
        c.directory
            .get_tenant(api::GetTenantRequest { tenant: t() })
            .await,
        Code::NotFound,
        &["ghost"],
    );
    assert_refused(
        c.try_put_extension("ghost", extension("101")).await,
        Code::NotFound,
        &["ghost"],
    );
    let get = c
        .directory
        .get_extension(api::GetExtensionRequest {
            tenant: t(),
            number: "101".into(),
        })
        .await;
    assert_refused(get, Code::NotFound, &["ghost"]);
    let list = c
        .directory
        .list_extensions(api::ListExtensionsRequest { tenant: t() })
        .await;
    assert_refused(list, Code::NotFound, &["ghost"]);
    let policy = api::ParkPolicy {
        name: "lobby".into(),
        ..Default::default()
    };
    assert_refused(
        c.try_put_park_policy("ghost", policy).await,
        Code::NotFound,
        &["ghost"],
    );
    assert_refused(
        c.try_put_call_group("ghost", group("100", &["101"])).await,
        Code::NotFound,
        &["ghost"],
    );
    assert_refused(
        c.directory
            .delete_tenant(api::DeleteTenantRequest { tenant: t() })
            .await,
        Code::NotFound,
        &["ghost"],
    );
    assert_refused(
        c.try_dial("ghost", callgrid_tests::ext("101"), "102").await,
        Code::NotFound,
        &["tenant"],
    );
    assert!(
        c.snapshot("ghost").await.tenants.is_empty(),
        "nothing was created"
    );
}

#[tokio::test]
async fn forwarding_rules_are_checked_against_the_directory() {
    let node = TestNode::start(1.0);
    let mut c = node.clients().await;
    c.tenant_with(T, &["101", "102"]).await;
    let before = c.snapshot(T).await;
    let to = |e: &str| {
        Some(api::ForwardTarget {
            target: Some(api::forward_target::Target::Extension(e.into())),
        })
    };
    let fw = |f: api::Forwarding| api::Extension {
        forwarding: Some(f),
        ..extension("101")
    };
    let cases = [
        (
            fw(api::Forwarding {
                on_busy: to("101"),
                ..Default::default()
            }),
            Code::InvalidArgument,
            "extension.forwarding.on_busy",
        ),
        (
            fw(api::Forwarding {
                unconditional: to("999"),
                ..Default::default()
            }),
            Code::NotFound,
            "extension.forwarding.unconditional",
        ),
        (
            fw(api::Forwarding {
                on_no_answer_after_secs: 10,
                ..Default::default()
            }),
            Code::InvalidArgument,
            "on_no_answer_after_secs",
        ),
        (
            fw(api::Forwarding {
                on_no_answer: to("102"),
                on_no_answer_after_secs: 4,
                ..Default::default()
            }),
            Code::InvalidArgument,
            "on_no_answer_after_secs",
        ),
        (
            api::Extension {
                park_policy: "nowhere".into(),
                ..extension("101")
            },
            Code::NotFound,
            "extension.park_policy",
        ),
    ];
    for (record, code, field) in cases {
        assert_refused(c.try_put_extension(T, record).await, code, &[field]);
        assert_eq!(
            c.snapshot(T).await,
            before,
            "{field} refusal changed nothing"
        );
    }
    let ok = fw(api::Forwarding {
        on_no_answer: to("102"),
        ..Default::default()
    });
    let stored = c.try_put_extension(T, ok).await.unwrap();
    assert_eq!(
        stored.forwarding.unwrap().on_no_answer_after_secs,
        20,
        "0 means 20 s"
    );
}
