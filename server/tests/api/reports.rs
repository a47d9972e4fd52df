//! A submission goes all the way to two downloadable reports, in every fetch
//! and embed mode.

use report_server::settings::{EmbedMode, FetchMode};
use serde_json::Value;

use crate::helpers::{settings_with, spawn_app};

/// (width, height) of every JPEG image embedded in a PDF.
fn pdf_jpeg_sizes(pdf: &[u8]) -> Vec<(i64, i64)> {
    let doc = lopdf::Document::load_mem(pdf).expect("the PDF parses");
    let mut sizes = Vec::new();
    for obj in doc.objects.values() {
        if let Ok(stream) = obj.as_stream() {
            let d = &stream.dict;
            let is_jpeg = d
                .get(b"Filter")
                .and_then(|f| f.as_name())
                .is_ok_and(|n| n == b"DCTDecode");
            if is_jpeg {
                let w = d.get(b"Width").and_then(|v| v.as_i64()).unwrap();
                let h = d.get(b"Height").and_then(|v| v.as_i64()).unwrap();
                sizes.push((w, h));
            }
        }
    }
    sizes
}

async fn run_twenty_photo_job(fetch: FetchMode, embed: EmbedMode, expect: (i64, i64)) {
    run_twenty_photo_job_with(settings_with(fetch, embed, 320), expect).await;
}

