//! Arbitrary bytes as a pattern text: never a panic; valid patterns show, compile and match
//! the probe events as the reference does; errors have spans inside the text.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod checks {
    include!("../checks.rs");
}

fuzz_target!(|data: &[u8]| {
    checks::check_pattern_bytes(data);
});
