use super::*;
use crate::app_target::app::AppTarget;

fn plans() -> Vec<HostingPlan> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../plans/render.toml");
    crate::plan::load_plans(&p).unwrap().1
}

/// Writes `yaml` as `render.yaml` in a fresh folder, converts it, and
/// loads the result with the target loader.
fn init(yaml: &str, service: Option<&str>) -> Result<(Written, AppTarget), ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let blueprint = dir.path().join("render.yaml");
    std::fs::write(&blueprint, yaml).unwrap();
    let plans = plans();
    let w = target_from_blueprint(&Request {
        blueprint: &blueprint,
        text: yaml,
        service,
        plans: &plans,
        plans_path: Path::new("plans/render.toml"),
        invocation: "oomlab target init --from render.yaml".into(),
    })?;
    let out = dir.path().join("t.toml");
    std::fs::write(&out, &w.toml).unwrap();
    let t = AppTarget::load(&out).unwrap_or_else(|e| panic!("{e}\n{}", w.toml));
    Ok((w, t))
}

const FLASK: &str = r#"
databases:
  - name: inspections-db
    plan: basic-256mb
services:
  - type: web
    name: inspections
    runtime: python
    plan: standard
    buildCommand: pip install -r requirements.txt
    preDeployCommand: flask db upgrade
    startCommand: gunicorn --workers 1 --threads 4 --bind 0.0.0.0:$PORT 'inspections:create_app()'
    healthCheckPath: /healthz
    maxShutdownDelaySeconds: 45
    envVars:
      - key: CLOUDINARY_URL
        sync: false
      - key: SECRET_KEY
        generateValue: true
      - key: REPORT_WORKERS
        value: 2
      - key: DATABASE_URL
        fromDatabase:
          name: inspections-db
          property: connectionString
      - key: STRIPE_KEY
        sync: false
  - type: worker
    name: mailer
    runtime: python
    startCommand: python -m mailer
"#;

#[test]
fn a_flask_service_becomes_a_target_that_loads() {
    let (w, t) = init(FLASK, None).unwrap();
    assert_eq!(w.name, "inspections");
    assert_eq!(t.name, "inspections");
    assert_eq!(
        t.args,
        [
            "--workers",
            "1",
            "--threads",
            "4",
            "--bind",
            "{host}:{port}",
            "inspections:create_app()"
        ]
    );
    assert_eq!(t.program, PathBuf::from("gunicorn"));
    let env: std::collections::BTreeMap<_, _> = t.env.iter().cloned().collect();
    assert_eq!(env["PORT"], "{port}");
    assert_eq!(env["CLOUDINARY_URL"], "{cloudinary_url}");
    // cloudinary_env = true sets the rest, consistent.
    assert_eq!(env["CLOUDINARY_API_SECRET"], "{cloudinary_api_secret}");
    assert_eq!(env["REPORT_WORKERS"], "2");
    assert_eq!(env["SECRET_KEY"], "oomlab-local-secret-key");
    // A secret and a database are left for the user, commented out.
    assert!(!env.contains_key("STRIPE_KEY") && !env.contains_key("DATABASE_URL"));
    assert!(
        w.toml
            .contains("# DATABASE_URL = \"sqlite:///{data_dir}/app.sqlite3\""),
        "{}",
        w.toml
    );
    assert!(w.toml.contains("# STRIPE_KEY = \"\""), "{}", w.toml);
    assert!(
        w.toml
            .contains("setup = \"pip install -r requirements.txt\"")
    );
    assert!(
        w.toml
            .contains("# [[prepare]]\n# command = [\"sh\", \"-c\", \"flask db upgrade\"]"),
        "{}",
        w.toml
    );
    assert!(t.prepare.is_empty(), "hints only");
    assert_eq!(t.stop_grace, std::time::Duration::from_secs(45));
    assert!(matches!(&t.ready, crate::app_target::app::AppReadiness::Http(p) if p == "/healthz"));
    // Standard: 2 GB.
    assert_eq!(w.limit_bytes, Some(2 << 30));
    assert!(w.toml.contains("limit = \"2048MiB\""), "{}", w.toml);
    assert_eq!(t.limit, Some(2 << 30));
    for needle in ["STRIPE_KEY", "DATABASE_URL", "inspections-db"] {
        assert!(
            w.checks.iter().any(|c| c.contains(needle)),
            "{needle}: {:?}",
            w.checks
        );
    }
    // The CLOUDINARY_URL secret is not a check: it is the fake's.
    assert!(!w.checks.iter().any(|c| c.contains("CLOUDINARY_URL")));
}

