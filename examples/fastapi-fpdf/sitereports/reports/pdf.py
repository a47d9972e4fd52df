"""The PDF (fpdf2): a header, then each item with its photos three to a
row, then the signature. fpdf2 embeds a JPEG's own bytes; the whole document
is built in memory and written at the end."""

import base64
import io

from fpdf import FPDF
from PIL import Image

PHOTO_W = 58  # mm; three to a row on A4 with 10 mm margins
GAP = 4


def _latin1(text) -> str:
    # The core fonts are Latin-1 only.
    return str(text).encode("latin-1", "replace").decode("latin-1")


def build(inspection, items, photo_paths: dict, path: str) -> str:
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 16)
    pdf.cell(0, 10, _latin1(f"Site inspection: {inspection['site_name']}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", size=11)
    pdf.cell(0, 7, _latin1(f"Inspector: {inspection['inspector']}"), new_x="LMARGIN", new_y="NEXT")

    for n, item in enumerate(items, start=1):
        pdf.ln(4)
        pdf.set_font("Helvetica", "B", 13)
        pdf.cell(0, 8, _latin1(f"{n}. {item.get('title', '')}"), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("Helvetica", size=10)
        if item.get("notes"):
            pdf.multi_cell(0, 5, _latin1(item["notes"]), new_x="LMARGIN", new_y="NEXT")
        _photo_grid(pdf, [photo_paths[name] for name in item.get("photos", [])])

    signature = inspection["signature"]
    if signature.startswith("data:image/png;base64,"):
        pdf.ln(6)
        pdf.cell(0, 7, "Signature", new_x="LMARGIN", new_y="NEXT")
        png = base64.b64decode(signature.split(",", 1)[1])
        pdf.image(io.BytesIO(png), w=60)
    pdf.output(path)
    return path


def _photo_grid(pdf: FPDF, paths) -> None:
    x0 = pdf.l_margin
    row_h = 0.0
    for i, path in enumerate(paths):
        with Image.open(path) as im:  # the header only: the size
            w_px, h_px = im.size
        h = PHOTO_W * h_px / w_px
        col = i % 3
        if col == 0:
            pdf.ln(row_h + (GAP if i else 0))
            row_h = 0.0
            if pdf.get_y() + h > pdf.h - pdf.b_margin:
                pdf.add_page()
        y = pdf.get_y()
        pdf.image(path, x=x0 + col * (PHOTO_W + GAP), y=y, w=PHOTO_W, h=h)
        row_h = max(row_h, h)
    pdf.ln(row_h)
