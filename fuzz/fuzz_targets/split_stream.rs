//! Arbitrary bytes through the event splitter (`weir::json`), in every layout and checking:
//! never a panic; fed in blocks cut anywhere it gives exactly the items of the whole buffer;
//! events and error positions agree with the input.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
mod checks {
    include!("../checks.rs");
}

fuzz_target!(|data: &[u8]| {
    checks::check_split_stream(data);
});
