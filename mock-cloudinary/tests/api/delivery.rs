use crate::helpers::*;

#[tokio::test]
async fn transformation_strings_give_cloudinary_sizes() {
    let fake = spawn_fake().await;
    let table: &[(&str, (u32, u32))] = &[
        ("", (400, 300)),
        ("w_200", (200, 150)),
        ("h_150", (200, 150)),
        ("w_100,h_100", (100, 100)),
        ("w_100,h_100,c_scale", (100, 100)),
        ("w_100,h_100,c_fit", (100, 75)),
        ("w_800,h_800,c_fit", (800, 600)),
        ("w_200,h_200,c_limit", (200, 150)),
        ("w_800,c_limit", (400, 300)),
        ("w_120,h_120,c_fill", (120, 120)),
        ("w_0.5", (200, 150)),
        ("w_300/h_100", (133, 100)),
        ("q_30", (400, 300)),
        ("q_auto,f_auto", (400, 300)),
        ("f_jpg,w_40", (40, 30)),
        ("v17", (400, 300)),
        ("w_200,c_limit/v3", (200, 150)),
    ];
    let client = client();
    for (transformation, expected) in table {
        let url = image_url(&fake, transformation, &format!("{SMALL_ID}.jpg"));
        let response = client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), 200, "{transformation}");
        assert_eq!(response.headers()["content-type"], "image/jpeg");
        let bytes = response.bytes().await.unwrap();
        assert_eq!(dimensions(&bytes), *expected, "{transformation}");
    }
}

#[tokio::test]
async fn lower_quality_gives_a_smaller_file() {
    let fake = spawn_fake().await;
    let client = client();
    let get = |t: &'static str| {
        let url = image_url(&fake, t, &format!("{SMALL_ID}.jpg"));
        let client = client.clone();
        async move {
            client
                .get(url)
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap()
                .len()
        }
    };
    assert!(get("q_20").await < get("q_90").await);
}

