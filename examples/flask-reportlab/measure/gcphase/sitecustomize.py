"""The collector's phase in the app, with as little of a footprint as can be:
one text line per collection, to ``$GC_PHASE/gc-<pid>.txt``. Loaded at
interpreter start (``sitecustomize``) when this directory is on
``PYTHONPATH``; does nothing unless ``GC_PHASE`` names a directory.

    oomlab run --target flask-reportlab --scenario two-in-sequence \\
        --app-env PYTHONPATH=measure/gcphase --app-env GC_PHASE=/tmp/gcphase

``measure/gctrace`` says more (RSS, glibc's heap, what a collection freed),
but it imports ``json``, ``ctypes`` and ``threading`` in the gunicorn master
before the worker forks, and makes a dict and a JSON string per collection:
thousands of container objects that move generation 1's count, which
decides whether a finished job is freed as the next one starts
(docs/measurements/gc-model.md). This probe imports only built-in modules
(``gc``, ``time``, ``_thread``; ``os`` is loaded already) and makes one
tuple and one string per collection.

Each line: ``t gen g0 g1 g2 collected thread``: the Unix time at the
end, the generation collected, ``gc.get_count()`` when it started (net new
container objects, then collections of generation 0 and of generation 1
since the older one's last), objects found unreachable, and the thread's
identity (the job's executor thread differs from the request threads).
"""

import gc
import os

_DIR = os.environ.get("GC_PHASE")


def _install(directory):
    import _thread
    import time

    fds = {}
    started = [(0, 0, 0)]

    def callback(phase, info):
        if phase == "start":
            started[0] = gc.get_count()
            return
        pid = os.getpid()
        fd = fds.get(pid)
        if fd is None:
            fd = os.open(
                os.path.join(directory, "gc-%d.txt" % pid),
                os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                0o644,
            )
            fds[pid] = fd
        g0, g1, g2 = started[0]
        os.write(
            fd,
            (
                "%.4f %d %d %d %d %d %d\n"
                % (time.time(), info["generation"], g0, g1, g2,
                   info["collected"], _thread.get_ident())
            ).encode(),
        )

    gc.callbacks.append(callback)

    # GC_PHASE_SAMPLE_MS=N: also `gc.get_count()` every N ms, in each
    # process that collects (a thread started by its first collection, so
    # the forked worker gets its own), to `count-<pid>.txt`: ``t g0 g1 g2``.
    # Each sample makes one tuple and frees it: the count does not move.
    period = os.environ.get("GC_PHASE_SAMPLE_MS")
    if period:
        sampled = set()
        interval = int(period) / 1000.0

        def sample(pid):
            fd = os.open(
                os.path.join(directory, "count-%d.txt" % pid),
                os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                0o644,
            )
            while os.getpid() == pid:
                g0, g1, g2 = gc.get_count()
                os.write(fd, ("%.4f %d %d %d\n" % (time.time(), g0, g1, g2)).encode())
                time.sleep(interval)

        def start_sampler(phase, info):
            pid = os.getpid()
            if phase == "stop" and pid not in sampled:
                sampled.add(pid)
                _thread.start_new_thread(sample, (pid,))

        gc.callbacks.append(start_sampler)


if _DIR:
    _install(_DIR)
