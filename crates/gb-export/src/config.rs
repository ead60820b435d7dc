//! The runtime part of an image config: read from a base image's config, the front end's
//! settings applied over it, and written back with oci-spec types plus the Docker fields
//! (Healthcheck, Shell, OnBuild) the OCI config has no place for.

use std::collections::{BTreeMap, BTreeSet};

use gb_ir::{EnvValue, Healthcheck, ImageConfig};
use oci_spec::image::{Config, ConfigBuilder, History, HistoryBuilder};
use serde_json::{Map, Value, json};

use crate::error::ExportError;

/// An image's runtime config, with every field the Dockerfile can set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RuntimeConfig {
    pub(crate) user: Option<String>,
    pub(crate) exposed_ports: BTreeSet<String>,
    /// `(name, value)` in order, names unique.
    pub(crate) env: Vec<(String, String)>,
    pub(crate) entrypoint: Option<Vec<String>>,
    pub(crate) cmd: Option<Vec<String>>,
    pub(crate) volumes: BTreeSet<String>,
    pub(crate) working_dir: Option<String>,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) stop_signal: Option<String>,
    pub(crate) healthcheck: Option<Healthcheck>,
    pub(crate) shell: Option<Vec<String>>,
    pub(crate) on_build: Vec<String>,
    /// The top-level `author` (MAINTAINER), inherited from the base unless set again.
    pub(crate) author: Option<String>,
}

