//! Peak heap bytes and wall time of reduced-scale decodes, against the
//! coefficient floor (every DCT coefficient, what common progressive
//! decoders hold) and against a decode that stores the floor.
//!
//! ```sh
//! cargo run --release -p reduced-jpeg --example measure            # synthetic
//! cargo run --release -p reduced-jpeg --example measure -- a.jpg b.jpg
//! cargo run --release -p reduced-jpeg --example measure -- --progressive-copies a.jpg
//! ```
//! `--progressive-copies` also measures each file re-encoded by
//! libjpeg-turbo as progressive 4:2:0, quality 90 (real content when only
//! baseline photos are at hand). The PSNR column compares the reduced
//! decode with libjpeg-turbo's scaled decode of the same file.
//! Without arguments it encodes (libjpeg-turbo, progressive, quality 90)
//! the synthetic photo of the tests at 5760x3840, the size of the worst
//! photo of issue 30, in 4:4:4 and 4:2:0. Figures go to stdout as a
//! Markdown table; MiB is 1,048,576 bytes.
#![allow(unsafe_code)] // the counting allocator, see its module

#[path = "../tests/common/counting_alloc.rs"]
mod counting_alloc;
#[allow(dead_code)] // the corpus helpers this example does not use
#[path = "../tests/decode/support.rs"]
mod support;

use std::time::Instant;

use mozjpeg::ColorSpace;
use reduced_jpeg::{DEFAULT_MAX_HELD_BYTES, Header, Keep, decode_keeping};

use counting_alloc::{Counting, peak_during};
use support::{Mozjpeg, encode_mozjpeg, libjpeg_decode, photo, psnr};

#[global_allocator]
static ALLOC: Counting = Counting;

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

fn inputs() -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut paths: Vec<String> = std::env::args().skip(1).collect();
    let copies = paths.iter().any(|a| a == "--progressive-copies");
    paths.retain(|a| a != "--progressive-copies");
    if !paths.is_empty() {
        let mut out = Vec::new();
        for p in paths {
            let bytes = std::fs::read(&p).map_err(|e| format!("{p}: {e}"))?;
            if copies {
                let (w, h, rgb) = libjpeg_decode(&bytes, 1);
                if rgb.len() == (w * h * 3) as usize {
                    let o = Mozjpeg {
                        space: ColorSpace::JCS_YCbCr,
                        progressive: true,
                        chroma: (2, 2),
                        quality: 90.0,
                    };
                    let copy = encode_mozjpeg(&rgb, w as usize, h as usize, o);
                    out.push((format!("{p} (progressive 4:2:0 q90 copy)"), copy));
                }
            }
            out.push((p, bytes));
        }
        return Ok(out);
    }
    let (w, h) = (5760, 3840);
    eprintln!("encoding the synthetic {w}x{h} photo (4:4:4 and 4:2:0, progressive)...");
    let rgb = photo(w, h, 30);
    Ok([((1u8, 1u8), "4:4:4"), ((2, 2), "4:2:0")]
        .into_iter()
        .map(|(chroma, name)| {
            let o = Mozjpeg {
                space: ColorSpace::JCS_YCbCr,
                progressive: true,
                chroma,
                quality: 90.0,
            };
            (
                format!("synthetic {w}x{h} {name} progressive q90"),
                encode_mozjpeg(&rgb, w, h, o),
            )
        })
        .collect())
}

fn main() {
    let inputs = match inputs() {
        Ok(i) => i,
        Err(e) => {
            eprintln!("Error: {e}");
            std::process::exit(1);
        }
    };
    println!(
        "| photo | scale | stores | peak MiB | predicted MiB | floor MiB | peak / floor | wall ms | libjpeg-turbo wall ms | PSNR dB (max error) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (name, jpeg) in &inputs {
        let header = match Header::read(jpeg) {
            Ok(h) => h,
            Err(e) => {
                eprintln!("{name}: {e}");
                continue;
            }
        };
        let floor = header.coefficient_floor();
        for denom in [8u8, 4, 2] {
            let started = Instant::now();
            let (_, _, reference) = libjpeg_decode(jpeg, denom);
            let libjpeg_ms = started.elapsed().as_secs_f64() * 1e3;
            for keep in [Keep::Reduced, Keep::All] {
                let started = Instant::now();
                let (result, peak) =
                    peak_during(|| decode_keeping(jpeg, denom, DEFAULT_MAX_HELD_BYTES, keep));
                let ms = started.elapsed().as_secs_f64() * 1e3;
                let decoded = match result {
                    Ok(d) => d,
                    Err(e) => {
                        eprintln!("{name} 1/{denom} {keep:?}: {e}");
                        continue;
                    }
                };
                let (db, max) = psnr(&decoded.pixels, &reference);
                let predicted = header.held_bytes(denom, keep).unwrap_or(0);
                println!(
                    "| {name} | 1/{denom} | {keep:?} | {:.1} | {:.1} | {:.1} | {:.3} | {ms:.0} | {libjpeg_ms:.0} | {db:.1} ({max}) |",
                    mib(peak as u64),
                    mib(predicted),
                    mib(floor),
                    peak as f64 / floor as f64,
                );
            }
        }
    }
}
