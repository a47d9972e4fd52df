use super::*;

#[test]
fn unknown_keys_are_refused_with_their_name() {
    let err = Settings::from_toml("wokers = 2").unwrap_err().to_string();
    assert!(err.contains("wokers"), "{err}");
    let err = Settings::from_toml("[photos]\nembed = \"shrink\"")
        .unwrap_err()
        .to_string();
    assert!(err.contains("shrink"), "{err}");
}

#[test]
fn impossible_values_name_the_key() {
    let err = Settings::from_toml("workers = 0").unwrap_err().to_string();
    assert!(err.contains("`workers`"), "{err}");
    let err = Settings::from_toml("[photos]\njpeg_quality = 0")
        .unwrap_err()
        .to_string();
    assert!(err.contains("photos.jpeg_quality"), "{err}");
}

#[test]
fn environment_overrides_nested_keys() {
    let mut t = toml::Table::new();
    apply_env_overrides(
        &mut t,
        vec![
            ("REPORT_SERVER__WORKERS".to_string(), "1".to_string()),
            ("REPORT_SERVER__PHOTOS__EMBED".into(), "resize".into()),
            ("UNRELATED".into(), "x".into()),
        ]
        .into_iter(),
    )
    .unwrap();
    let s = Settings::deserialize(toml::Value::Table(t)).unwrap();
    assert_eq!(s.workers, 1);
    assert_eq!(s.photos.embed, EmbedMode::Resize);
}

#[test]
fn every_shipped_profile_parses() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles");
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let text = std::fs::read_to_string(&path).unwrap();
            Settings::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            n += 1;
        }
    }
    assert!(n >= 6, "expected the six shipped profiles, found {n}");
}

#[test]
fn the_unicode_font_needs_incremental_assembly_and_lean_uses_it() {
    let err = Settings::from_toml("[pdf]\nfont = \"unicode\"")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pdf.font") && err.contains("incremental"),
        "{err}"
    );
    let s = Settings::from_toml("[pdf]\nfont = \"unicode\"\nassembly = \"incremental\"").unwrap();
    assert_eq!(s.pdf.font, PdfFont::Unicode);
    assert_eq!(Settings::default().pdf.font, PdfFont::Builtin);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles");
    for (profile, font) in [
        ("lean", PdfFont::Unicode),
        ("original", PdfFont::Builtin),
        ("quick-fix", PdfFont::Builtin),
    ] {
        let text = std::fs::read_to_string(dir.join(format!("{profile}.toml"))).unwrap();
        assert_eq!(
            Settings::from_toml(&text).unwrap().pdf.font,
            font,
            "{profile}"
        );
    }
}
