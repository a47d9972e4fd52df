//! `[model.cpu]`: a job spends the modelled app's CPU time on its own
//! thread (`jobs::cpu`). Bounds are from below only (a job cannot take less
//! wall time than the CPU it spent), so a loaded machine cannot fail them.

use memstats::JobTimes;
use report_server::settings::{CpuSettings, EmbedMode, FetchMode};
use serde_json::{Value, json};

use crate::helpers::{TestApp, settings_with, small_photo, spawn_app};

async fn one_job(app: &TestApp, photos: usize) -> Value {
    let urls: Vec<String> = (0..photos)
        .map(|n| app.fake.photo_url(&small_photo(n)))
        .collect();
    let body = json!({"site": {"name": "Depot"}, "items": [{"asset": "A", "photo_urls": urls}]});
    let ack: Value = app.submit(&body).await.json().await.unwrap();
    let job = app.wait_for_job(ack["job_id"].as_i64().unwrap()).await;
    assert_eq!(job["status"], "completed", "{job}");
    job
}

/// Seconds the job ran on its worker (`started_at` to `finished_at`).
fn processing_s(job: &Value) -> f64 {
    let t: JobTimes = serde_json::from_value(job.clone()).unwrap();
    t.processing_ms().expect("a finished job's times") as f64 / 1000.0
}

/// `report_server_model_cpu_seconds_total`: what the jobs burned.
async fn burned_s(app: &TestApp) -> f64 {
    let (_, text) = crate::metrics::metrics(app, None).await;
    text.lines()
        .find_map(|l| l.strip_prefix("report_server_model_cpu_seconds_total "))
        .unwrap_or_else(|| panic!("no model CPU counter in\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_spends_the_modelled_cpu_time_and_none_when_it_is_off() {
    let settings = settings_with(FetchMode::AllUpfront, EmbedMode::Original, 320);
    let off = spawn_app(settings.clone()).await;
    one_job(&off, 3).await;
    assert_eq!(burned_s(&off).await, 0.0, "no [model.cpu]: nothing burned");

    let mut on = settings;
    // 3 photos of 640x480 (0.31 MP, about 60 KB each): 3 x (400 + 0.31 x
    // 1000 + 0.06 x 1000) + 200 + 100 = about 2.6 s of CPU; the server's
    // own work on such a job is a small part of it.
    on.model.cpu = CpuSettings {
        job_ms: 200.0,
        decode_ms_per_megapixel: 1000.0,
        embed_ms_per_mb: 1000.0,
        document_ms_per_photo: 400.0,
        document_ms: 100.0,
        ..CpuSettings::default()
    };
    let app = spawn_app(on).await;
    let job = one_job(&app, 3).await;
    let burned = burned_s(&app).await;
    assert!(burned >= 1.5, "burned {burned} s of the modelled 2.6");
    // The CPU of a thread cannot run ahead of the wall clock.
    let took = processing_s(&job);
    assert!(took >= 2.5, "the job took {took} s for 2.6 s of CPU");
}
