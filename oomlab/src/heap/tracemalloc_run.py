# oomlab's launcher of an app under tracemalloc (`oomlab run --heap
# tracemalloc`, or `auto` when memray cannot be had), run as
# `python -c <this> SCRIPT-OR--m ARGS...`. A thread in every process (forked
# workers too) starts tracing once the app has answered its readiness check
# (the harness drops `ready` in the heap folder) and the process is 1 s old:
# tracing a framework's imports with deep stacks made the example app's
# worker boot take over a minute instead of 1 s. Allocations made before are
# not in the sites. Stacks keep OOMLAB_TRACEMALLOC_FRAMES frames (16): enough
# to reach the app's line under reportlab's 15 frames, and each frame costs
# time on every allocation. It then takes a snapshot each time the traced memory grows
# 10% past the last one (checked every 0.1 s), so the last snapshot on disk
# is the process's largest, even after a SIGKILL. tracemalloc sees Python's
# own allocations only: C buffers (Pillow's decoded images, numpy arrays) are
# not in it.
import json, os, runpy, sys, threading, time, tracemalloc

_dir = os.environ.pop("OOMLAB_HEAP_DIR")
_frames = int(os.environ.pop("OOMLAB_TRACEMALLOC_FRAMES", "16"))

def _watch():
    born = time.monotonic()
    while not os.path.exists(os.path.join(_dir, "ready")) or time.monotonic() - born < 1:
        time.sleep(0.1)
    if not tracemalloc.is_tracing():
        tracemalloc.start(_frames)
    best, path = 0, os.path.join(_dir, "tracemalloc-%d.snap" % os.getpid())
    while True:
        time.sleep(0.1)
        current, _ = tracemalloc.get_traced_memory()
        # A snapshot costs a pass over every trace with the GIL held.
        if current > max(best * 1.10, 64 << 10):
            best = current
            tracemalloc.take_snapshot().dump(path + ".tmp")
            with open(path + ".json.tmp", "w") as f:
                json.dump({"peak_bytes": current, "command": " ".join(sys.argv)}, f)
            os.replace(path + ".tmp", path)
            os.replace(path + ".json.tmp", path + ".json")

def _start():
    threading.Thread(target=_watch, daemon=True, name="oomlab-tracemalloc").start()

_start()
os.register_at_fork(after_in_child=_start)
_args = sys.argv[1:]
if _args[0] == "-m":
    sys.argv = [_args[1]] + _args[2:]
    runpy.run_module(_args[1], run_name="__main__", alter_sys=True)
else:
    sys.argv = _args
    runpy.run_path(_args[0], run_name="__main__")
