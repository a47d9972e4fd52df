//! The Excel report (rust_xlsxwriter): a summary sheet with the logo, an
//! items sheet with a row per item, a materials sheet. No photos, as in the
//! modelled app.

use rust_xlsxwriter::{Format, Image, Workbook};

use crate::submission::Submission;

/// Build the workbook in memory.
pub fn build_workbook(sub: &Submission, logo_png: &[u8]) -> anyhow::Result<Vec<u8>> {
    let mut wb = Workbook::new();
    let bold = Format::new().set_bold();

    let summary = wb.add_worksheet().set_name("Summary")?;
    summary.set_column_width(0, 18)?;
    summary.set_column_width(1, 50)?;
    summary.write_string_with_format(0, 0, "Site inspection report", &bold)?;
    let rows = [
        ("Site", &sub.site.name),
        ("Address", &sub.site.address),
        ("Client", &sub.site.client),
        ("Inspector", &sub.site.inspector),
        ("Date", &sub.site.date),
    ];
    for (i, (k, v)) in rows.iter().enumerate() {
        summary.write_string_with_format(2 + i as u32, 0, *k, &bold)?;
        summary.write_string(2 + i as u32, 1, v.as_str())?;
    }
    let photos: usize = sub.items.iter().map(|i| i.photo_urls.len()).sum();
    summary.write_string_with_format(8, 0, "Items", &bold)?;
    summary.write_number(8, 1, sub.items.len() as f64)?;
    summary.write_string_with_format(9, 0, "Photos", &bold)?;
    summary.write_number(9, 1, photos as f64)?;
    let logo = Image::new_from_buffer(logo_png)?;
    summary.insert_image(0, 3, &logo)?;

    let items = wb.add_worksheet().set_name("Items")?;
    let headers = [
        "#",
        "Asset",
        "System",
        "Description",
        "Quantity",
        "Brand",
        "Specification",
        "Comments",
        "Photos",
    ];
    for (c, h) in headers.iter().enumerate() {
        items.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    for (r, it) in sub.items.iter().enumerate() {
        let row = r as u32 + 1;
        items.write_number(row, 0, (r + 1) as f64)?;
        items.write_string(row, 1, &it.asset)?;
        items.write_string(row, 2, &it.system)?;
        items.write_string(row, 3, &it.description)?;
        items.write_number(row, 4, f64::from(it.quantity))?;
        items.write_string(row, 5, &it.brand)?;
        items.write_string(row, 6, &it.specification)?;
        items.write_string(row, 7, &it.comments)?;
        items.write_number(row, 8, it.photo_urls.len() as f64)?;
    }

    let materials = wb.add_worksheet().set_name("Materials")?;
    for (c, h) in ["Brand", "Specification", "Quantity"].iter().enumerate() {
        materials.write_string_with_format(0, c as u16, *h, &bold)?;
    }
    let mut totals: std::collections::BTreeMap<(&str, &str), u64> = Default::default();
    for it in &sub.items {
        *totals
            .entry((it.brand.as_str(), it.specification.as_str()))
            .or_default() += u64::from(it.quantity);
    }
    for (r, ((brand, spec), qty)) in totals.iter().enumerate() {
        let row = r as u32 + 1;
        materials.write_string(row, 0, *brand)?;
        materials.write_string(row, 1, *spec)?;
        materials.write_number(row, 2, *qty as f64)?;
    }
    Ok(wb.save_to_buffer()?)
}

/// A small logo, drawn once at start (the modelled app ships a PNG).
pub fn logo_png() -> Vec<u8> {
    let img = image::RgbImage::from_fn(160, 48, |x, y| {
        let band = (x / 20 + y / 12) % 3;
        match band {
            0 => image::Rgb([20, 70, 140]),
            1 => image::Rgb([240, 160, 30]),
            _ => image::Rgb([255, 255, 255]),
        }
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .expect("encoding a PNG in memory cannot fail");
    out.into_inner()
}
