use crate::helpers::*;

#[tokio::test]
async fn image_upload_is_delivered_with_the_same_bytes() {
    let fake = spawn_fake().await;
    let jpeg = fake.photo_bytes("oomlab/640x480-60k-1").unwrap().to_vec();
    let response = upload(
        &fake,
        "image",
        jpeg.clone(),
        "IMG_0001.jpg",
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
