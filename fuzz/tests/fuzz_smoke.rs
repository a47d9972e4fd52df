//! Every fuzz target survives a short, seeded run (the long runs are
//! `cargo run --release -p oomlab-fuzz`).

use std::path::Path;
use std::time::Duration;

use oomlab_fuzz::{Target, fuzz};

#[test]
fn every_target_survives_a_short_seeded_run() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    for t in Target::ALL {
        let r = fuzz(t, &root, 42, Duration::from_secs(3), 3_000);
        assert!(r.executions > 10, "{t:?} ran only {} inputs", r.executions);
        if let Some((input, msg)) = r.crash {
            panic!(
                "{t:?} crashed: {msg}\ninput: {:?}",
                String::from_utf8_lossy(&input)
            );
        }
    }
}
