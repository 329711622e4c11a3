//! Arbitrary bytes as an event against a fixed matcher of rules covering every operator:
//! never a panic, compiled == reference rule by rule, the same validity verdict as serde_json,
//! and `match_batch` agrees with single matching.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod checks {
    include!("../checks.rs");
}

static RIG: OnceLock<checks::EventRig> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let rig = RIG.get_or_init(checks::event_rig);
    checks::check_event_bytes(rig, data);
});
