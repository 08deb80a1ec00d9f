#![no_main]
//! cargo fuzz target `cwlogs`: see `loglift_fuzz::checks::check` and docs/fuzzing.md.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    loglift_fuzz::checks::check("cwlogs", data);
});
