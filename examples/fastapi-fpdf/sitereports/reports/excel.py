"""The workbook: the inspection, its items, and the photo list (no images)."""

import datetime

from openpyxl import Workbook
from openpyxl.styles import Font


def build(inspection, items, path: str) -> str:
    wb = Workbook()
    summary = wb.active
    summary.title = "Inspection"
    created = datetime.datetime.fromtimestamp(inspection["created_at"]).isoformat(timespec="seconds")
    for row in (
        ("Site", inspection["site_name"]),
        ("Inspector", inspection["inspector"]),
        ("Created", created),
        ("Items", len(items)),
    ):
        summary.append(row)
        summary.cell(row=summary.max_row, column=1).font = Font(bold=True)

    sheet = wb.create_sheet("Items")
    sheet.append(["#", "Title", "Notes", "Photos"])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for n, item in enumerate(items, start=1):
        sheet.append([n, item.get("title", ""), item.get("notes", ""), len(item.get("photos", []))])

    photos = wb.create_sheet("Photos")
    photos.append(["Item", "File"])
    for n, item in enumerate(items, start=1):
        for name in item.get("photos", []):
            photos.append([n, name])
    wb.save(path)
    return path
