//! Truncated, corrupt and mutated input: an error or a decode marked
//! partial, never a panic, never more memory than the cap allows.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use reduced_jpeg::{Decoded, Error, Header, decode_with_limit};

use crate::corpus::{Case, corpus};
use crate::support::Rng;

/// The cap every decode here runs under: mutated headers can claim 65535 x
/// 65535 pixels, which must end in `Error::TooLarge`, not an allocation.
const CAP: u64 = 64 << 20;

/// Decode, turning a panic into a test failure that names the input.
fn decode_or_report(data: &[u8], denom: u8, what: &dyn Fn() -> String) -> Result<Decoded, Error> {
    match catch_unwind(AssertUnwindSafe(|| decode_with_limit(data, denom, CAP))) {
        Ok(result) => result,
        Err(_) => panic!("panicked on {}", what()),
    }
}

/// The output size must be the header's, whatever the data after it.
fn check_size(data: &[u8], denom: u8, d: &Decoded, what: &dyn Fn() -> String) {
    let h = Header::read(data).unwrap_or_else(|e| panic!("{}: decoded but header {e}", what()));
    let (w, hh) = h.scaled_size(denom).unwrap();
    assert_eq!((d.width, d.height), (w, hh), "{}", what());
    let channels = if d.color == reduced_jpeg::ColorType::Gray8 {
        1
    } else {
        3
    };
    assert_eq!(d.pixels.len(), (w * hh) as usize * channels, "{}", what());
}

/// Small images of each kind: the loops below decode them thousands of
/// times.
fn small_cases() -> Vec<Case> {
    corpus()
        .into_iter()
        .filter(|c| {
            [
                "prog-440-sa",
                "gray-prog",
                "cmyk-base",
                "ycck-prog",
                "prog-411-rst3",
                "gray-base",
            ]
            .iter()
            .any(|p| c.name.starts_with(p))
        })
        .collect()
}

#[test]
fn every_truncation_is_an_error_or_a_partial_decode() {
    let mut partial = 0;
    let mut errors = 0;
    for case in small_cases() {
        let len = case.jpeg.len();
        // About 150 cut points per image, denser near the start where the
        // headers are.
        let cuts: Vec<usize> = (0..64).chain((64..len).step_by(len / 90 + 1)).collect();
        for cut in cuts {
            let data = &case.jpeg[..cut];
            let what = || format!("{} cut at {cut} of {len}", case.name);
            for denom in [1u8, 4] {
                match decode_or_report(data, denom, &what) {
                    Ok(d) => {
                        assert!(d.partial, "{}: a cut file decoded as whole", what());
                        check_size(data, denom, &d, &what);
                        partial += 1;
                    }
                    Err(_) => errors += 1,
                }
            }
        }
    }
    // Both outcomes happen: cuts in the headers and in the scans.
    assert!(
        partial > 500 && errors > 200,
        "partial {partial}, errors {errors}"
    );
}

#[test]
fn a_cut_progressive_file_keeps_its_first_scans() {
    // Cut after the DC scans: the picture is there, coarse, not grey.
    let case = corpus()
        .into_iter()
        .find(|c| c.name.starts_with("prog-444-sa"))
        .unwrap();
    let third_sos = case
        .jpeg
        .windows(2)
        .enumerate()
        .filter(|(_, w)| *w == [0xFF, 0xDA])
        .nth(2)
        .map(|(i, _)| i)
        .unwrap();
    let d = decode_with_limit(&case.jpeg[..third_sos], 4, CAP).unwrap();
    assert!(d.partial);
    let whole = decode_with_limit(&case.jpeg, 4, CAP).unwrap();
    let (db, _) = crate::support::psnr(&d.pixels, &whole.pixels);
    assert!(
        d.pixels.iter().any(|&p| p.abs_diff(128) > 40),
        "not flat grey"
    );
    assert!((15.0..60.0).contains(&db), "coarse but close: {db:.1} dB");
}

