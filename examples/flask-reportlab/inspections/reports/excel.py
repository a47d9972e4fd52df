"""The Excel workbook: Summary (with a logo), Items, Materials. No photos."""

from collections import defaultdict
import io

from openpyxl import Workbook
from openpyxl.drawing.image import Image as XlImage
from openpyxl.styles import Font
from PIL import Image as PILImage, ImageDraw

ITEM_COLUMNS = ("asset", "system", "description", "quantity", "brand", "specification",
                "comments", "photos")


def _logo():
    """A small PNG logo, drawn once per workbook."""
    image = PILImage.new("RGB", (240, 60), (20, 60, 110))
    ImageDraw.Draw(image).text((12, 20), "SITE INSPECTIONS", fill=(255, 255, 255))
    buf = io.BytesIO()
    image.save(buf, format="PNG")
    buf.seek(0)
    return buf


def build_workbook(site, items):
    """The .xlsx file as bytes."""
    wb = Workbook()
    summary = wb.active
    summary.title = "Summary"
    summary.add_image(XlImage(_logo()), "D1")
    summary.append(["Inspection report"])
    summary["A1"].font = Font(bold=True, size=14)
    for field in ("name", "address", "client", "inspector", "date"):
        summary.append([field.capitalize(), site.get(field, "")])
    summary.append(["Items", len(items)])
    summary.append(["Photos", sum(len(i.get("photo_urls", [])) for i in items)])

    sheet = wb.create_sheet("Items")
    sheet.append([c.capitalize() for c in ITEM_COLUMNS])
    for item in items:
        row = [item.get(c, "") for c in ITEM_COLUMNS[:-1]]
        sheet.append(row + [len(item.get("photo_urls", []))])
    for cell in sheet[1]:
        cell.font = Font(bold=True)

    materials = wb.create_sheet("Materials")
    materials.append(["Brand", "Specification", "Quantity"])
    totals = defaultdict(int)
    for item in items:
        totals[(item.get("brand", ""), item.get("specification", ""))] += item.get("quantity", 0)
    for (brand, spec), quantity in sorted(totals.items()):
        materials.append([brand, spec, quantity])

    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