#[tokio::test]
async fn png_ids_are_served_as_png() {
    let fake = spawn_fake().await;
    let response = client()
        .get(image_url(&fake, "w_100", &format!("{SMALL_ID}.png")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "image/png");
    let bytes = response.bytes().await.unwrap();
    assert_eq!(&bytes[..4], b"\x89PNG");
    assert_eq!(dimensions(&bytes), (100, 75));
}

#[tokio::test]
async fn each_catalogue_number_has_its_own_bytes_of_one_size() {
    let fake = spawn_fake().await;
    let a = fake.photo_bytes("oomlab/400x300-30k-1").unwrap();
    let b = fake.photo_bytes("oomlab/400x300-30k-22").unwrap();
    assert_ne!(a, b);
    assert_eq!(dimensions(&a), dimensions(&b));
    let served = client()
        .get(fake.photo_url("oomlab/400x300-30k-22"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(served, b);
}

#[tokio::test]
async fn phone_photos_of_one_kind_differ_in_pixels_not_in_decode_cost() {
    let fake = spawn_fake().await;
    let ids = ["oomlab/phone-1", "oomlab/phone-2", "oomlab/phone-7"];
    let photos: Vec<_> = ids.iter().map(|id| fake.photo_bytes(id).unwrap()).collect();
    let decoded: Vec<_> = photos
        .iter()
        .map(|jpeg| image::load_from_memory(jpeg).unwrap().into_rgb8())
        .collect();
    for (i, j) in [(0, 1), (0, 2), (1, 2)] {
        assert_eq!(decoded[i].dimensions(), (2160, 3840), "{}", ids[i]);
        assert_eq!(decoded[i].dimensions(), decoded[j].dimensions());
        assert_ne!(
            decoded[i].as_raw(),
            decoded[j].as_raw(),
            "{} and {} decode to the same pixels",
            ids[i],
            ids[j]
        );
        assert_eq!(
            sampling(&photos[i]),
            sampling(&photos[j]),
            "chroma subsampling"
        );
        let ratio = photos[i].len() as f64 / photos[j].len() as f64;
        assert!(
            (0.97..=1.03).contains(&ratio),
            "{} is {} bytes, {} is {}",
            ids[i],
            photos[i].len(),
            ids[j],
            photos[j].len()
        );
    }
}

/// The components' sampling factors of a JPEG's SOF segment.
fn sampling(jpeg: &[u8]) -> Vec<u8> {
    let mut i = 2;
    while i + 4 < jpeg.len() {
        let (marker, len) = (
            jpeg[i + 1],
            usize::from(u16::from_be_bytes([jpeg[i + 2], jpeg[i + 3]])),
        );
        if matches!(marker, 0xC0..=0xC2) {
            let components = usize::from(jpeg[i + 9]);
            return (0..components).map(|c| jpeg[i + 11 + 3 * c]).collect();
        }
        i += 2 + len;
    }
    panic!("no SOF segment")
}

#[tokio::test]
async fn camera_photo_is_a_valid_jpeg_of_about_3_mb() {
    let fake = spawn_fake().await;
    let response = client()
        .get(fake.photo_url("oomlab/camera-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let bytes = response.bytes().await.unwrap();
    let ratio = bytes.len() as f64 / 3_000_000.0;
    assert!((0.85..=1.15).contains(&ratio), "{} bytes", bytes.len());
    let decoded = image::load_from_memory(&bytes).expect("a valid JPEG");
    assert_eq!((decoded.width(), decoded.height()), (4000, 3000));
}

#[tokio::test]
async fn unknown_transformation_answers_400_with_x_cld_error() {
    let fake = spawn_fake().await;
    for t in ["e_sepia", "w_abc", "c_crazy,w_10", "q_0"] {
        let response = client()
            .get(image_url(&fake, t, &format!("{SMALL_ID}.jpg")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{t}");
        let error = response.headers()["x-cld-error"]
            .to_str()
            .unwrap()
            .to_string();
        assert!(error.contains("Invalid transformation"), "{t}: {error}");
    }
}

#[tokio::test]
async fn unknown_public_id_answers_404() {
    let fake = spawn_fake().await;
    for file in [
        "nope/missing.jpg",
        "oomlab/camera-x.jpg",
        "oomlab/4x4-1k-1.jpg",
    ] {
        let response = client()
            .get(image_url(&fake, "", file))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404, "{file}");
        assert!(response.headers().contains_key("x-cld-error"), "{file}");
    }
    let raw = format!("{}/demo/raw/upload/v1/none.pdf", fake.base_url());
    assert_eq!(client().get(raw).send().await.unwrap().status(), 404);
    let other_cloud = format!("{}/other/image/upload/{SMALL_ID}.jpg", fake.base_url());
    assert_eq!(
        client().get(other_cloud).send().await.unwrap().status(),
        404
    );
}

#[tokio::test]
async fn huge_outputs_are_refused() {
    let fake = spawn_fake().await;
    let response = client()
        .get(image_url(&fake, "w_20000", &format!("{SMALL_ID}.jpg")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn photo_dir_files_are_served_by_stem() {
    let dir = tempfile::tempdir().unwrap();
    let jpeg = {
        let fake = spawn_fake().await;
        fake.photo_bytes(SMALL_ID).unwrap()
    };
    std::fs::write(dir.path().join("site-visit.jpg"), &jpeg).unwrap();
    let fake = mock_cloudinary::FakeCloudinary::builder()
        .photo_dir(dir.path())
        .start()
        .await
        .unwrap();
    let served = client()
        .get(fake.photo_url("site-visit"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(served, jpeg);
    let url = format!(
        "{}/oomlab/image/upload/w_100/site-visit.jpg",
        fake.base_url()
    );
    let small = client()
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(dimensions(&small), (100, 75));
}

#[tokio::test]
async fn photo_files_are_served_byte_for_byte_under_their_own_format() {
    let dir = tempfile::tempdir().unwrap();
    let jpeg = {
        let fake = spawn_fake().await;
        fake.photo_bytes(SMALL_ID).unwrap()
    };
    let png = {
        let img =
            image::RgbImage::from_fn(8, 6, |x, y| image::Rgb([x as u8 * 30, y as u8 * 40, 7]));
        let mut out = std::io::Cursor::new(Vec::new());
        img.write_to(&mut out, image::ImageFormat::Png).unwrap();
        out.into_inner()
    };
    // Names a photo directory would not allow as public ids.
    std::fs::write(dir.path().join("a photo.JPG"), &jpeg).unwrap();
    std::fs::write(dir.path().join("plan.png"), &png).unwrap();
    let fake = mock_cloudinary::FakeCloudinary::builder()
        .photo_file("photos/1-a_photo", dir.path().join("a photo.JPG"))
        .photo_file("photos/2-plan", dir.path().join("plan.png"))
        .start()
        .await
        .unwrap();
    let get = |url: String| async move {
        let r = client().get(url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        r.bytes().await.unwrap()
    };
    assert_eq!(get(fake.photo_url("photos/1-a_photo")).await, jpeg);
    let png_url = format!("{}/oomlab/image/upload/photos/2-plan.png", fake.base_url());
    assert_eq!(get(png_url).await, png);
    assert_eq!(fake.photo_bytes("photos/1-a_photo").unwrap(), jpeg);
    assert_eq!(
        fake.photo_bytes("photos/2-plan").unwrap(),
        png,
        "a PNG stays a PNG"
    );
}
