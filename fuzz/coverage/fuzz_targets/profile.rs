//! libFuzzer target: oomlab-fuzz's `Target::Profile` (see fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    oomlab_fuzz::Target::Profile.run_one(data);
});
