use crate::helpers::*;

#[tokio::test]
async fn image_upload_is_delivered_with_the_same_bytes() {
    let fake = spawn_fake().await;
    let jpeg = fake.photo_bytes("oomlab/640x480-60k-1").unwrap().to_vec();
    let response = upload(
        &fake,
        "image",
        jpeg.clone(),
        "/home/me/photos/IMG_0001.jpg",
        Some("site/photo-1"),
    )
    .await;
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["public_id"], "site/photo-1");
    assert_eq!(answer["width"], 640);
    assert_eq!(answer["height"], 480);
    assert_eq!(answer["format"], "jpg");
    assert_eq!(answer["resource_type"], "image");
    assert_eq!(answer["bytes"], jpeg.len());
    assert_eq!(answer["original_filename"], "IMG_0001");
    let url = answer["secure_url"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("{}/demo/image/upload/v", fake.base_url())),
        "{url}"
    );
    let served = client()
        .get(url)
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(served.as_ref(), jpeg.as_slice());
    let resized = client()
        .get(url.replace("/upload/", "/upload/w_320/"))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(dimensions(&resized), (320, 240));
    assert_eq!(fake.upload_count(), 1);
}

#[tokio::test]
async fn raw_upload_is_delivered_with_the_same_bytes() {
    let fake = spawn_fake().await;
    let pdf: Vec<u8> = b"%PDF-1.7\n"
        .iter()
        .copied()
        .chain((0..100_000u32).map(|i| (i % 251) as u8))
        .collect();
    let response = upload(&fake, "raw", pdf.clone(), "report.pdf", None).await;
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    let public_id = answer["public_id"].as_str().unwrap();
    assert!(public_id.ends_with(".pdf"), "{public_id}");
    assert_eq!(answer["resource_type"], "raw");
    let response = client()
        .get(answer["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/pdf");
    assert_eq!(response.bytes().await.unwrap().as_ref(), pdf.as_slice());
}

#[tokio::test]
async fn folder_is_prefixed_to_the_public_id() {
    let fake = spawn_fake().await;
    let form = reqwest::multipart::Form::new()
        .text("folder", "reports/2024")
        .text("public_id", "r1.xlsx")
        .part(
            "file",
            reqwest::multipart::Part::bytes(vec![1, 2, 3]).file_name("r1.xlsx"),
        );
    let answer: serde_json::Value = client()
        .post(fake.upload_url("raw"))
        .multipart(form)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["public_id"], "reports/2024/r1.xlsx");
}

#[tokio::test]
async fn bad_uploads_are_refused_without_panicking() {
    let fake = spawn_fake().await;
    let response = upload(&fake, "image", b"not an image".to_vec(), "x.jpg", None).await;
    assert_eq!(response.status(), 400);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Invalid image")
    );
    let response = upload(&fake, "raw", vec![1], "x.bin", Some("../escape")).await;
    assert_eq!(response.status(), 400);
    let response = client()
        .post(fake.upload_url("image"))
        .body("plain")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    assert_eq!(fake.upload_count(), 0);
}

