//! Tests of the targets: environment overrides, variants, commands.

use super::*;

#[test]
fn only_an_app_takes_environment_overrides_and_its_name_says_which() {
    let lean = Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles/lean.toml");
    let pair = [("REPORT_WORKERS".to_string(), "1".to_string())];
    let e = Target::reference(&lean, None)
        .unwrap()
        .with_env(&pair, "--app-env")
        .unwrap_err()
        .to_string();
    assert!(e.contains("--app-env") && e.contains("--target"), "{e}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"app\"\n[run]\nworking_dir = \"{}\"\ncommand = [\"sh\"]\n\
             env = {{ REPORT_WORKERS = \"2\" }}\n[readiness]\npath = \"/\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let t = Target::app(&file)
        .unwrap()
        .with_env(&pair, "--app-env")
        .unwrap();
    assert_eq!(t.name(), "app[REPORT_WORKERS=1]");
    let Program::App(app) = &t.program else {
        panic!("an app")
    };
    let workers: Vec<_> = app
        .env
        .iter()
        .filter(|(k, _)| k == "REPORT_WORKERS")
        .collect();
    assert_eq!(workers, [&("REPORT_WORKERS".to_string(), "1".to_string())]);
}

/// The environment an app target gets: a `sh` app whose `[run]` table
/// ends with `run` (more keys, then `[run.env]` if any), started against
/// a fake Cloudinary at `base_url` named `oomlab`.
fn app_env(dir: &Path, run: &str, base_url: &str) -> Vec<(String, String)> {
    let file = dir.join("app.toml");
    std::fs::write(
        &file,
        format!(
            "[run]\nworking_dir = \"{}\"\ncommand = [\"sh\"]\n{run}\n[readiness]\npath = \"/\"\n",
            dir.display()
        ),
    )
    .unwrap();
    let Program::App(app) = Target::app(&file).unwrap().program else {
        panic!("an app")
    };
    let at = Placement {
        data_dir: dir.join("data"),
        cloudinary_base_url: base_url.into(),
        cloudinary_cloud_name: "oomlab".into(),
        log: dir.join("server.log"),
    };
    app_command(&app, &at).unwrap().env
}

#[test]
fn every_placeholder_is_filled_in_the_environment_as_an_sdk_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let vars: String = app::PLACEHOLDERS
        .iter()
        .map(|p| format!("P_{} = \"{{{p}}}\"\n", p.to_uppercase()))
        .collect();
    let env = app_env(
        dir.path(),
        &format!("[run.env]\n{vars}"),
        "http://127.0.0.1:4000",
    );
    let get = |k: &str| {
        env.iter()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    for (k, _) in &env {
        assert!(!get(k).contains('{'), "{k} = {} left unfilled", get(k));
    }
    assert_eq!(get("P_CLOUDINARY_API_KEY"), "oomlab-key");
    assert_eq!(get("P_CLOUDINARY_API_SECRET"), "oomlab-secret");
    assert_eq!(get("P_CLOUDINARY_CLOUD_NAME"), "oomlab");
    assert_eq!(get("P_CLOUDINARY_UPLOAD_PREFIX"), "http://127.0.0.1:4000");
    assert_eq!(
        get("P_CLOUDINARY_URL"),
        "cloudinary://oomlab-key:oomlab-secret@oomlab?upload_prefix=http://127.0.0.1:4000"
    );
}

#[test]
fn cloudinary_env_sets_every_sdk_variable_consistently_and_the_file_wins() {
    let dir = tempfile::tempdir().unwrap();
    let env = app_env(
        dir.path(),
        "cloudinary_env = true\n[run.env]\nCLOUDINARY_API_KEY = \"mine\"",
        "http://127.0.0.1:4000",
    );
    let env: std::collections::BTreeMap<_, _> = env.into_iter().collect();
    assert_eq!(env.len(), 5, "{env:?}");
    assert_eq!(env["CLOUDINARY_API_KEY"], "mine");
    assert_eq!(env["CLOUDINARY_API_SECRET"], "oomlab-secret");
    assert_eq!(env["CLOUDINARY_CLOUD_NAME"], "oomlab");
    assert_eq!(env["CLOUDINARY_UPLOAD_PREFIX"], "http://127.0.0.1:4000");
    assert!(env["CLOUDINARY_URL"].starts_with("cloudinary://oomlab-key:oomlab-secret@oomlab?"));
}

/// The official Python SDK, configured in each style an app uses, with
/// the variables `cloudinary_env = true` gives it, uploads to the fake.
/// Needs the SDK's venv (`OOMLAB_SDK_PYTHON`, made by
/// mock-cloudinary/tests/sdk/setup.sh); skipped with a line without it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_official_sdk_uploads_to_the_fake_in_every_configuration_style() {
    let Some(python) = std::env::var_os("OOMLAB_SDK_PYTHON") else {
        eprintln!(
            "the_official_sdk_uploads_to_the_fake_in_every_configuration_style: skipped: \
             OOMLAB_SDK_PYTHON is not set (mock-cloudinary/tests/sdk/setup.sh)"
        );
        return;
    };
    let fake = mock_cloudinary::FakeCloudinary::builder()
        .start()
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let env = app_env(dir.path(), "cloudinary_env = true", &fake.base_url());
    let photo = dir.path().join("p.png");
    image::RgbImage::from_pixel(8, 8, image::Rgb([200, 40, 40]))
        .save(&photo)
        .unwrap();
    let script = "import sys, cloudinary, cloudinary.uploader\n\
                  cloudinary.config(secure=False)\n\
                  print(cloudinary.uploader.upload(sys.argv[1])['public_id'])\n";
    // Which of the variables each style leaves the app.
    let styles: [(&str, &[&str]); 3] = [
        ("URL only", &["CLOUDINARY_URL"]),
        (
            "three variables",
            &[
                "CLOUDINARY_CLOUD_NAME",
                "CLOUDINARY_API_KEY",
                "CLOUDINARY_API_SECRET",
                "CLOUDINARY_UPLOAD_PREFIX",
            ],
        ),
        (
            "all five",
            &[
                "CLOUDINARY_URL",
                "CLOUDINARY_CLOUD_NAME",
                "CLOUDINARY_API_KEY",
                "CLOUDINARY_API_SECRET",
                "CLOUDINARY_UPLOAD_PREFIX",
            ],
        ),
    ];
    for (n, (style, keep)) in styles.iter().enumerate() {
        let mut cmd = tokio::process::Command::new(&python);
        cmd.args(["-c", script]).arg(&photo).kill_on_drop(true);
        for k in CLOUDINARY_ENV_NAMES {
            cmd.env_remove(k);
        }
        for (k, v) in env.iter().filter(|(k, _)| keep.contains(&k.as_str())) {
            cmd.env(k, v);
        }
        let out = tokio::time::timeout(std::time::Duration::from_secs(60), cmd.output())
            .await
            .expect("the SDK answers within 60 s")
            .expect("python starts");
        assert!(
            out.status.success(),
            "{style}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            fake.upload_count(),
            n as u64 + 1,
            "{style}: the fake got it"
        );
    }
}

