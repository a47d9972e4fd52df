# oomlab's reader of tracemalloc snapshots: python tracemalloc_sites.py HEAP_DIR OUT.json TOP
# The same JSON as memray_sites.py: per process, its largest snapshot's TOP
# tracebacks by size, innermost frame first (tracemalloc names no functions).
import glob, json, linecache, os, sys, tracemalloc

heap_dir, out_path, top = sys.argv[1], sys.argv[2], int(sys.argv[3])
procs, errors = [], []
for path in sorted(glob.glob(os.path.join(heap_dir, "tracemalloc-*.snap"))):
    name = os.path.basename(path)
    try:
        snap = tracemalloc.Snapshot.load(path)
        with open(path + ".json") as f:
            meta = json.load(f)
        stats = snap.statistics("traceback")
    except Exception as e:
        errors.append("%s: %s" % (name, e))
        continue
    records = []
    for st in stats[:top]:
        frames = [
            {"function": "", "file": fr.filename, "line": fr.lineno,
             "code": linecache.getline(fr.filename, fr.lineno).strip()[:160]}
            for fr in reversed(list(st.traceback))
        ]
        records.append({"bytes": st.size, "allocations": st.count, "frames": frames})
    procs.append({
        "capture": name,
        "pid": int(name.split("-")[1].split(".")[0]),
        "command": meta.get("command", ""),
        "peak_bytes": meta.get("peak_bytes", 0),
        "records": records,
    })
procs.sort(key=lambda p: p["peak_bytes"], reverse=True)
with open(out_path, "w") as f:
    json.dump({"version": "tracemalloc (Python %d.%d)" % sys.version_info[:2], "processes": procs, "errors": errors}, f)
