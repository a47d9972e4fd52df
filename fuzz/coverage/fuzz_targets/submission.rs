//! libFuzzer target: oomlab-fuzz's `Target::Submission` (see fuzz/src/lib.rs).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    oomlab_fuzz::Target::Submission.run_one(data);
});
