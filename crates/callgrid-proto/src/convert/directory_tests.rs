use callgrid_model::AlertMode;

use super::*;

fn ext(s: &str) -> Extension {
    Extension::parse("t", s).unwrap()
}

fn field_of<T: std::fmt::Debug>(r: Result<T, ValidationError>) -> String {
    r.unwrap_err().field
}

// ---- tenant config ----------------------------------------------------------

#[test]
fn absent_or_zero_tenant_config_is_every_default() {
    assert_eq!(tenant_config(None).unwrap(), TenantConfig::default());
    let zero = v1::TenantConfig::default();
    assert_eq!(tenant_config(Some(&zero)).unwrap(), TenantConfig::default());
}

#[test]
fn tenant_config_round_trips() {
    let config = TenantConfig {
        max_call_groups: 100,
        max_call_group_members: 3,
        feature_codes: FeatureCodes {
            directed_pickup: "#1".into(),
            group_pickup: "#2".into(),
            named_pickup: "#3".into(),
            retrieve: "#4".into(),
            park: "#5".into(),
        },
        pickup_selection: PickupSelection::Random,
        ring_timeout_secs: 45,
    };
    let proto = v1::TenantConfig::from(&config);
    assert_eq!(tenant_config(Some(&proto)).unwrap(), config);
    let default = TenantConfig::default();
    let proto = v1::TenantConfig::from(&default);
    assert_eq!(tenant_config(Some(&proto)).unwrap(), default);
}

