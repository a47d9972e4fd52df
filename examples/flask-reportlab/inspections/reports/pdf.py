"""The PDF report with reportlab platypus: a header, a table per item, a
photo grid per item (3 per row, 4 per row above 15 photos), signatures."""

import base64
import io

from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.platypus import Image, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

STYLES = getSampleStyleSheet()
GRID = TableStyle([
    ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
    ("VALIGN", (0, 0), (-1, -1), "TOP"),
    ("FONTSIZE", (0, 0), (-1, -1), 9),
])


def _fields_table(rows, width):
    table = Table([[Paragraph(f"<b>{k}</b>", STYLES["BodyText"]),
                    Paragraph(str(v), STYLES["BodyText"])] for k, v in rows],
                  colWidths=[width * 0.3, width * 0.7])
    table.setStyle(GRID)
    return table


def _photo(source, cell_width):
    """An Image flowable fitted to the cell, or a placeholder."""
    if source is None:
        return Paragraph("<i>image not available</i>", STYLES["BodyText"])
    image = Image(source)
    scale = cell_width / image.imageWidth
    image.drawWidth = cell_width
    image.drawHeight = image.imageHeight * scale
    return image


def _photo_grid(photos, width):
    per_row = 4 if len(photos) > 15 else 3
    cell = width / per_row
    cells = [_photo(p, cell - 6) for p in photos]
    rows = [cells[i:i + per_row] for i in range(0, len(cells), per_row)]
    rows[-1] += [""] * (per_row - len(rows[-1]))
    table = Table(rows, colWidths=[cell] * per_row)
    table.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP"),
                               ("ALIGN", (0, 0), (-1, -1), "CENTER")]))
    return table


def build_pdf(site, items, photos, signatures):
    """The .pdf file as bytes; `photos[i]` are item i's photos (BytesIO,
    paths, or None)."""
    out = io.BytesIO()
    doc = SimpleDocTemplate(out, pagesize=A4, leftMargin=15 * mm, rightMargin=15 * mm,
                            topMargin=15 * mm, bottomMargin=15 * mm,
                            title=f"Inspection - {site.get('name', '')}")
    width = doc.width
    story = [Paragraph(f"Inspection report: {site.get('name', '')}", STYLES["Title"]),
             _fields_table([(k.capitalize(), site.get(k, "")) for k in
                            ("address", "client", "inspector", "date")], width),
             Spacer(1, 8 * mm)]
    for number, (item, item_photos) in enumerate(zip(items, photos), start=1):
        story.append(Paragraph(f"{number}. {item.get('asset', '')}", STYLES["Heading2"]))
        story.append(_fields_table(
            [(k.capitalize(), item.get(k, "")) for k in
             ("system", "description", "quantity", "brand", "specification", "comments")],
            width))
        if item_photos:
            story.append(Spacer(1, 4 * mm))
            story.append(_photo_grid(item_photos, width))
        story.append(Spacer(1, 6 * mm))
    if signatures:
        story.append(Paragraph("Signatures", STYLES["Heading2"]))
        row = []
        for sig in signatures:
            png = base64.b64decode(sig["image"].split(",", 1)[1])
            image = Image(io.BytesIO(png), width=50 * mm, height=20 * mm, kind="proportional")
            row.append([image, Paragraph(f"{sig.get('role', '')}: {sig.get('name', '')}",
                                         STYLES["BodyText"])])
        story.append(Table([row], colWidths=[width / len(row)] * len(row)))
    doc.build(story)
    return out.getvalue()
