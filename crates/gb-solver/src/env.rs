//! The process settings of an exec op once its base image config is known: environment (with
//! deferred words expanded), working directory and user.

use gb_ir::{EnvValue, ExecMeta};

/// The PATH BuildKit gives a process whose environment has none.
pub use gb_ir::DEFAULT_PATH;

/// What an image config contributes to a process.
#[derive(Debug, Clone, Default)]
pub struct BaseConfig {
    /// `KEY=VALUE` entries.
    pub env: Vec<String>,
    /// The working directory.
    pub working_dir: Option<String>,
    /// The user.
    pub user: Option<String>,
}

impl BaseConfig {
    /// Reads Env, WorkingDir and User from an OCI image config JSON.
    pub fn from_oci(config: &serde_json::Value) -> Self {
        let inner = &config["config"];
        let text = |key: &str| inner[key].as_str().filter(|s| !s.is_empty()).map(str::to_owned);
        Self {
            env: inner["Env"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                .unwrap_or_default(),
            working_dir: text("WorkingDir"),
            user: text("User"),
        }
    }
}

/// The process's final settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessSettings {
    /// `KEY=VALUE`, in order.
    pub env: Vec<String>,
    /// Absolute working directory.
    pub cwd: String,
    /// `user[:group]` to resolve in the rootfs; empty means root.
    pub user: String,
}

/// Layers an exec op's settings over its base config, expanding deferred words in order.
pub fn process_settings(meta: &ExecMeta, base: Option<&BaseConfig>) -> Result<ProcessSettings, String> {
    let mut env: Vec<(String, String)> = base
        .map(|b| {
            b.env
                .iter()
                .map(|kv| kv.split_once('=').map_or((kv.clone(), String::new()), |(k, v)| (k.to_owned(), v.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let lexer = gb_shell::Lexer::new('\\');
    for var in meta.env.iter().chain(&meta.proxy_env) {
        let value = match &var.value {
            EnvValue::Value(value) => value.clone(),
            EnvValue::Deferred(word) => {
                let scope: &[(String, String)] = &env;
                lexer
                    .expand_word(word, &scope)
                    .map_err(|e| format!("expanding ${{{}}} = {word:?}: {e}", var.name))?
                    .value
            }
        };
        match env.iter_mut().find(|(name, _)| *name == var.name) {
            Some(existing) => existing.1 = value,
            None => env.push((var.name.clone(), value)),
        }
    }
    if !env.iter().any(|(name, _)| name == "PATH") {
        env.insert(0, ("PATH".to_owned(), DEFAULT_PATH.to_owned()));
    }
    let base_dir = base.and_then(|b| b.working_dir.clone()).unwrap_or_else(|| "/".to_owned());
    let cwd = match &meta.cwd {
        Some(cwd) if cwd.starts_with('/') => cwd.clone(),
        Some(relative) => format!("{}/{relative}", base_dir.trim_end_matches('/')),
        None => base_dir,
    };
    let user = meta.user.clone().or_else(|| base.and_then(|b| b.user.clone())).unwrap_or_default();
    Ok(ProcessSettings { env: env.into_iter().map(|(k, v)| format!("{k}={v}")).collect(), cwd, user })
}

#[cfg(test)]
mod tests {
    use super::*;
    use gb_ir::EnvVar;

    fn meta(env: Vec<EnvVar>) -> ExecMeta {
        ExecMeta {
            args: vec![],
            env,
            cwd: Some("src".into()),
            user: None,
            config_from: Some(1),
            proxy_env: vec![],
            extra_hosts: vec![],
            hostname: None,
            shm_size: None,
            ulimits: Vec::new(),
        }
    }

    #[test]
    fn deferred_words_expand_against_the_image_env_in_order() {
        let base = BaseConfig {
            env: vec!["PATH=/usr/bin".into(), "HOME=/root".into()],
            working_dir: Some("/go".into()),
            user: Some("app".into()),
        };
        let env = vec![
            EnvVar::new("GOPATH", "/go"),
            EnvVar { name: "PATH".into(), value: EnvValue::Deferred("${GOPATH}/bin:${PATH}".into()) },
        ];
        let settings = process_settings(&meta(env), Some(&base)).expect("expands");
        assert_eq!(settings.env, ["PATH=/go/bin:/usr/bin", "HOME=/root", "GOPATH=/go"]);
        assert_eq!(settings.cwd, "/go/src");
        assert_eq!(settings.user, "app");
    }

    #[test]
    fn a_missing_path_gets_the_default() {
        let mut m = meta(vec![]);
        m.cwd = None;
        let settings = process_settings(&m, None).expect("ok");
        assert_eq!(settings.env, [format!("PATH={DEFAULT_PATH}")]);
        assert_eq!(settings.cwd, "/");
        assert_eq!(settings.user, "");
    }
}
