//! libFuzzer target: oomlab-fuzz's `Target::Transformation` (see fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    oomlab_fuzz::Target::Transformation.run_one(data);
});
