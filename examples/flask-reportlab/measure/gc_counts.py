"""How many container objects (the ones CPython's cyclic collector counts)
the app's report builders allocate, how many they leave in reference cycles,
and when, photo by photo, during the PDF build. Photos are in-memory files
(REPORT_PHOTO_SOURCE=memory), phone-sized (2160x3840 JPEG).

    .venv/bin/python measure/gc_counts.py 1 2 5 10     # photos per report
    .venv/bin/python measure/gc_counts.py --warm 3     # each built 3 times in one process

With the collector disabled, ``gc.get_count()[0]`` is the net number of new
container objects (allocated minus freed) since the last collection, which
is what CPython compares with its 700 threshold. Printed per run:
``net`` (the count when the builder returned: live and cyclic garbage),
``after_del`` (once the caller dropped the result and the photos: what is
left is cyclic garbage), ``garbage`` (what ``gc.collect()`` then found
unreachable), ``held_mb`` (tracemalloc: bytes still allocated after the
build returned and the photos were dropped) and ``freed_mb`` (what the
collection freed), and, for the PDF, the count when each photo was drawn.
"""
import base64
import gc
import io
import os
import sys
import tracemalloc

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from PIL import Image as PI  # noqa: E402
from reportlab.pdfgen import canvas  # noqa: E402

from inspections.reports.excel import build_workbook  # noqa: E402
from inspections.reports.pdf import build_pdf  # noqa: E402


def phone_jpeg():
    img = PI.effect_noise((540, 960), 30).convert("RGB").resize((2160, 3840))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=80)
    return buf.getvalue()


def signature_png():
    buf = io.BytesIO()
    PI.new("RGB", (400, 160), (255, 255, 255)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


SITE = {k: f"site {k}" for k in ("name", "address", "client", "inspector", "date")}
ITEM = {"asset": "AHU-1", "system": "HVAC", "description": "air handler", "quantity": 1,
        "brand": "x", "specification": "y", "comments": "z"}

draws = []
_draw = canvas.Canvas.drawImage


def counting_draw(self, *a, **kw):
    draws.append(gc.get_count()[0])
    return _draw(self, *a, **kw)


canvas.Canvas.drawImage = counting_draw


def measure(label, build):
    gc.collect()
    tracemalloc.start()
    c0 = gc.get_count()[0]
    result, drop = build()
    net = gc.get_count()[0] - c0
    del result
    drop()
    after_del = gc.get_count()[0] - c0
    held = tracemalloc.get_traced_memory()[0]
    garbage = gc.collect()
    freed = held - tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print(f"{label}: net={net} after_del={after_del} garbage={garbage} "
          f"held_mb={held / 2**20:.1f} freed_mb={freed / 2**20:.1f}")


def warm(times, jpeg, sigs):
    """The workbook, then the PDF of 10 photos, each built `times` times in
    this one process: the first build also counts the modules it loads."""
    for i in range(times):
        measure(f"workbook #{i + 1}", lambda: (
            build_workbook(SITE, [dict(ITEM, photo_urls=["u"] * 10)]), lambda: None))
    for i in range(times):
        state = {"photos": [io.BytesIO(jpeg) for _ in range(10)]}
        draws.clear()
        measure(f"pdf, 10 photos #{i + 1}", lambda: (
            build_pdf(SITE, [ITEM], [state["photos"]], sigs), lambda: state.clear()))
        print(f"  count at each drawImage: {draws}")


def main():
    jpeg = phone_jpeg()
    sigs = [{"role": r, "name": r, "image": signature_png()} for r in ("inspector", "client")]
    print(f"photo: {len(jpeg)} bytes, 2160x3840")
    gc.disable()
    if sys.argv[1:2] == ["--warm"]:
        warm(int(sys.argv[2]) if len(sys.argv) > 2 else 3, jpeg, sigs)
        return
    measure("workbook (10 photo urls)", lambda: (
        build_workbook(SITE, [dict(ITEM, photo_urls=["u"] * 10)]), lambda: None))
    for n in [int(a) for a in sys.argv[1:]] or [1, 2, 5, 10]:
        state = {"photos": [io.BytesIO(jpeg) for _ in range(n)]}
        draws.clear()

        def build():
            return build_pdf(SITE, [ITEM], [state["photos"]], sigs), lambda: state.clear()

        measure(f"pdf, {n} photos", build)
        print(f"  count at each drawImage: {draws}")


main()
