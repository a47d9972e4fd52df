"""What the app's `build_pdf` keeps, with photos handed over as file paths
(REPORT_PHOTO_SOURCE=path): tracemalloc's peak and what is still allocated
after it returned and after gc.collect().

    .venv/bin/python measure/build_pdf_tracemalloc.py 4     # photos

Measured 2026-11-30 (4000x3000 noise JPEGs of 4.3 MB): n=4 -> 43.2 MB
allocated after it returned (2.5x the photos' bytes), 0.1 MB after
gc.collect().
"""
import gc, io, os, sys, tracemalloc, random
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import tempfile
WORK = tempfile.mkdtemp(prefix="build-pdf-")
from PIL import Image as PI
from inspections.reports.pdf import build_pdf
n = int(sys.argv[1])
p = os.path.join(WORK, "cam.jpg")
if not os.path.exists(p):
    img = PI.effect_noise((4000, 3000), 40).convert("RGB")
    img.save(p, quality=60)
sz = os.path.getsize(p)
paths = []
for i in range(n):
    q = os.path.join(WORK, f"cam{i}.jpg")
    if not os.path.exists(q):
        open(q, "wb").write(open(p, "rb").read())
    paths.append(q)
def rss():
    for l in open("/proc/self/status"):
        if l.startswith("VmRSS"): return int(l.split()[1]) / 1024
gc.collect()
tracemalloc.start()
r0 = rss()
site = {"name": "x"}
items = [{"asset": "a"}]
pdf = build_pdf(site, items, [paths], [])
cur, peak = tracemalloc.get_traced_memory()
print(f"n={n} jpeg={sz/1e6:.2f}MB pdf={len(pdf)/1e6:.2f}MB peak={peak/1e6:.1f}MB ({peak/n/sz:.2f}x/photo) after={cur/1e6:.1f}MB", end=" ")
del pdf
cur2, _ = tracemalloc.get_traced_memory()
print(f"after del pdf={cur2/1e6:.1f}MB", end=" ")
gc.collect()
cur3, _ = tracemalloc.get_traced_memory()
hwm=[int(l.split()[1])/1024 for l in open("/proc/self/status") if l.startswith("VmHWM")][0]; print(f"after gc={cur3/1e6:.1f}MB rss0={r0:.0f} rss={rss():.0f} hwm={hwm:.0f}")
