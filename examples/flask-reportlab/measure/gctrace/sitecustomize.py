"""When CPython's cyclic collector runs in the app, one JSON line per
collection. Loaded by the interpreter at start (``sitecustomize``) when this
directory is on ``PYTHONPATH``; does nothing unless ``GC_TRACE`` names a
directory. The app itself is not changed:

    oomlab run --target flask-reportlab --scenario four-in-sequence \\
        --app-env PYTHONPATH=measure/gctrace --app-env GC_TRACE=/tmp/gctrace

Each process (the gunicorn master, its worker) writes ``gc-<pid>.jsonl``:
``t`` (Unix time at the end), ``gen``, ``collected`` and ``uncollectable``
(what CPython reports), ``ms`` (pause), ``count`` (``gc.get_count()`` when
it started: net new container objects, then collections of the younger
generation), ``thread`` (its name: ``report_N`` is a job's executor thread),
``rss_mb`` (this process's RSS when it ended), ``heap_mb`` (what glibc's
``mallinfo2()`` counts in use, heap and mmapped: RSS does not fall when
freed memory stays in glibc's heap, this does), ``freed_mb`` (how much
``heap_mb`` fell during the collection: the memory it freed) and, after a
full collection, ``gen2`` (objects left in the oldest generation:
CPython's ``long_lived_total``).
"""

import ctypes
import gc
import json
import os
import threading
import time

_DIR = os.environ.get("GC_TRACE")


def _rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class _Mallinfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


def _heap_counter():
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
    except (OSError, AttributeError):  # not glibc 2.33+
        return lambda: float("nan")
    mallinfo2.restype = _Mallinfo2

    def heap_mb():
        info = mallinfo2()
        return (info.uordblks + info.hblkhd) / 2**20

    return heap_mb


def _install(directory):
    heap_mb = _heap_counter()
    state = {}
    lock = threading.Lock()

    def callback(phase, info):
        if phase == "start":
            state["t0"] = time.perf_counter()
            state["count"] = gc.get_count()
            state["heap"] = heap_mb()
            return
        gen = info["generation"]
        line = {
            "t": round(time.time(), 4),
            "gen": gen,
            "collected": info["collected"],
            "uncollectable": info["uncollectable"],
            "ms": round((time.perf_counter() - state.get("t0", 0.0)) * 1000, 2),
            "count": state.get("count"),
            "thread": threading.current_thread().name,
            "rss_mb": round(_rss_mb(), 1),
        }
        heap = heap_mb()
        line["heap_mb"] = round(heap, 1)
        line["freed_mb"] = round(state.get("heap", heap) - heap, 1)
        if gen == 2:
            line["gen2"] = len(gc.get_objects(generation=2))
        # A collection can start on any thread; one writer at a time, and the
        # file named by the process that writes (gunicorn forks its worker).
        with lock:
            path = os.path.join(directory, f"gc-{os.getpid()}.jsonl")
            with open(path, "a") as f:
                f.write(json.dumps(line) + "\n")

    os.makedirs(directory, exist_ok=True)
    gc.callbacks.append(callback)


if _DIR:
    _install(_DIR)
