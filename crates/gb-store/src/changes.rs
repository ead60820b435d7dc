//! `--change`: Dockerfile instructions applied to an image's config, as `docker import -c` and
//! `docker commit -c` apply them (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL,
//! USER, VOLUME, WORKDIR).

use serde_json::{Map, Value, json};

use crate::error::StoreError;

/// Applies one change (`CMD ["sh"]`, `ENV K=V`, ...) to an OCI config's `config` object.
pub fn apply_change(config: &mut Map<String, Value>, change: &str) -> Result<(), StoreError> {
    let change = change.trim();
    let (instruction, rest) = change.split_once(char::is_whitespace).unwrap_or((change, ""));
    let rest = rest.trim();
    let invalid = |why: &str| StoreError::InvalidChange(format!("{change:?}: {why}"));
    match instruction.to_ascii_uppercase().as_str() {
        "CMD" => {
            config.insert("Cmd".to_owned(), command(rest));
        }
        "ENTRYPOINT" => {
            config.insert("Entrypoint".to_owned(), command(rest));
        }
        "ENV" => {
            let pairs = pairs(rest, true).ok_or_else(|| invalid("expected KEY=VALUE or KEY VALUE"))?;
            let env = config.entry("Env").or_insert_with(|| json!([]));
            let list = env.as_array_mut().ok_or_else(|| invalid("the image's Env is not a list"))?;
            for (key, value) in pairs {
                list.retain(|entry| entry.as_str().and_then(|e| e.split_once('=')).is_none_or(|(k, _)| k != key));
                list.push(Value::String(format!("{key}={value}")));
            }
        }
        "LABEL" => {
            let pairs = pairs(rest, false).ok_or_else(|| invalid("expected KEY=VALUE"))?;
            let labels = object(config, "Labels").ok_or_else(|| invalid("the image's Labels are not a map"))?;
            for (key, value) in pairs {
                labels.insert(key, Value::String(value));
            }
        }
        "EXPOSE" => {
            let ports = object(config, "ExposedPorts").ok_or_else(|| invalid("the image's ports are not a map"))?;
            for port in words(rest) {
                let port = if port.contains('/') { port } else { format!("{port}/tcp") };
                ports.insert(port, json!({}));
            }
        }
        "VOLUME" => {
            let paths = match serde_json::from_str::<Vec<String>>(rest) {
                Ok(paths) => paths,
                Err(_) => words(rest),
            };
            let volumes = object(config, "Volumes").ok_or_else(|| invalid("the image's Volumes are not a map"))?;
            for path in paths {
                volumes.insert(path, json!({}));
            }
        }
        "WORKDIR" => {
            let base = config.get("WorkingDir").and_then(Value::as_str).filter(|d| !d.is_empty()).unwrap_or("/");
            let dir =
                if rest.starts_with('/') { rest.to_owned() } else { format!("{}/{rest}", base.trim_end_matches('/')) };
            config.insert("WorkingDir".to_owned(), Value::String(dir));
        }
        "USER" => {
            config.insert("User".to_owned(), Value::String(rest.to_owned()));
        }
        "STOPSIGNAL" => {
            config.insert("StopSignal".to_owned(), Value::String(rest.to_owned()));
        }
        "ONBUILD" => {
            let triggers = config.entry("OnBuild").or_insert_with(|| json!([]));
            if triggers.is_null() {
                *triggers = json!([]);
            }
            let list = triggers.as_array_mut().ok_or_else(|| invalid("the image's OnBuild is not a list"))?;
            list.push(Value::String(rest.to_owned()));
        }
        other => return Err(StoreError::InvalidChange(format!("{other} is not a valid change command"))),
    }
    Ok(())
}

/// A CMD or ENTRYPOINT: a JSON list as it is, else the shell form (`/bin/sh -c TEXT`).
fn command(text: &str) -> Value {
    match serde_json::from_str::<Vec<String>>(text) {
        Ok(list) => json!(list),
        Err(_) => json!(["/bin/sh", "-c", text]),
    }
}

/// The config's map under `key`, made when missing (or null).
fn object<'c>(config: &'c mut Map<String, Value>, key: &str) -> Option<&'c mut Map<String, Value>> {
    let value = config.entry(key).or_insert_with(|| json!({}));
    if value.is_null() {
        *value = json!({});
    }
    value.as_object_mut()
}

/// `K=V K2="v 2"` pairs; with `legacy`, also `K the value` (ENV's old form).
fn pairs(text: &str, legacy: bool) -> Option<Vec<(String, String)>> {
    let words = words(text);
    let first = words.first()?;
    if !first.contains('=') {
        let (key, value) = text.split_once(char::is_whitespace)?;
        return legacy.then(|| vec![(key.to_owned(), value.trim().to_owned())]);
    }
    words.iter().map(|word| word.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned()))).collect()
}

/// Words split at blanks, double-quoted parts kept whole and unquoted (`\"` is a quote).
fn words(text: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut quoted = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if quoted => word.get_or_insert_default().extend(chars.next()),
            '"' => {
                quoted = !quoted;
                word.get_or_insert_default();
            }
            c if c.is_whitespace() && !quoted => words.extend(word.take()),
            c => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(changes: &[&str]) -> Result<Value, StoreError> {
        let mut config = json!({ "Env": ["PATH=/bin", "A=old"] });
        let map = config.as_object_mut().expect("object");
        for change in changes {
            apply_change(map, change)?;
        }
        Ok(config)
    }

    #[test]
    fn changes_set_the_config_as_docker_import_does() {
        let config = changed(&[
            r#"CMD ["echo", "hi"]"#,
            "ENTRYPOINT /bin/run me",
            "ENV A=new B=\"two words\"",
            "env C the rest",
            "WORKDIR /srv",
            "WORKDIR app",
            "EXPOSE 80 53/udp",
            "USER nobody",
            r#"LABEL a=1 "b c"=d"#,
            "VOLUME /data",
            "STOPSIGNAL SIGINT",
            "ONBUILD RUN echo later",
        ])
        .expect("applies");
        assert_eq!(config["Cmd"], json!(["echo", "hi"]));
        assert_eq!(config["Entrypoint"], json!(["/bin/sh", "-c", "/bin/run me"]));
        assert_eq!(config["Env"], json!(["PATH=/bin", "A=new", "B=two words", "C=the rest"]));
        assert_eq!(config["WorkingDir"], "/srv/app");
        assert_eq!(config["ExposedPorts"], json!({ "80/tcp": {}, "53/udp": {} }));
        assert_eq!(config["User"], "nobody");
        assert_eq!(config["Labels"], json!({ "a": "1", "b c": "d" }));
        assert_eq!(config["Volumes"], json!({ "/data": {} }));
        assert_eq!(config["StopSignal"], "SIGINT");
        assert_eq!(config["OnBuild"], json!(["RUN echo later"]));
    }

    #[test]
    fn other_instructions_and_bad_forms_are_refused() {
        assert_eq!(
            changed(&["RUN true"]).map_err(|e| e.to_string()).err().as_deref(),
            Some("RUN is not a valid change command")
        );
        assert!(changed(&["LABEL justakey"]).is_err());
        assert!(changed(&["ENV"]).is_err());
    }
}