/// One random mutation of `data`, of the kinds that break decoders: bit
/// flips, bytes set to marker-ish values, bytes in the headers changed,
/// chunks deleted or duplicated, a marker inserted.
fn mutate(data: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut out = data.to_vec();
    let at = |rng: &mut Rng, len: usize| rng.below(len.max(1) as u64) as usize;
    for _ in 0..1 + rng.below(4) {
        let len = out.len();
        if len < 4 {
            break;
        }
        match rng.below(7) {
            0 => {
                let i = at(rng, len);
                out[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = at(rng, len);
                out[i] = [0xFF, 0x00, 0xD9, 0xDA, 0xD0, 0xC4][rng.below(6) as usize];
            }
            2 => {
                // The headers: sizes, sampling factors, table counts.
                let i = at(rng, len.min(700));
                out[i] = rng.next() as u8;
            }
            3 => {
                let i = at(rng, len);
                let n = at(rng, (len - i).min(64));
                out.drain(i..i + n);
            }
            4 => {
                let i = at(rng, len);
                let n = at(rng, (len - i).min(64));
                let chunk = out[i..i + n].to_vec();
                let j = at(rng, out.len());
                out.splice(j..j, chunk);
            }
            5 => {
                let i = at(rng, len);
                let m = [0xD0 + rng.below(8) as u8, 0xDA, 0xC4, 0xDB, 0xDD, 0xC2]
                    [rng.below(6) as usize];
                out.splice(i..i, [0xFF, m]);
            }
            _ => {
                let i = at(rng, len);
                out.truncate(i.max(2));
            }
        }
    }
    out
}

#[test]
fn mutated_inputs_never_panic() {
    // Bounded twice: a count, and a time budget for slow machines. Both
    // can be raised for a longer local run, e.g.
    // REDUCED_JPEG_MUTATIONS=100000 REDUCED_JPEG_FUZZ_SECS=600.
    let env = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let mutations = env("REDUCED_JPEG_MUTATIONS", 4000) as usize;
    let budget = Duration::from_secs(env("REDUCED_JPEG_FUZZ_SECS", 60));
    let seed = env("REDUCED_JPEG_FUZZ_SEED", 0x5EED_0030);
    let cases = small_cases();
    let mut rng = Rng::new(seed);
    let started = Instant::now();
    let (mut ok, mut partial, mut errors, mut done) = (0, 0, 0, 0);
    for i in 0..mutations {
        if started.elapsed() > budget {
            break;
        }
        let case = &cases[i % cases.len()];
        let data = mutate(&case.jpeg, &mut rng);
        let denom = [1u8, 2, 4, 8][rng.below(4) as usize];
        let what = || {
            format!(
                "mutation {i} of {} at 1/{denom} (seed {seed:#x})",
                case.name
            )
        };
        match decode_or_report(&data, denom, &what) {
            Ok(d) => {
                check_size(&data, denom, &d, &what);
                if d.partial { partial += 1 } else { ok += 1 }
            }
            Err(_) => errors += 1,
        }
        done += 1;
    }
    println!(
        "{done} mutated inputs in {:.1} s: {ok} whole, {partial} partial, {errors} errors",
        started.elapsed().as_secs_f64()
    );
    // The loop did its work: most mutations ran and each outcome occurred.
    assert!(
        done >= mutations / 4,
        "only {done} inputs within the budget"
    );
    assert!(
        ok > 0 && partial > 0 && errors > 0,
        "{ok} / {partial} / {errors}"
    );
}

#[test]
fn a_header_claiming_a_huge_image_is_refused_before_allocating() {
    let case = corpus()
        .into_iter()
        .find(|c| c.name.starts_with("prog-440-sa"))
        .unwrap();
    let mut data = case.jpeg.clone();
    let sof = data.windows(2).position(|w| w == [0xFF, 0xC2]).unwrap();
    // Height and width fields: 65535 x 65535.
    data[sof + 5..sof + 9].copy_from_slice(&[0xFF; 4]);
    match decode_with_limit(&data, 8, CAP) {
        Err(Error::TooLarge { needed, limit }) => assert!(needed > limit && limit == CAP),
        other => panic!("{:?}", other.map(|d| (d.width, d.height))),
    }
    let h = Header::read(&data).unwrap();
    assert!(h.held_bytes(8, reduced_jpeg::Keep::Reduced).unwrap() > CAP);
}
