# oomlab's launcher of an app under memray (`oomlab run --heap memray`),
# run as `python -c <this> SCRIPT-OR--m ARGS...`. memray comes from the
# app's environment or from a folder appended to sys.path (the app's own
# packages keep priority). Each start writes memray-<pid>.bin in the run's
# heap folder; every forked process (gunicorn's workers) its own
# memray-<pid>.bin.<child pid>. A capture is streamed as the app runs, so it
# survives a SIGKILL at the limit.
import os, runpy, sys

_extra = os.environ.pop("OOMLAB_MEMRAY_PATH", "")
if _extra:
    sys.path.append(_extra)
_out = os.path.join(os.environ.pop("OOMLAB_HEAP_DIR"), "memray-%d.bin" % os.getpid())
sys.argv = ["memray", "run", "--follow-fork", "--quiet", "-o", _out] + sys.argv[1:]
runpy.run_module("memray", run_name="__main__", alter_sys=True)
