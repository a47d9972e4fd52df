//! Every fuzz target survives a short, seeded run (the long runs are
//! `cargo run --release -p oomlab-fuzz`).

use std::path::Path;
use std::time::Duration;

use oomlab_fuzz::{Target, fuzz, write_seeds};

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

#[test]
fn the_seeds_and_dictionaries_for_libfuzzer_are_written_per_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let dir = tempfile::tempdir().unwrap();
    let n = write_seeds(&root, dir.path()).unwrap();
    let mut files = 0;
    for t in Target::ALL {
        let seeds = std::fs::read_dir(dir.path().join(t.name()))
            .unwrap()
            .count();
        assert!(seeds > 0, "{t:?} has no seed");
        files += seeds;
        let dict = std::fs::read_to_string(dir.path().join(format!("{}.dict", t.name()))).unwrap();
        for line in dict.lines() {
            // libFuzzer's dictionary: one quoted token a line, printable.
            assert!(
                line.len() >= 2 && line.starts_with('"') && line.ends_with('"'),
                "{line}"
            );
            assert!(line.bytes().all(|b| (0x20..=0x7e).contains(&b)), "{line}");
        }
    }
    assert_eq!(n, files);
    let sub = std::fs::read_to_string(dir.path().join("submission.dict")).unwrap();
    assert!(sub.contains(r#""\x5Cu0000""#), "{sub}");
}
