//! Inputs the coverage-guided fuzzer found (`fuzz/coverage`, target
//! `reduced_jpeg`), each rebuilt from a corpus image as a regression test.

use reduced_jpeg::{Error, Header, decode};

use crate::corpus::corpus;

/// The segment (marker to end) that starts at `at`.
fn segment(jpeg: &[u8], at: usize) -> &[u8] {
    let len = usize::from(u16::from_be_bytes([jpeg[at + 2], jpeg[at + 3]]));
    &jpeg[at..at + 2 + len]
}

#[test]
fn a_second_frame_header_before_the_first_scan_is_refused_as_the_header_reader_refuses_it() {
    // Found 2026-12-07: a file with two SOF segments before its first SOS
    // decoded (the second frame was ignored) while `Header::read` refused
    // it, so the decode and the header check the server makes first
    // disagreed. libjpeg refuses it too ("two SOF markers").
    for case in corpus()
        .into_iter()
        .filter(|c| c.name.starts_with("base-444") || c.name.starts_with("prog-420-sa"))
    {
        let sof = case
            .jpeg
            .windows(2)
            .position(|w| w == [0xFF, 0xC0] || w == [0xFF, 0xC2])
            .unwrap();
        let frame = segment(&case.jpeg, sof).to_vec();
        let mut twice = case.jpeg.clone();
        let after = sof + frame.len();
        twice.splice(after..after, frame);
        let refusal = Error::Malformed("a second frame header");
        assert_eq!(Header::read(&twice).unwrap_err(), refusal, "{}", case.name);
        for denom in [1, 2, 4, 8] {
            assert_eq!(
                decode(&twice, denom).map(|d| (d.width, d.height)),
                Err(refusal.clone()),
                "{} at 1/{denom}",
                case.name
            );
        }
        // The file as it was still decodes.
        assert!(!decode(&case.jpeg, 4).unwrap().partial);
    }
}