impl RuntimeConfig {
    /// The runtime config of an OCI (or Docker) image config JSON; absent or malformed fields
    /// are left unset, as Docker reads them.
    pub(crate) fn from_image_config(config: &Value) -> Self {
        let inner = &config["config"];
        let strings = |value: &Value| -> Option<Vec<String>> {
            value.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
        };
        let text = |key: &str| inner[key].as_str().filter(|s| !s.is_empty()).map(str::to_owned);
        let keys = |key: &str| inner[key].as_object().map(|o| o.keys().cloned().collect()).unwrap_or_default();
        let mut env: Vec<(String, String)> = Vec::new();
        for entry in strings(&inner["Env"]).unwrap_or_default() {
            let (name, value) = entry.split_once('=').unwrap_or((&entry, ""));
            set_env(&mut env, name, value.to_owned());
        }
        let duration = |h: &Map<String, Value>, key: &str| h.get(key).and_then(Value::as_u64).filter(|&d| d != 0);
        RuntimeConfig {
            user: text("User"),
            exposed_ports: keys("ExposedPorts"),
            env,
            entrypoint: strings(&inner["Entrypoint"]),
            cmd: strings(&inner["Cmd"]),
            volumes: keys("Volumes"),
            working_dir: text("WorkingDir"),
            labels: inner["Labels"]
                .as_object()
                .map(|o| o.iter().filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned()))).collect())
                .unwrap_or_default(),
            stop_signal: text("StopSignal"),
            healthcheck: inner["Healthcheck"].as_object().map(|h| Healthcheck {
                test: h.get("Test").and_then(strings).unwrap_or_default(),
                interval: duration(h, "Interval"),
                timeout: duration(h, "Timeout"),
                start_period: duration(h, "StartPeriod"),
                start_interval: duration(h, "StartInterval"),
                retries: h
                    .get("Retries")
                    .and_then(Value::as_u64)
                    .and_then(|r| u32::try_from(r).ok())
                    .filter(|&r| r != 0),
            }),
            shell: strings(&inner["Shell"]),
            // A base image's ONBUILD triggers are for the image built directly on it; Docker
            // and BuildKit drop them from the child's config.
            on_build: Vec::new(),
            author: config["author"].as_str().filter(|s| !s.is_empty()).map(str::to_owned),
        }
    }

    /// Applies the front end's settings over this config: env by name in order (deferred words
    /// expanded with Docker's rules against the env so far), `cmd_reset` clearing Cmd, labels,
    /// ports and volumes merged, every other field replaced when set.
    pub(crate) fn apply(&mut self, spec: &ImageConfig) -> Result<(), ExportError> {
        let lexer = gb_shell::Lexer::new('\\');
        for var in &spec.env {
            let value = match &var.value {
                EnvValue::Value(value) => value.clone(),
                EnvValue::Deferred(word) => {
                    let scope: &[(String, String)] = &self.env;
                    lexer
                        .expand_word(word, &scope)
                        .map_err(|source| ExportError::Expand { name: var.name.clone(), word: word.clone(), source })?
                        .value
                }
            };
            set_env(&mut self.env, &var.name, value);
        }
        replace(&mut self.user, &spec.user);
        self.exposed_ports.extend(spec.exposed_ports.iter().cloned());
        replace(&mut self.entrypoint, &spec.entrypoint);
        if spec.cmd_reset {
            self.cmd = None;
        }
        replace(&mut self.cmd, &spec.cmd);
        self.volumes.extend(spec.volumes.iter().cloned());
        replace(&mut self.working_dir, &spec.working_dir);
        self.labels.extend(spec.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        replace(&mut self.stop_signal, &spec.stop_signal);
        replace(&mut self.healthcheck, &spec.healthcheck);
        replace(&mut self.shell, &spec.shell);
        if !spec.on_build.is_empty() {
            self.on_build = spec.on_build.clone();
        }
        replace(&mut self.author, &spec.author);
        Ok(())
    }

    /// The OCI part of the config.
    pub(crate) fn to_oci(&self) -> Result<Config, ExportError> {
        let mut builder = ConfigBuilder::default();
        if let Some(user) = &self.user {
            builder = builder.user(user.clone());
        }
        if !self.exposed_ports.is_empty() {
            builder = builder.exposed_ports(self.exposed_ports.iter().cloned().collect::<Vec<_>>());
        }
        if !self.env.is_empty() {
            builder = builder.env(self.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>());
        }
        if let Some(entrypoint) = &self.entrypoint {
            builder = builder.entrypoint(entrypoint.clone());
        }
        if let Some(cmd) = &self.cmd {
            builder = builder.cmd(cmd.clone());
        }
        if !self.volumes.is_empty() {
            builder = builder.volumes(self.volumes.iter().cloned().collect::<Vec<_>>());
        }
        if let Some(dir) = &self.working_dir {
            builder = builder.working_dir(dir.clone());
        }
        if !self.labels.is_empty() {
            builder = builder.labels(self.labels.clone().into_iter().collect::<std::collections::HashMap<_, _>>());
        }
        if let Some(signal) = &self.stop_signal {
            builder = builder.stop_signal(signal.clone());
        }
        builder.build().map_err(|source| ExportError::Oci { what: "config", source })
    }

    /// Adds the Docker fields the OCI config lacks to `config` (the JSON of [`Self::to_oci`]),
    /// spelled as Docker writes them so `docker inspect` and BuildKit read them back.
    pub(crate) fn add_docker_fields(&self, config: &mut Map<String, Value>) {
        if let Some(check) = &self.healthcheck {
            let mut value = Map::new();
            value.insert("Test".into(), json!(check.test));
            for (key, field) in [
                ("Interval", check.interval),
                ("Timeout", check.timeout),
                ("StartPeriod", check.start_period),
                ("StartInterval", check.start_interval),
            ] {
                if let Some(nanos) = field {
                    value.insert(key.into(), json!(nanos));
                }
            }
            if let Some(retries) = check.retries {
                value.insert("Retries".into(), json!(retries));
            }
            config.insert("Healthcheck".into(), Value::Object(value));
        }
        if let Some(shell) = &self.shell {
            config.insert("Shell".into(), json!(shell));
        }
        if !self.on_build.is_empty() {
            config.insert("OnBuild".into(), json!(self.on_build));
        }
    }
}

/// The `history` of an image config JSON; entries that are not objects are skipped.
pub(crate) fn history_of(config: &Value) -> Vec<History> {
    let Some(entries) = config["history"].as_array() else { return Vec::new() };
    entries
        .iter()
        .filter_map(|entry| {
            let entry = entry.as_object()?;
            let text = |key: &str| entry.get(key).and_then(Value::as_str).map(str::to_owned);
            // Field by field rather than through serde, so one odd field keeps the entry (and
            // the count of layers the history describes).
            let mut history = HistoryBuilder::default().build().ok()?;
            history.set_created(text("created"));
            history.set_author(text("author"));
            history.set_created_by(text("created_by"));
            history.set_comment(text("comment"));
            history.set_empty_layer(entry.get("empty_layer").and_then(Value::as_bool));
            Some(history)
        })
        .collect()
}

/// Sets `name` in an ordered env: in place when present, appended otherwise.
fn set_env(env: &mut Vec<(String, String)>, name: &str, value: String) {
    match env.iter_mut().find(|(existing, _)| existing == name) {
        Some(entry) => entry.1 = value,
        None => env.push((name.to_owned(), value)),
    }
}