#[test]
fn one_feature_code_may_be_set_alone() {
    let raw = v1::TenantConfig {
        feature_codes: Some(v1::FeatureCodes {
            retrieve: "*72".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let config = tenant_config(Some(&raw)).unwrap();
    assert_eq!(config.feature_codes.retrieve, "*72");
    assert_eq!(config.feature_codes.group_pickup, "*98");
}

#[test]
fn tenant_config_errors_name_the_config_field() {
    let prefix_code = v1::TenantConfig {
        feature_codes: Some(v1::FeatureCodes {
            group_pickup: "*9".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    let err = tenant_config(Some(&prefix_code)).unwrap_err();
    assert_eq!(err.field, "config.feature_codes.group_pickup");
    assert!(err.rule.contains("prefix"));

    let members = v1::TenantConfig {
        max_call_group_members: 6,
        ..Default::default()
    };
    assert_eq!(
        field_of(tenant_config(Some(&members))),
        "config.max_call_group_members"
    );

    let groups = v1::TenantConfig {
        max_call_groups: 40_000,
        ..Default::default()
    };
    assert_eq!(
        field_of(tenant_config(Some(&groups))),
        "config.max_call_groups"
    );

    let timeout = v1::TenantConfig {
        ring_timeout_secs: 1,
        ..Default::default()
    };
    assert_eq!(
        field_of(tenant_config(Some(&timeout))),
        "config.ring_timeout_secs"
    );

    let selection = v1::TenantConfig {
        pickup_selection: 9,
        ..Default::default()
    };
    assert_eq!(
        field_of(tenant_config(Some(&selection))),
        "config.pickup_selection"
    );
}

// ---- extension --------------------------------------------------------------

fn bare_extension(number: &str) -> v1::Extension {
    v1::Extension {
        number: number.into(),
        ..Default::default()
    }
}

#[test]
fn bare_extension_gets_the_documented_defaults() {
    let record = extension_record(Some(&bare_extension("101"))).unwrap();
    assert_eq!(record, ExtensionRecord::new(ext("101")));
}

#[test]
fn full_extension_round_trips() {
    let mut record = ExtensionRecord::new(ext("101"));
    record.display_name = "Front desk".into();
    record.voice_enabled = false;
    record.directed_pickup_allowed = false;
    record.group_pickup_allowed = false;
    record.online = false;
    record.park_policy = Some(PolicyName::parse("t", "lobby").unwrap());
    record.forwarding = Forwarding {
        unconditional: Some(ForwardTarget::Extension(ext("102"))),
        on_busy: Some(ForwardTarget::CallGroup),
        on_no_answer: Some((ForwardTarget::Extension(ext("103")), 15)),
    };
    record.legacy_pickup_groups = vec![
        LegacyGroupId::parse("t", "7").unwrap(),
        LegacyGroupId::parse("t", "front").unwrap(),
    ];
    record.call_groups = NameList::parse("t", "sales,Support").unwrap();
    record.pickup_groups = NameList::parse("t", "sales").unwrap();
    let proto = v1::Extension::from(&record);
    assert_eq!(extension_record(Some(&proto)).unwrap(), record);
}

#[test]
fn default_extension_round_trips() {
    let record = ExtensionRecord::new(ext("5550100"));
    let proto = v1::Extension::from(&record);
    assert!(proto.forwarding.is_none());
    assert_eq!(extension_record(Some(&proto)).unwrap(), record);
}

#[test]
fn no_answer_forwarding_defaults_its_delay() {
    let mut raw = bare_extension("101");
    raw.forwarding = Some(v1::Forwarding {
        on_no_answer: Some(v1::ForwardTarget {
            target: Some(v1::forward_target::Target::OwnCallGroup(true)),
        }),
        ..Default::default()
    });
    let record = extension_record(Some(&raw)).unwrap();
    assert_eq!(
        record.forwarding.on_no_answer,
        Some((ForwardTarget::CallGroup, defaults::NO_ANSWER_SECS))
    );
}

#[test]
fn extension_errors_name_the_extension_field() {
    let cases: Vec<(v1::Extension, &str)> = vec![
        (bare_extension("10a"), "extension.number"),
        (
            v1::Extension {
                pickup_groups: "sales,1234".into(),
                ..bare_extension("101")
            },
            "extension.pickup_groups",
        ),
        (
            v1::Extension {
                call_groups: "cg_sales".into(),
                ..bare_extension("101")
            },
            "extension.call_groups",
        ),
        (
            v1::Extension {
                park_policy: "no spaces".into(),
                ..bare_extension("101")
            },
            "extension.park_policy",
        ),
        (
            v1::Extension {
                legacy_pickup_groups: vec!["ok".into(), "not ok".into()],
                ..bare_extension("101")
            },
            "extension.legacy_pickup_groups[1]",
        ),
        (
            v1::Extension {
                display_name: "x".repeat(129),
                ..bare_extension("101")
            },
            "extension.display_name",
        ),
    ];
    for (raw, field) in cases {
        assert_eq!(field_of(extension_record(Some(&raw))), field, "{raw:?}");
    }
    assert_eq!(field_of(extension_record(None)), "extension");
}

#[test]
fn forwarding_errors_name_the_forwarding_field() {
    let to = |e: &str| {
        Some(v1::ForwardTarget {
            target: Some(v1::forward_target::Target::Extension(e.into())),
        })
    };
    let with = |forwarding: v1::Forwarding| v1::Extension {
        forwarding: Some(forwarding),
        ..bare_extension("101")
    };
    let cases = vec![
        (
            with(v1::Forwarding {
                on_busy: to("101"),
                ..Default::default()
            }),
            "extension.forwarding.on_busy",
        ),
        (
            with(v1::Forwarding {
                unconditional: to("x"),
                ..Default::default()
            }),
            "extension.forwarding.unconditional.extension",
        ),
        (
            with(v1::Forwarding {
                on_no_answer: to("102"),
                on_no_answer_after_secs: 4,
                ..Default::default()
            }),
            "extension.forwarding.on_no_answer_after_secs",
        ),
        (
            with(v1::Forwarding {
                on_no_answer_after_secs: 30,
                ..Default::default()
            }),
            "extension.forwarding.on_no_answer_after_secs",
        ),
        (
            with(v1::Forwarding {
                on_busy: Some(v1::ForwardTarget {
                    target: Some(v1::forward_target::Target::OwnCallGroup(false)),
                }),
                ..Default::default()
            }),
            "extension.forwarding.on_busy.own_call_group",
        ),
    ];
    for (raw, field) in cases {
        assert_eq!(field_of(extension_record(Some(&raw))), field, "{raw:?}");
    }
}

// ---- call group -------------------------------------------------------------

fn member(e: &str, alert: AlertMode, delay_secs: u32) -> CallGroupMember {
    CallGroupMember {
        extension: ext(e),
        alert,
        delay_secs,
    }
}

#[test]
fn call_groups_round_trip_in_every_routing() {
    for routing in [
        CallGroupRouting::Simultaneous,
        CallGroupRouting::Forward(RingOrder::AllAtOnce),
        CallGroupRouting::Forward(RingOrder::InOrder { ring_secs: 12 }),
    ] {
        let group = CallGroup {
            owner: ext("100"),
            members: vec![
                member("101", AlertMode::Ring, 0),
                member("102", AlertMode::Visual, 5),
                member("103", AlertMode::Banner, 60),
            ],
            routing,
        };
        let proto = v1::CallGroup::from(&group);
        assert_eq!(call_group(Some(&proto)).unwrap(), group);
    }
}

#[test]
fn unspecified_routing_is_simultaneous_and_in_order_defaults_ring_time() {
    let mut raw = v1::CallGroup {
        owner: "100".into(),
        members: vec![v1::CallGroupMember {
            extension: "101".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let group = call_group(Some(&raw)).unwrap();
    assert_eq!(group.routing, CallGroupRouting::Simultaneous);
    assert_eq!(group.members[0].alert, AlertMode::Ring);
    raw.routing = v1::CallGroupRouting::ForwardInOrder as i32;
    assert_eq!(
        call_group(Some(&raw)).unwrap().routing,
        CallGroupRouting::Forward(RingOrder::InOrder {
            ring_secs: defaults::IN_ORDER_RING_SECS
        })
    );
}

#[test]
fn call_group_errors_name_the_group_field() {
    let m = |e: &str| v1::CallGroupMember {
        extension: e.into(),
        ..Default::default()
    };
    let base = v1::CallGroup {
        owner: "100".into(),
        members: vec![m("101")],
        ..Default::default()
    };
    let cases = vec![
        (
            v1::CallGroup {
                owner: "x".into(),
                ..base.clone()
            },
            "group.owner",
        ),
        (
            v1::CallGroup {
                members: vec![m("101"), m("1x")],
                ..base.clone()
            },
            "group.members[1].extension",
        ),
        (
            v1::CallGroup {
                members: vec![m("101"), m("101")],
                ..base.clone()
            },
            "group.members[1]",
        ),
        (
            v1::CallGroup {
                members: vec![m("100")],
                ..base.clone()
            },
            "group.members[0]",
        ),
        (
            v1::CallGroup {
                members: (101..=106).map(|n| m(&n.to_string())).collect(),
                ..base.clone()
            },
            "group.members",
        ),
        (
            v1::CallGroup {
                members: vec![v1::CallGroupMember {
                    delay_secs: 61,
                    ..m("101")
                }],
                ..base.clone()
            },
            "group.members[0].delay_secs",
        ),
        (
            v1::CallGroup {
                members: vec![v1::CallGroupMember {
                    alert: 17,
                    ..m("101")
                }],
                ..base.clone()
            },
            "group.members[0].alert",
        ),
        (
            v1::CallGroup {
                routing: v1::CallGroupRouting::ForwardInOrder as i32,
                ring_secs: 2,
                ..base.clone()
            },
            "group.ring_secs",
        ),
        (
            v1::CallGroup {
                routing: v1::CallGroupRouting::Simultaneous as i32,
                ring_secs: 20,
                ..base.clone()
            },
            "group.ring_secs",
        ),
        (
            v1::CallGroup {
                routing: 8,
                ..base.clone()
            },
            "group.routing",
        ),
    ];
    for (raw, field) in cases {
        assert_eq!(field_of(call_group(Some(&raw))), field, "{raw:?}");
    }
    assert_eq!(field_of(call_group(None)), "group");
}

#[test]
fn tenant_member_limit_error_is_reported_under_group() {
    let group = CallGroup {
        owner: ext("100"),
        members: vec![
            member("101", AlertMode::Ring, 0),
            member("102", AlertMode::Ring, 0),
        ],
        routing: CallGroupRouting::Simultaneous,
    };
    let err = group.validate(1).map_err(call_group_error).unwrap_err();
    assert_eq!(err.field, "group.members");
}

// ---- park policy ------------------------------------------------------------

#[test]
fn bare_park_policy_gets_the_documented_defaults() {
    let raw = v1::ParkPolicy {
        name: "lobby".into(),
        ..Default::default()
    };
    let name = PolicyName::parse("t", "lobby").unwrap();
    assert_eq!(park_policy(Some(&raw)).unwrap(), ParkPolicy::new(name));
}

#[test]
fn park_policy_round_trips() {
    let policy = ParkPolicy {
        name: PolicyName::parse("t", "warehouse-2").unwrap(),
        allow_parking: false,
        code_start: ParkCode::new("t", 100).unwrap(),
        code_end: ParkCode::new("t", 9999).unwrap(),
        timeout_secs: 1800,
    };
    let proto = v1::ParkPolicy::from(&policy);
    assert_eq!(park_policy(Some(&proto)).unwrap(), policy);
}

#[test]
fn park_policy_errors_name_the_policy_field() {
    let base = v1::ParkPolicy {
        name: "lobby".into(),
        ..Default::default()
    };
    let cases = vec![
        (
            v1::ParkPolicy {
                name: String::new(),
                ..base.clone()
            },
            "policy.name",
        ),
        (
            v1::ParkPolicy {
                code_start: 5,
                ..base.clone()
            },
            "policy.code_start",
        ),
        (
            v1::ParkPolicy {
                code_end: 10_000,
                ..base.clone()
            },
            "policy.code_end",
        ),
        (
            v1::ParkPolicy {
                code_start: 99,
                code_end: 50,
                ..base.clone()
            },
            "policy.code_start",
        ),
        (
            v1::ParkPolicy {
                timeout_secs: 60,
                ..base.clone()
            },
            "policy.timeout_secs",
        ),
    ];
    for (raw, field) in cases {
        assert_eq!(field_of(park_policy(Some(&raw))), field, "{raw:?}");
    }
}

#[test]
fn an_extension_in_more_legacy_pickup_groups_than_the_limit_is_refused_naming_the_field() {
    let most = ExtensionRecord::MAX_LEGACY_PICKUP_GROUPS;
    let with_groups = |n: usize| v1::Extension {
        number: "101".into(),
        legacy_pickup_groups: (0..n).map(|i| i.to_string()).collect(),
        ..Default::default()
    };
    let record = extension_record(Some(&with_groups(most))).expect("at the limit");
    assert_eq!(record.legacy_pickup_groups.len(), most);
    let err = extension_record(Some(&with_groups(most + 1))).unwrap_err();
    assert_eq!(err.field, "extension.legacy_pickup_groups");
    assert_eq!(
        err.rule,
        format!("at most {most} entries per request, got {}", most + 1)
    );
}
