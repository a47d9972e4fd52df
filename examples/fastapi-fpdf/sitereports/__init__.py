"""Site reports: inspectors log in, fill a form with photos, and get a PDF
and a workbook built in the background (FastAPI, SQLite, fpdf2, openpyxl,
the official Cloudinary SDK).

The ASGI application comes from `sitereports.main:create_app` (a factory:
`uvicorn --factory sitereports.main:create_app`).
"""
