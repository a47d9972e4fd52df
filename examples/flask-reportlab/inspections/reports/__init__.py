"""Report builders: the Excel workbook, the photos, the PDF."""
