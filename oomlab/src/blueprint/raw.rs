//! The keys of a Render Blueprint (`render.yaml`) that decide what runs
//! and where (Render's Blueprint YAML reference). Unknown keys are not
//! refused: the spec has many (domains, branch, autoDeploy, region, ...)
//! that do not change what a target runs.

use serde::Deserialize;

/// A blueprint: services at the top level, or inside projects'
/// environments; environment groups likewise.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Blueprint {
    #[serde(default)]
    pub services: Vec<Service>,
    #[serde(default)]
    pub env_var_groups: Vec<EnvGroup>,
    #[serde(default)]
    pub projects: Vec<Project>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Project {
    #[serde(default)]
    pub env_var_groups: Vec<EnvGroup>,
    #[serde(default)]
    pub environments: Vec<Environment>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Environment {
    #[serde(default)]
    pub services: Vec<Service>,
    #[serde(default)]
    pub env_var_groups: Vec<EnvGroup>,
}

/// One service.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Service {
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub name: Option<String>,
    pub runtime: Option<String>,
    /// The older spelling of `runtime`.
    pub env: Option<String>,
    pub plan: Option<String>,
    pub build_command: Option<String>,
    pub pre_deploy_command: Option<String>,
    pub start_command: Option<String>,
    pub docker_command: Option<String>,
    pub root_dir: Option<String>,
    pub health_check_path: Option<String>,
    pub max_shutdown_delay_seconds: Option<u64>,
    pub num_instances: Option<u64>,
    pub scaling: Option<yaml_serde::Value>,
    #[serde(default)]
    pub env_vars: Vec<EnvVar>,
    pub disk: Option<Disk>,
}

/// One entry of `envVars`: a key with one source, or a group.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvVar {
    pub key: Option<String>,
    pub value: Option<yaml_serde::Value>,
    pub sync: Option<bool>,
    pub generate_value: Option<bool>,
    pub from_database: Option<FromDatabase>,
    pub from_service: Option<FromService>,
    pub from_group: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FromDatabase {
    pub name: Option<String>,
    pub property: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FromService {
    pub name: Option<String>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub property: Option<String>,
    pub env_var_key: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvGroup {
    pub name: Option<String>,
    #[serde(default)]
    pub env_vars: Vec<EnvVar>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Disk {
    pub name: Option<String>,
    #[serde(rename = "mountPath")]
    pub mount_path: Option<String>,
    #[serde(rename = "sizeGB")]
    pub size_gb: Option<f64>,
}

impl Blueprint {
    /// Every service, top-level first, then each project's environments'.
    pub fn all_services(&self) -> Vec<&Service> {
        self.services
            .iter()
            .chain(
                self.projects
                    .iter()
                    .flat_map(|p| p.environments.iter().flat_map(|e| e.services.iter())),
            )
            .collect()
    }

    /// The environment group called `name`, wherever it is defined.
    pub fn group(&self, name: &str) -> Option<&EnvGroup> {
        self.env_var_groups
            .iter()
            .chain(self.projects.iter().flat_map(|p| {
                p.env_var_groups
                    .iter()
                    .chain(p.environments.iter().flat_map(|e| e.env_var_groups.iter()))
            }))
            .find(|g| g.name.as_deref() == Some(name))
    }
}

/// A YAML scalar as the text of an environment variable (Render takes
/// numbers and booleans as their text).
pub fn scalar_text(v: &yaml_serde::Value) -> Option<String> {
    match v {
        yaml_serde::Value::String(s) => Some(s.clone()),
        yaml_serde::Value::Number(n) => Some(n.to_string()),
        yaml_serde::Value::Bool(b) => Some(b.to_string()),
        yaml_serde::Value::Null => Some(String::new()),
        _ => None,
    }
}