/// A multipart form whose `file` is a text field, as the SDKs send URLs
/// and data URIs.
async fn upload_text(
    fake: &mock_cloudinary::FakeCloudinary,
    resource: &str,
    file: String,
    extra: &[(&'static str, &'static str)],
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new()
        .text("api_key", "123")
        .text("timestamp", "1700000000")
        .text("signature", "0123456789abcdef")
        .text("signature_algorithm", "sha256")
        .text("file", file);
    for (name, value) in extra {
        form = form.text(*name, *value);
    }
    client()
        .post(fake.upload_url(resource))
        .multipart(form)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn auto_upload_answers_image_for_images_and_raw_for_other_bytes() {
    let fake = spawn_fake().await;
    let jpeg = fake.photo_bytes(SMALL_ID).unwrap().to_vec();
    let answer: serde_json::Value = upload(&fake, "auto", jpeg.clone(), "a.jpg", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["resource_type"], "image");
    assert_eq!(
        (answer["width"].as_u64(), answer["height"].as_u64()),
        (Some(400), Some(300))
    );
    assert!(
        answer["secure_url"]
            .as_str()
            .unwrap()
            .contains("/demo/image/upload/v")
    );

    let pdf = b"%PDF-1.4\nnot an image\n%%EOF\n".to_vec();
    let answer: serde_json::Value = upload(&fake, "auto", pdf.clone(), "report.pdf", None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(answer["resource_type"], "raw");
    assert!(answer["public_id"].as_str().unwrap().ends_with(".pdf"));
    assert!(answer.get("width").is_none(), "{answer}");
    let served = client()
        .get(answer["secure_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(served.as_ref(), pdf.as_slice());
}

#[tokio::test]
async fn answers_carry_every_field_the_sdks_read() {
    let fake = spawn_fake().await;
    let jpeg = fake.photo_bytes(SMALL_ID).unwrap().to_vec();
    let answer: serde_json::Value = upload(&fake, "image", jpeg, "a.jpg", None)
        .await
        .json()
        .await
        .unwrap();
    for field in [
        "secure_url",
        "url",
        "public_id",
        "version",
        "width",
        "height",
        "format",
        "resource_type",
        "bytes",
        "etag",
        "created_at",
        "type",
        "signature",
        "asset_id",
        "version_id",
        "original_filename",
    ] {
        let value = &answer[field];
        assert!(!value.is_null() && value != "", "{field} missing: {answer}");
    }
    assert_eq!(answer["type"], "upload");
    let created = answer["created_at"].as_str().unwrap();
    assert!(
        created.starts_with("2023-11-14T") && created.ends_with('Z'),
        "{created}"
    );
}

#[tokio::test]
async fn base64_data_uri_is_stored_decoded() {
    let fake = spawn_fake().await;
    let png = client()
        .get(image_url(&fake, "w_40", &format!("{SMALL_ID}.png")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let uri = format!("data:image/png;base64,{}", base64_encode(&png));
    let response = upload_text(&fake, "image", uri, &[("folder", "signatures")]).await;
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["format"], "png");
    assert_eq!(
        (answer["width"].as_u64(), answer["height"].as_u64()),
        (Some(40), Some(30))
    );
    assert!(
        answer["public_id"]
            .as_str()
            .unwrap()
            .starts_with("signatures/")
    );
    let served = client()
        .get(answer["secure_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(served, png);

    let bad = upload_text(&fake, "image", "data:text/plain,hello".into(), &[]).await;
    assert_eq!(bad.status(), 400);
    let answer: serde_json::Value = bad.json().await.unwrap();
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("data URI")
    );
}

#[tokio::test]
async fn remote_url_on_the_fake_itself_is_fetched_and_others_are_refused() {
    let fake = spawn_fake().await;
    let source = fake.photo_url(SMALL_ID);
    let response = upload_text(&fake, "image", source.clone(), &[("public_id", "copied")]).await;
    assert_eq!(response.status(), 200);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert_eq!(answer["public_id"], "copied");
    assert_eq!(answer["original_filename"], "400x300-30k-1");
    let served = client()
        .get(answer["secure_url"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(served, fake.photo_bytes(SMALL_ID).unwrap());

    for url in [
        "http://example.com/a.jpg",
        "https://127.0.0.1/a.jpg",
        "s3://bucket/a.jpg",
    ] {
        let response = upload_text(&fake, "image", url.into(), &[]).await;
        assert_eq!(response.status(), 400, "{url}");
        let answer: serde_json::Value = response.json().await.unwrap();
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("Remote URL not allowed"),
            "{url}: {message}"
        );
    }
    let missing = format!("{}/demo/image/upload/nope.jpg", fake.base_url());
    let response = upload_text(&fake, "image", missing, &[]).await;
    assert_eq!(response.status(), 400);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Http error: 404"),
        "{answer}"
    );
}

#[tokio::test]
async fn upload_preset_gives_its_folder_and_unknown_presets_are_refused() {
    let fake = mock_cloudinary::FakeCloudinary::builder()
        .cloud_name("demo")
        .upload_preset(
            "site",
            mock_cloudinary::UploadPreset {
                folder: Some("sites".into()),
            },
        )
        .start()
        .await
        .unwrap();
    let url = fake.photo_url(SMALL_ID);
    let answer: serde_json::Value =
        upload_text(&fake, "image", url.clone(), &[("upload_preset", "site")])
            .await
            .json()
            .await
            .unwrap();
    assert!(
        answer["public_id"].as_str().unwrap().starts_with("sites/"),
        "{answer}"
    );
    let answer: serde_json::Value = upload_text(
        &fake,
        "image",
        url.clone(),
        &[("upload_preset", "site"), ("folder", "mine")],
    )
    .await
    .json()
    .await
    .unwrap();
    assert!(
        answer["public_id"].as_str().unwrap().starts_with("mine/"),
        "{answer}"
    );
    let response = upload_text(&fake, "image", url, &[("upload_preset", "other")]).await;
    assert_eq!(response.status(), 400);
    let answer: serde_json::Value = response.json().await.unwrap();
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Upload preset not found")
    );
}

fn base64_encode(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}
