//! Time of reduced-scale decodes alone (no reference decoder, no counting
//! allocator), and a hash of each decode's pixels: the command for `perf`
//! and for checking that a speed-up leaves the output bit for bit as it was.
//!
//! ```sh
//! cargo run --release -p reduced-jpeg --example decode_time -- [--repeat N] [--scale D] a.jpg b.jpg
//! ```
//! For each file and scale (1/8, 1/4 and 1/2, or only `--scale D`) it
//! decodes `N` times (default 3) and prints the fastest wall time and the
//! FNV-1a hash of the pixels as a Markdown table, then the sum of the
//! fastest times per scale.

use std::time::Instant;

use reduced_jpeg::decode;

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

struct Args {
    repeat: usize,
    scales: Vec<u8>,
    files: Vec<String>,
}

fn args() -> Result<Args, String> {
    let mut a = Args {
        repeat: 3,
        scales: vec![8, 4, 2],
        files: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .and_then(|v| v.parse::<usize>().ok())
                .ok_or(format!("{name} needs a number"))
        };
        match arg.as_str() {
            "--repeat" => a.repeat = value("--repeat")?.max(1),
            "--scale" => match value("--scale")? {
                d @ (1 | 2 | 4 | 8) => a.scales = vec![d as u8],
                d => return Err(format!("--scale {d}: use 1, 2, 4 or 8")),
            },
            _ => a.files.push(arg),
        }
    }
    if a.files.is_empty() {
        return Err("give one or more JPEG files".into());
    }
    Ok(a)
}

fn main() {
    let a = match args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("Error: {e}\nusage: decode_time [--repeat N] [--scale D] FILE...");
            std::process::exit(2);
        }
    };
    let mut total = vec![0.0f64; a.scales.len()];
    println!("| photo | scale | fastest ms | pixels FNV-1a |");
    println!("|---|---|---|---|");
    for path in &a.files {
        let jpeg = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("{path}: {e}");
                continue;
            }
        };
        let name = path.rsplit('/').next().unwrap_or(path);
        for (si, &denom) in a.scales.iter().enumerate() {
            let mut best = f64::INFINITY;
            let mut hash = None;
            for _ in 0..a.repeat {
                let started = Instant::now();
                match decode(&jpeg, denom) {
                    Ok(d) => {
                        best = best.min(started.elapsed().as_secs_f64() * 1e3);
                        hash = Some(fnv1a(&d.pixels));
                    }
                    Err(e) => {
                        eprintln!("{name} 1/{denom}: {e}");
                        break;
                    }
                }
            }
            if let Some(h) = hash {
                total[si] += best;
                println!("| {name} | 1/{denom} | {best:.1} | {h:016x} |");
            }
        }
    }
    for (denom, ms) in a.scales.iter().zip(total) {
        println!("\nsum of the fastest at 1/{denom}: {ms:.0} ms");
    }
}
