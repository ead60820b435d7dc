//! `--change`: Dockerfile instructions applied to an image's config (`commit -c 'CMD ["sh"]'`),
//! the ones docker allows there: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL,
//! USER, VOLUME, WORKDIR.

use serde_json::{Value, json};

use crate::exit::Failure;

/// The image config `config` with every change applied, in order.
pub fn apply(config: &Value, changes: &[String]) -> Result<Value, Failure> {
    let mut config = if config.is_object() { config.clone() } else { json!({}) };
    for change in changes {
        apply_one(&mut config, change).map_err(|e| Failure::Input(format!("--change {change:?}: {e}")))?;
    }
    Ok(config)
}

/// A JSON array of strings (exec form), or `None` for the shell form.
fn exec_form(text: &str) -> Option<Vec<String>> {
    serde_json::from_str::<Vec<String>>(text.trim()).ok()
}

/// `K=V K2=V2` pairs (quotes removed), or the legacy `K V` form.
fn pairs(text: &str, legacy: bool) -> Result<Vec<(String, String)>, String> {
    let words = shell_words(text)?;
    if legacy && words.len() >= 2 && !words[0].contains('=') {
        let value = text.trim()[text.trim().find(char::is_whitespace).unwrap_or(0)..].trim().to_owned();
        return Ok(vec![(words[0].clone(), value)]);
    }
    words
        .into_iter()
        .map(|w| w.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())).ok_or(format!("{w:?} is not KEY=VALUE")))
        .collect()
}

/// Splits on whitespace, honouring double and single quotes.
fn shell_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    let mut started = false;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                started = true;
            }
            (None, c) if c.is_whitespace() => {
                if started {
                    words.push(std::mem::take(&mut word));
                    started = false;
                }
            }
            (None, c) => {
                word.push(c);
                started = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".to_owned());
    }
    if started {
        words.push(word);
    }
    Ok(words)
}

fn apply_one(config: &mut Value, change: &str) -> Result<(), String> {
    let change = change.trim();
    let (instruction, rest) = change.split_once(char::is_whitespace).unwrap_or((change, ""));
    let rest = rest.trim();
    let command = |text: &str| match exec_form(text) {
        Some(argv) => json!(argv),
        None => json!(["/bin/sh", "-c", text]),
    };
    match instruction.to_ascii_uppercase().as_str() {
        "CMD" => config["Cmd"] = command(rest),
        "ENTRYPOINT" => config["Entrypoint"] = command(rest),
        "WORKDIR" => config["WorkingDir"] = json!(rest),
        "USER" => config["User"] = json!(rest),
        "STOPSIGNAL" => config["StopSignal"] = json!(rest),
        "ENV" => {
            let mut env: Vec<Value> = config["Env"].as_array().cloned().unwrap_or_default();
            for (key, value) in pairs(rest, true)? {
                let prefix = format!("{key}=");
                env.retain(|e| !e.as_str().is_some_and(|s| s.starts_with(&prefix)));
                env.push(json!(format!("{key}={value}")));
            }
            config["Env"] = json!(env);
        }
        "LABEL" => {
            for (key, value) in pairs(rest, false)? {
                if !config["Labels"].is_object() {
                    config["Labels"] = json!({});
                }
                config["Labels"][key] = json!(value);
            }
        }
        "EXPOSE" => {
            for port in shell_words(rest)? {
                let port = if port.contains('/') { port } else { format!("{port}/tcp") };
                if !config["ExposedPorts"].is_object() {
                    config["ExposedPorts"] = json!({});
                }
                config["ExposedPorts"][port] = json!({});
            }
        }
        "VOLUME" => {
            let paths = exec_form(rest).map_or_else(|| shell_words(rest), Ok)?;
            for path in paths {
                if !config["Volumes"].is_object() {
                    config["Volumes"] = json!({});
                }
                config["Volumes"][path] = json!({});
            }
        }
        "ONBUILD" => {
            let mut triggers: Vec<Value> = config["OnBuild"].as_array().cloned().unwrap_or_default();
            triggers.push(json!(rest));
            config["OnBuild"] = json!(triggers);
        }
        other => return Err(format!("{other} is not a valid change command")),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_set_dockers_config_fields() {
        let base = json!({"Env": ["PATH=/bin", "A=1"], "Cmd": ["sh"]});
        let changes: Vec<String> = [
            "CMD [\"cat\", \"/x\"]",
            "ENTRYPOINT echo hi",
            "ENV A=2 B=\"two words\"",
            "LABEL team=web",
            "EXPOSE 80 53/udp",
            "WORKDIR /srv",
            "USER nobody",
        ]
        .map(str::to_owned)
        .to_vec();
        let config = apply(&base, &changes).expect("applies");
        assert_eq!(config["Cmd"], json!(["cat", "/x"]));
        assert_eq!(config["Entrypoint"], json!(["/bin/sh", "-c", "echo hi"]));
        assert_eq!(config["Env"], json!(["PATH=/bin", "A=2", "B=two words"]));
        assert_eq!(config["Labels"]["team"], "web");
        assert!(config["ExposedPorts"]["80/tcp"].is_object() && config["ExposedPorts"]["53/udp"].is_object());
        assert_eq!(config["WorkingDir"], "/srv");
        assert_eq!(config["User"], "nobody");
        assert!(apply(&base, &["RUN rm -rf /".to_owned()]).is_err());
    }
}
