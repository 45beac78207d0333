//! Any dial string, with any feature codes a tenant could configure: the
//! parser never panics, a valid configuration parses unambiguously, and
//! whatever it accepts as an extension or group name is a valid one.
#![no_main]

use callgrid_model::{Dialed, Extension, FeatureCodes, GroupName};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (&str, [&str; 5])| {
    let (digits, [d, g, n, r, p]) = input;
    let codes = FeatureCodes {
        directed_pickup: d.into(),
        group_pickup: g.into(),
        named_pickup: n.into(),
        retrieve: r.into(),
        park: p.into(),
    };
    if codes.validate().is_err() {
        return;
    }
    match codes.parse(digits) {
        Ok(Dialed::Call(ext)) => assert!(Extension::parse("x", ext.as_str()).is_ok()),
        Ok(Dialed::NamedPickup(name)) => assert!(GroupName::parse("x", name.as_str()).is_ok()),
        Ok(_) | Err(_) => {}
    }
});
