//! libFuzzer target: the reduced JPEG decoder, `oomlab_fuzz::jpeg` (see
//! fuzz/src/jpeg.rs). Builds without the parsers' crates:
//! `cargo fuzz build --fuzz-dir fuzz/coverage --sanitizer none --no-default-features reduced_jpeg`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    oomlab_fuzz::jpeg::run_one(data);
});