#[test]
fn several_web_services_need_service_and_the_error_lists_them() {
    let two = format!(
        "{FLASK}\n  - type: web\n    name: admin\n    runtime: node\n    startCommand: node admin.js\n"
    );
    let e = init(&two, None).unwrap_err().to_string();
    assert!(
        e.contains("--service") && e.contains("inspections (web)") && e.contains("admin (web)"),
        "{e}"
    );
    let (w, t) = init(&two, Some("admin")).unwrap();
    assert_eq!(w.name, "admin");
    assert_eq!(t.args, ["admin.js"]);
    // Plan not named: Render's default, starter, 512 MiB.
    assert_eq!(w.limit_bytes, Some(512 << 20));
    assert!(w.checks.iter().any(|c| c.contains("starter")));
    let e = init(&two, Some("mailer")).unwrap_err().to_string();
    assert!(e.contains("worker") && e.contains("no HTTP"), "{e}");
    let e = init(&two, Some("nope")).unwrap_err().to_string();
    assert!(
        e.contains("no service `nope`") && e.contains("mailer"),
        "{e}"
    );
}

#[test]
fn groups_disks_and_an_unknown_plan_are_carried_or_said() {
    let yaml = r#"
envVarGroups:
  - name: shared
    envVars:
      - key: LOG_LEVEL
        value: info
      - key: CLOUDINARY_CLOUD_NAME
        value: prod-cloud
services:
  - type: web
    name: api
    env: python
    plan: pro_plus
    startCommand: python manage.py migrate && gunicorn app.wsgi --bind 0.0.0.0:$PORT
    envVars:
      - fromGroup: shared
      - fromGroup: missing
      - key: UPLOAD_DIR
        value: /var/data/uploads
      - key: REDIS_URL
        fromService:
          name: cache
          type: keyvalue
          property: connectionString
    disk:
      name: uploads
      mountPath: /var/data
      sizeGB: 5
"#;
    let (w, t) = init(yaml, None).unwrap();
    let env: std::collections::BTreeMap<_, _> = t.env.iter().cloned().collect();
    assert_eq!(env["LOG_LEVEL"], "info");
    assert_eq!(env["CLOUDINARY_CLOUD_NAME"], "{cloudinary_cloud_name}");
    assert_eq!(env["UPLOAD_DIR"], "{data_dir}/uploads");
    assert_eq!(t.program, PathBuf::from("sh"));
    assert_eq!(
        t.args[1],
        "python manage.py migrate && gunicorn app.wsgi --bind {host}:{port}"
    );
    assert_eq!(w.limit_bytes, Some(8 << 30), "pro_plus is Pro Plus");
    for needle in ["`missing`", "REDIS_URL", "sh -c", "/var/data"] {
        assert!(
            w.checks.iter().any(|c| c.contains(needle)),
            "{needle}: {:?}",
            w.checks
        );
    }
    let unknown = yaml.replace("pro_plus", "starter plus");
    let (w, _) = init(&unknown, None).unwrap();
    assert_eq!(w.limit_bytes, None);
    assert!(w.toml.contains("CHECK: plan `starter plus`"), "{}", w.toml);
}

#[test]
fn a_venv_in_the_app_folder_is_used_for_the_program() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("app/.venv/bin")).unwrap();
    std::fs::write(dir.path().join("app/.venv/bin/gunicorn"), "").unwrap();
    let yaml = "services:\n  - type: web\n    name: a\n    runtime: python\n    rootDir: app\n    startCommand: gunicorn app:app\n";
    let blueprint = dir.path().join("render.yaml");
    let plans = plans();
    let w = target_from_blueprint(&Request {
        blueprint: &blueprint,
        text: yaml,
        service: None,
        plans: &plans,
        plans_path: Path::new("plans/render.toml"),
        invocation: "x".into(),
    })
    .unwrap();
    assert!(
        w.toml
            .contains("command = [\".venv/bin/gunicorn\", \"app:app\"]"),
        "{}",
        w.toml
    );
    let out = dir.path().join("a.toml");
    std::fs::write(&out, &w.toml).unwrap();
    let t = AppTarget::load(&out).unwrap();
    assert!(t.program.ends_with("app/.venv/bin/gunicorn"), "{t:?}");
    assert!(
        w.checks.iter().any(|c| c.contains("PORT")),
        "{:?}",
        w.checks
    );
}

#[test]
fn what_is_not_a_blueprint_is_refused_naming_the_file() {
    for (yaml, needle) in [
        ("services: [", "not a Render blueprint"),
        ("databases: []\n", "lists no service"),
        (
            "services:\n  - type: worker\n    name: w\n    startCommand: x\n",
            "no web or private service",
        ),
        (
            "services:\n  - type: web\n    name: w\n    runtime: docker\n",
            "no start command",
        ),
        (
            "services:\n  - type: web\n    name: w\n    startCommand: \"sh -c 'echo ${HOME:-x}'\"\n",
            "placeholder",
        ),
    ] {
        let e = init(yaml, None).unwrap_err().to_string();
        assert!(
            e.contains("render.yaml") && e.contains(needle),
            "{yaml}: {e}"
        );
    }
}