/// Every variable an SDK might read, removed before each style.
const CLOUDINARY_ENV_NAMES: [&str; 5] = [
    "CLOUDINARY_URL",
    "CLOUDINARY_CLOUD_NAME",
    "CLOUDINARY_API_KEY",
    "CLOUDINARY_API_SECRET",
    "CLOUDINARY_UPLOAD_PREFIX",
];

#[test]
fn a_profile_with_an_unknown_key_is_refused_naming_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("typo.toml");
    std::fs::write(&p, "workerz = 2\n").unwrap();
    let e = Target::reference(&p, None).unwrap_err().to_string();
    assert!(e.contains("typo.toml") && e.contains("workerz"), "{e}");
}

#[test]
fn a_shipped_profile_declares_its_workers_and_runtime() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles");
    let t = Target::reference(&root.join("quick-fix.toml"), None).unwrap();
    assert_eq!(t.workers, Some(1));
    assert_eq!(t.name(), "quick-fix");
    let lean = Target::reference(&root.join("lean.toml"), None).unwrap();
    assert_eq!(lean.declared_runtime_bytes, Some(0));
}

#[test]
fn a_missing_server_binary_names_the_flag() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../profiles");
    let e = Target::reference(&root.join("lean.toml"), Some(Path::new("/nope/server")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("--server-bin"), "{e}");
}

#[test]
fn variants_are_every_combination_of_the_values_in_flag_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("app.toml");
    std::fs::write(
        &file,
        format!(
            "name = \"app\"\n[run]\nworking_dir = \"{}\"\ncommand = [\"sh\"]\n[readiness]\npath = \"/\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let vary = [
        crate::input::vary("W=1,2").unwrap(),
        crate::input::vary("S=memory,path").unwrap(),
    ];
    let names: Vec<String> = Target::app(&file)
        .unwrap()
        .variants(&vary)
        .unwrap()
        .iter()
        .map(|t| t.name().to_string())
        .collect();
    assert_eq!(
        names,
        [
            "app[W=1,S=memory]",
            "app[W=1,S=path]",
            "app[W=2,S=memory]",
            "app[W=2,S=path]"
        ]
    );
    assert_eq!(Target::app(&file).unwrap().variants(&[]).unwrap().len(), 1);
    let twice = [vary[0].clone(), vary[0].clone()];
    let e = Target::app(&file).unwrap().variants(&twice).unwrap_err();
    assert!(e.to_string().contains("varied twice"), "{e}");
}

/// Every shipped target file, as a fresh clone has it (no venv: the
/// command need not exist until a run): it parses, its placeholders are
/// known, its `[scenarios]` files load as scenarios, and the only thing
/// missing is what its `setup` installs.
#[test]
fn every_shipped_target_loads_on_a_fresh_clone_without_its_venv() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files: Vec<_> = std::fs::read_dir(root.join("targets"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 2, "{files:?}");
    for file in &files {
        let app =
            app::AppTarget::read(file, &root).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(!app.name.is_empty(), "{}", file.display());
        for (name, scenario) in &app.scenarios {
            let sc = crate::scenario::Scenario::load(scenario)
                .unwrap_or_else(|e| panic!("{} [scenarios] {name}: {e}", file.display()));
            // A mapped name is a shipped scenario's: calibrate pairs them.
            assert!(
                root.join("scenarios")
                    .join(format!("{name}.toml"))
                    .is_file(),
                "{} maps `{name}`, which is no shipped scenario",
                file.display()
            );
            assert!(sc.submission.photos_per_submission() > 0, "{name}");
        }
        // Whether the venv is there or not, a missing program is the only
        // thing `load` adds, and its message names the setup.
        if let Err(e) = app.check_installed(file) {
            let e = e.to_string();
            assert!(
                e.contains("does not exist") && e.contains("first"),
                "{}: {e}",
                file.display()
            );
        }
    }
}
