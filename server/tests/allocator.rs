//! The allocator options of the Python profiles (`[allocator]
//! dirty_decay_ms = -1`): freed blocks stay resident, as glibc keeps a freed
//! block inside its heap, while a freed block over jemalloc's oversize
//! threshold (8 MiB) goes back to the OS at once, as glibc unmaps a block
//! over its mmap threshold. Its own test binary: it needs jemalloc as the
//! global allocator and a process of its own (RSS is process-wide).

use report_server::memory::{AllocatorKind, apply_allocator_options, set_allocator};
use report_server::settings::AllocatorSettings;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const MIB: u64 = 1 << 20;

fn rss_anon() -> u64 {
    memstats::read_proc_memory(std::process::id(), false)
        .expect("reading /proc/self/status")
        .rss_anon
}

fn read_isize(name: &str) -> isize {
    let name = format!("{name}\0");
    // SAFETY: a NUL-terminated name of an ssize_t option.
    #[allow(unsafe_code)]
    unsafe {
        tikv_jemalloc_ctl::raw::read::<isize>(name.as_bytes()).expect(&name)
    }
}

/// `n` blocks of `size` bytes, every page written.
fn touched(n: usize, size: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| vec![(i % 251) as u8 + 1; size]).collect()
}

#[test]
fn never_purged_arenas_keep_freed_blocks_and_the_oversize_arena_returns_them() {
    set_allocator(AllocatorKind::Jemalloc);
    let applied = apply_allocator_options(&AllocatorSettings {
        background_thread: false,
        dirty_decay_ms: -1,
        muzzy_decay_ms: 0,
    });
    assert_eq!(applied["applied"], true, "{applied}");
    assert_eq!(applied["dirty_decay_ms"], -1, "{applied}");
    // SAFETY: a NUL-terminated name of an unsigned option.
    #[allow(unsafe_code)]
    let oversize = unsafe { tikv_jemalloc_ctl::raw::read::<u32>(b"opt.narenas\0").unwrap() };
    assert_eq!(
        read_isize(&format!("arena.{oversize}.dirty_decay_ms")),
        0,
        "the oversize arena purges at once"
    );
    assert_eq!(read_isize("arena.0.dirty_decay_ms"), -1);

    // 64 MiB in blocks of 1 MiB (under the oversize threshold): kept.
    let before = rss_anon();
    let small = touched(64, MIB as usize);
    let held = rss_anon();
    drop(small);
    let after_small = rss_anon();
    assert!(held >= before + 56 * MIB, "{before} -> {held}");
    assert!(
        after_small + 8 * MIB >= held,
        "freed 1 MiB blocks stay resident: {held} -> {after_small}"
    );

    // 64 MiB in two blocks of 32 MiB (over it): given back at once.
    let big = touched(2, 32 * MIB as usize);
    let held_big = rss_anon();
    drop(big);
    let after_big = rss_anon();
    assert!(
        held_big >= after_small + 56 * MIB,
        "{after_small} -> {held_big}"
    );
    assert!(
        after_big <= after_small + 8 * MIB,
        "freed 32 MiB blocks go back to the OS: {held_big} -> {after_big} (before them {after_small})"
    );
}
