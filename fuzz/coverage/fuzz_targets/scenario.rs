//! libFuzzer target: oomlab-fuzz's `Target::Scenario` (see fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    oomlab_fuzz::Target::Scenario.run_one(data);
});