fn replace<T: Clone>(field: &mut Option<T>, new: &Option<T>) {
    if let Some(new) = new {
        *field = Some(new.clone());
    }
}

#[cfg(test)]
mod tests {
    use gb_ir::EnvVar;

    use super::*;

    fn base() -> RuntimeConfig {
        RuntimeConfig::from_image_config(&json!({ "config": {
            "Env": ["PATH=/usr/bin:/bin", "HOME=/root", "A"],
            "Cmd": ["sh"],
            "Entrypoint": null,
            "ExposedPorts": { "80/tcp": {} },
            "Labels": { "base": "yes", "over": "base" },
            "Volumes": { "/data": {} },
            "WorkingDir": "/srv",
            "OnBuild": ["RUN echo base"],
            "Healthcheck": { "Test": ["CMD", "true"], "Interval": 30000000000u64, "Retries": 3 },
        }}))
    }

    #[test]
    fn reads_a_docker_config() {
        let config = base();
        assert_eq!(
            config.env,
            [("PATH".into(), "/usr/bin:/bin".into()), ("HOME".into(), "/root".into()), ("A".into(), String::new())]
        );
        assert_eq!(config.cmd.as_deref(), Some(&["sh".to_owned()][..]));
        assert_eq!(config.entrypoint, None);
        assert!(config.on_build.is_empty(), "a base's triggers do not carry over");
        let check = config.healthcheck.expect("healthcheck");
        assert_eq!((check.interval, check.retries, check.timeout), (Some(30_000_000_000), Some(3), None));
    }

    #[test]
    fn applies_settings_over_a_base() {
        let mut config = base();
        let spec = ImageConfig {
            env: vec![
                EnvVar { name: "PATH".into(), value: EnvValue::Deferred("/opt/bin:${PATH}".into()) },
                EnvVar::new("NEW", "1"),
                EnvVar { name: "HOME2".into(), value: EnvValue::Deferred("${HOME}/x:${NEW}:${UNSET:-d}".into()) },
            ],
            entrypoint: Some(vec!["/app".into()]),
            cmd_reset: true,
            exposed_ports: ["443/tcp".to_owned()].into(),
            labels: [("over".to_owned(), "child".to_owned())].into(),
            volumes: ["/cache".to_owned()].into(),
            user: Some("app".into()),
            on_build: vec!["RUN echo child".into()],
            ..ImageConfig::default()
        };
        config.apply(&spec).expect("apply");
        assert_eq!(
            config.env,
            [
                ("PATH".into(), "/opt/bin:/usr/bin:/bin".into()),
                ("HOME".into(), "/root".into()),
                ("A".into(), String::new()),
                ("NEW".into(), "1".into()),
                ("HOME2".into(), "/root/x:1:d".into()),
            ]
        );
        assert_eq!(config.cmd, None, "ENTRYPOINT reset the base's Cmd");
        assert_eq!(config.exposed_ports, ["443/tcp".to_owned(), "80/tcp".to_owned()].into());
        assert_eq!(
            config.labels,
            [("base".to_owned(), "yes".to_owned()), ("over".to_owned(), "child".to_owned())].into()
        );
        assert_eq!(config.volumes, ["/cache".to_owned(), "/data".to_owned()].into());
        assert_eq!(config.working_dir.as_deref(), Some("/srv"));
        assert_eq!(config.on_build, ["RUN echo child"]);
    }

    #[test]
    fn a_word_that_cannot_expand_names_its_variable() {
        let mut config = RuntimeConfig::default();
        let spec = ImageConfig {
            env: vec![EnvVar { name: "X".into(), value: EnvValue::Deferred("${UNSET?is required}".into()) }],
            ..ImageConfig::default()
        };
        let error = config.apply(&spec).expect_err("must fail");
        assert!(matches!(&error, ExportError::Expand { name, .. } if name == "X"), "{error}");
    }

    #[test]
    fn writes_docker_fields_beside_the_oci_ones() {
        let config = base();
        let mut value = serde_json::to_value(config.to_oci().expect("oci")).expect("json");
        let object = value.as_object_mut().expect("object");
        config.add_docker_fields(object);
        assert_eq!(value["Env"], json!(["PATH=/usr/bin:/bin", "HOME=/root", "A="]));
        assert_eq!(value["ExposedPorts"], json!({ "80/tcp": {} }));
        assert_eq!(value["Healthcheck"], json!({ "Test": ["CMD", "true"], "Interval": 30000000000u64, "Retries": 3 }));
        assert_eq!(value.get("OnBuild"), None);
    }
}