async fn run_twenty_photo_job_with(settings: report_server::Settings, expect: (i64, i64)) {
    let (fetch, embed) = (settings.photos.fetch, settings.photos.embed);
    let app = spawn_app(settings).await;
    let resp = app.submit(&app.submission(4, 5)).await;
    assert_eq!(resp.status().as_u16(), 202);
    let ack: Value = resp.json().await.unwrap();
    let job_id = ack["job_id"].as_i64().unwrap();
    assert_eq!(ack["status_url"], format!("/api/jobs/{job_id}"));
    let job = app.wait_for_job(job_id).await;
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["progress"], 100);
    assert!(job["warnings"].as_array().unwrap().is_empty(), "{job}");
    let stage_names: Vec<&str> = job["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert!(
        stage_names.contains(&"pdf") && stage_names.contains(&"excel"),
        "{stage_names:?}"
    );

    let pdf = app
        .http
        .get(app.url(&format!("/api/jobs/{job_id}/report.pdf")))
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status().as_u16(), 200);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    let pdf = pdf.bytes().await.unwrap();
    let sizes = pdf_jpeg_sizes(&pdf);
    assert_eq!(sizes.len(), 20, "{fetch:?}/{embed:?}: {sizes:?}");
    assert!(
        sizes.iter().all(|s| *s == expect),
        "{fetch:?}/{embed:?}: {sizes:?}"
    );

    let xlsx = app
        .http
        .get(app.url(&format!("/api/jobs/{job_id}/report.xlsx")))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    use calamine::Reader;
    let mut wb: calamine::Xlsx<_> =
        calamine::open_workbook_from_rs(std::io::Cursor::new(xlsx.to_vec()))
            .expect("the XLSX opens");
    assert_eq!(wb.sheet_names(), vec!["Summary", "Items", "Materials"]);
    let items = wb.worksheet_range("Items").unwrap();
    assert_eq!(items.height(), 5, "a header and one row per item");
    assert_eq!(items.get_value((1, 1)).unwrap().to_string(), "Asset 0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_photos_all_upfront_original_embeds_every_photo_full_size() {
    run_twenty_photo_job(FetchMode::AllUpfront, EmbedMode::Original, (640, 480)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_photos_one_at_a_time_original() {
    run_twenty_photo_job(FetchMode::OneAtATime, EmbedMode::Original, (640, 480)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_photos_passthrough_in_both_fetch_modes() {
    run_twenty_photo_job(FetchMode::AllUpfront, EmbedMode::Passthrough, (640, 480)).await;
    run_twenty_photo_job(FetchMode::OneAtATime, EmbedMode::Passthrough, (640, 480)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_photos_resized_to_max_px_in_both_fetch_modes() {
    run_twenty_photo_job(FetchMode::AllUpfront, EmbedMode::Resize, (320, 240)).await;
    run_twenty_photo_job(FetchMode::OneAtATime, EmbedMode::Resize, (320, 240)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_photos_as_cdn_derivatives_in_both_fetch_modes() {
    run_twenty_photo_job(FetchMode::AllUpfront, EmbedMode::CdnTransform, (320, 240)).await;
    run_twenty_photo_job(FetchMode::OneAtATime, EmbedMode::CdnTransform, (320, 240)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_photos_assembled_incrementally_on_disk() {
    let mut s = settings_with(FetchMode::OneAtATime, EmbedMode::Resize, 320);
    s.pdf.assembly = report_server::settings::Assembly::Incremental;
    run_twenty_photo_job_with(s, (320, 240)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_photo_that_keeps_failing_becomes_a_placeholder_and_a_warning() {
    let app = spawn_app(settings_with(
        FetchMode::OneAtATime,
        EmbedMode::Passthrough,
        320,
    ))
    .await;
    let mut body = app.submission(1, 3);
    body["items"][0]["photo_urls"][1] = app.fake.photo_url("no-such-photo").into();
    let ack: Value = app.submit(&body).await.json().await.unwrap();
    let job = app.wait_for_job(ack["job_id"].as_i64().unwrap()).await;
    assert_eq!(job["status"], "completed", "{job}");
    let warnings = job["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{job}");
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .contains("image not available")
    );
    let pdf = app
        .http
        .get(app.url(&format!("/api/jobs/{}/report.pdf", job["job_id"])))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(pdf_jpeg_sizes(&pdf).len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn observability_endpoints_answer() {
    let app = spawn_app(settings_with(
        FetchMode::OneAtATime,
        EmbedMode::Passthrough,
        320,
    ))
    .await;
    let health: Value = app
        .http
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let mem: memstats::DebugMemory = app
        .http
        .get(app.url("/debug/memory"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .expect("/debug/memory is a memstats::DebugMemory");
    assert!(mem.process.rss > 0);
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("process_resident_memory_bytes "),
        "{metrics}"
    );
    assert!(metrics.contains("report_server_queue_depth"), "{metrics}");
    // After a job, per-stage figures are published.
    let ack: Value = app
        .submit(&app.submission(1, 2))
        .await
        .json()
        .await
        .unwrap();
    app.wait_for_job(ack["job_id"].as_i64().unwrap()).await;
    let metrics = app
        .http
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("report_server_stage_high_water_bytes{stage=\"pdf\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("report_server_jobs_finished_total{status=\"completed\"} 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_download_mode_answers_the_stored_report_byte_for_byte() {
    use report_server::settings::DownloadMode;
    for mode in [
        DownloadMode::Buffered,
        DownloadMode::Joined,
        DownloadMode::Streamed,
    ] {
        let mut settings = settings_with(FetchMode::OneAtATime, EmbedMode::Passthrough, 320);
        settings.reports.download = mode;
        let app = spawn_app(settings).await;
        let ack: Value = app
            .submit(&app.submission(2, 3))
            .await
            .json()
            .await
            .unwrap();
        let job = app.wait_for_job(ack["job_id"].as_i64().unwrap()).await;
        assert_eq!(job["status"], "completed", "{mode:?}: {job}");
        for report in ["pdf", "excel"] {
            let link = &job["results"][report];
            let answered = app
                .http
                .get(app.url(link["url"].as_str().unwrap()))
                .send()
                .await
                .unwrap();
            assert_eq!(answered.status().as_u16(), 200, "{mode:?} {report}");
            let answered = answered.bytes().await.unwrap();
            let stored = app
                .http
                .get(link["cloudinary_url"].as_str().unwrap())
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            assert_eq!(
                link["bytes"].as_u64(),
                Some(stored.len() as u64),
                "{mode:?} {report}"
            );
            assert!(
                stored.len() > 1000,
                "{mode:?} {report}: {} bytes",
                stored.len()
            );
            assert!(
                answered == stored,
                "{mode:?} {report}: the answer differs from the stored file"
            );
        }
    }
}
