# oomlab's reader of memray captures (`oomlab run --heap memray`):
#   python memray_sites.py HEAP_DIR OUT.json TOP FLAMEGRAPHS
# For every capture in HEAP_DIR: the process's metadata and the TOP largest
# allocation records held at its high-water mark, each with its Python stack
# (innermost first) and the source line of each frame; a flame graph (memray's
# HTML) for the FLAMEGRAPHS processes with the largest peaks. Errors are
# reported per capture, never raised.
import glob, json, linecache, os, sys

_extra = os.environ.get("OOMLAB_MEMRAY_PATH", "")
if _extra:
    sys.path.append(_extra)

import importlib.metadata
import memray
from memray import FileReader

heap_dir, out_path, top, flames = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
procs, errors = [], []
for path in sorted(glob.glob(os.path.join(heap_dir, "memray-*.bin*"))):
    name = os.path.basename(path)
    try:
        reader = FileReader(path)
        md = reader.metadata
        records = list(reader.get_high_watermark_allocation_records(merge_threads=True))
    except Exception as e:  # a capture cut before its header, say
        errors.append("%s: %s" % (name, e))
        continue
    records.sort(key=lambda r: r.size, reverse=True)
    out = []
    for rec in records[:top]:
        try:
            stack = rec.stack_trace(40)
        except Exception:
            stack = []
        frames = []
        for function, filename, line in stack:
            code = linecache.getline(filename, line).strip() if filename else ""
            frames.append({"function": function, "file": filename, "line": line, "code": code[:160]})
        out.append({"bytes": rec.size, "allocations": rec.n_allocations, "frames": frames})
    procs.append({
        "capture": name,
        "pid": md.pid,
        "command": md.command_line,
        "peak_bytes": md.peak_memory,
        "held_bytes": sum(r.size for r in records),
        "records": out,
    })

procs.sort(key=lambda p: p["peak_bytes"], reverse=True)
for p in procs[:flames]:
    html = os.path.join(heap_dir, "flamegraph-%s.html" % p["pid"])
    code = (
        "import sys, runpy; sys.path.append(%r); "
        "sys.argv = ['memray', 'flamegraph', '--force', '-o', %r, %r]; "
        "runpy.run_module('memray', run_name='__main__', alter_sys=True)"
    ) % (_extra, html, os.path.join(heap_dir, p["capture"]))
    rc = os.spawnv(os.P_WAIT, sys.executable, [sys.executable, "-c", code])
    if rc == 0 and os.path.exists(html):
        p["flamegraph"] = os.path.basename(html)
    else:
        errors.append("flame graph of %s: memray flamegraph exited %s" % (p["capture"], rc))

with open(out_path, "w") as f:
    json.dump({"version": importlib.metadata.version("memray"), "processes": procs, "errors": errors}, f)
