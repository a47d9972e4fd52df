# oomlab's heap tracer, started in every Python process of the app
# (`oomlab run --heap`): this folder is put first on the app's PYTHONPATH, so
# every interpreter the app starts imports this file at startup: the command's
# own, every worker it forks (memray follows forks; tracemalloc is re-armed
# after a fork) and every worker it spawns as a fresh interpreter
# (multiprocessing's spawn, uvicorn --workers). A sitecustomize of the app's
# own further down the path is run after this one.
#   OOMLAB_HEAP_DIR       where the captures go
#   OOMLAB_HEAP_TOOL      memray | tracemalloc
#   OOMLAB_MEMRAY_PATH    a folder to append to sys.path for memray (the
#                         app's own packages keep priority)
import os
import sys


def _oomlab_memray(heap_dir):
    extra = os.environ.get("OOMLAB_MEMRAY_PATH", "")
    if extra and extra not in sys.path:
        sys.path.append(extra)
    try:
        import memray
    except Exception as e:  # noqa: BLE001 - say why, never break the app
        sys.stderr.write("[oomlab] memray cannot be imported by %s: %s\n" % (sys.executable, e))
        return
    import atexit

    # Streamed as the app runs: a SIGKILL at the limit leaves the capture.
    tracker = memray.Tracker(os.path.join(heap_dir, "memray-%d.bin" % os.getpid()), follow_fork=True)
    tracker.__enter__()
    atexit.register(tracker.__exit__, None, None, None)


def _oomlab_tracemalloc(heap_dir):
    # Tracing starts once the app has answered its readiness check (the
    # harness drops `ready` in the heap folder) and the process is 1 s old:
    # tracing a framework's imports with deep stacks made the example app's
    # worker boot take over a minute instead of 1 s. Then a snapshot each time
    # the traced memory grows 10% past the last one (checked every 0.1 s), so
    # the last snapshot on disk is the process's largest, even after a SIGKILL.
    import json
    import threading
    import time
    import tracemalloc

    frames = int(os.environ.get("OOMLAB_TRACEMALLOC_FRAMES", "16"))

    def watch():
        born = time.monotonic()
        while not os.path.exists(os.path.join(heap_dir, "ready")) or time.monotonic() - born < 1:
            time.sleep(0.1)
        if not tracemalloc.is_tracing():
            tracemalloc.start(frames)
        best, path = 0, os.path.join(heap_dir, "tracemalloc-%d.snap" % os.getpid())
        while True:
            time.sleep(0.1)
            current, _ = tracemalloc.get_traced_memory()
            if current > max(best * 1.10, 64 << 10):
                best = current
                tracemalloc.take_snapshot().dump(path + ".tmp")
                with open(path + ".json.tmp", "w") as f:
                    json.dump({"peak_bytes": current, "command": " ".join(sys.argv)}, f)
                os.replace(path + ".tmp", path)
                os.replace(path + ".json.tmp", path + ".json")

    def start():
        threading.Thread(target=watch, daemon=True, name="oomlab-tracemalloc").start()

    start()
    os.register_at_fork(after_in_child=start)


def _oomlab_chain():
    # The app's own sitecustomize, if one is further down the path.
    import importlib.machinery
    import importlib.util

    here = os.path.dirname(os.path.abspath(__file__))
    rest = [p for p in sys.path if os.path.abspath(p or ".") != here]
    spec = importlib.machinery.PathFinder.find_spec("sitecustomize", rest)
    if spec is not None and spec.loader is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


_dir = os.environ.get("OOMLAB_HEAP_DIR")
if _dir:
    if os.environ.get("OOMLAB_HEAP_TOOL") == "tracemalloc":
        _oomlab_tracemalloc(_dir)
    else:
        _oomlab_memray(_dir)
_oomlab_chain()
