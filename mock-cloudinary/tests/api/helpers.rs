use mock_cloudinary::{FakeCloudinary, FaultConfig};

/// A small catalogue id: fast to generate in debug builds.
pub const SMALL_ID: &str = "oomlab/400x300-30k-1";

pub async fn spawn_fake() -> FakeCloudinary {
    spawn_with_faults(FaultConfig::default()).await
}

pub async fn spawn_with_faults(faults: FaultConfig) -> FakeCloudinary {
    FakeCloudinary::builder()
        .cloud_name("demo")
        .faults(faults)
        .start()
        .await
        .expect("fake starts")
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap()
}

pub fn image_url(fake: &FakeCloudinary, transformation: &str, file: &str) -> String {
    let t = if transformation.is_empty() {
        String::new()
    } else {
        format!("{transformation}/")
    };
    format!(
        "{}/{}/image/upload/{t}{file}",
        fake.base_url(),
        fake.cloud_name()
    )
}

pub fn dimensions(bytes: &[u8]) -> (u32, u32) {
    mock_cloudinary::transform::dimensions(bytes).expect("an image")
}

pub async fn upload(
    fake: &FakeCloudinary,
    resource: &str,
    bytes: Vec<u8>,
    filename: &str,
    public_id: Option<&str>,
) -> reqwest::Response {
    let mut form = reqwest::multipart::Form::new().text("api_key", "123").part(
        "file",
        reqwest::multipart::Part::bytes(bytes).file_name(filename.to_string()),
    );
    if let Some(id) = public_id {
        form = form.text("public_id", id.to_string());
    }
    client()
        .post(fake.upload_url(resource))
        .multipart(form)
        .send()
        .await
        .unwrap()
}
