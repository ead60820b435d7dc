//! Turns one logical line into a `Node`: keyword and flags, then the instruction's own
//! argument parser, recursing for ONBUILD (BuildKit's `newNodeFromLine` and dispatch table).

use super::args::{self, Args};
use super::ast::{Location, Node};
use super::command::split_command;
use super::error::SpanError;

/// ONBUILD may wrap ONBUILD in the parser (the dispatcher rejects it later); the limit only
/// keeps pathological lines from building a tree deep enough to exhaust the stack.
const MAX_ONBUILD_DEPTH: usize = 16;

/// Parses `line`; error spans are relative to `line`.
pub(crate) fn node_from_line(line: &str, escape: char, depth: usize) -> Result<Node, SpanError> {
    let split = split_command(line);
    let mut child = None;
    let rest = split.args;
    let parsed = match split.keyword.as_str() {
        "add" | "copy" | "volume" => args::maybe_json_to_list(rest),
        "arg" => Ok(args::name_or_name_val(rest, escape)),
        "cmd" | "entrypoint" | "run" | "shell" => args::maybe_json(rest),
        "env" => args::name_val(rest, "ENV", escape),
        "label" => args::name_val(rest, "LABEL", escape),
        "expose" | "from" => Ok(args::whitespace_delimited(rest)),
        "healthcheck" => args::health_config(rest),
        "maintainer" | "stopsignal" | "user" | "workdir" => Ok(args::single(rest)),
        "onbuild" => {
            if !rest.is_empty() {
                if depth >= MAX_ONBUILD_DEPTH {
                    return Err(SpanError::new(
                        "ONBUILD instructions nested too deeply",
                        split.args_offset..split.args_offset + rest.len(),
                    ));
                }
                let inner = node_from_line(rest, escape, depth + 1).map_err(|e| e.shift(split.args_offset))?;
                child = Some(Box::new(inner));
            }
            Ok(Args::default())
        }
        // BuildKit's parser keeps unknown instructions but ignores their arguments,
        // leaving a single empty value; the dispatcher reports them.
        _ => Ok(Args { values: vec![String::new()], json: false }),
    }
    .map_err(|e| e.shift(split.args_offset))?;
    Ok(Node {
        keyword: split.keyword,
        flags: split.flags,
        args: parsed.values,
        json: parsed.json,
        child,
        heredocs: Vec::new(),
        original: line.to_string(),
        location: Location::default(),
        prev_comment: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dump(line: &str) -> String {
        node_from_line(line, '\\', 0).map_or_else(|e| format!("error {e:?}"), |n| n.dump())
    }

    #[test]
    fn dispatches_per_keyword() {
        assert_eq!(dump("ONBUILD RUN [\"echo\", \"test\"]"), r#"(onbuild (run "echo" "test"))"#);
        assert_eq!(dump("ONBUILD"), "(onbuild)");
        assert_eq!(dump("FOO --x bar baz"), r#"(foo ["--x"] "")"#);
        assert_eq!(dump("shell [\"sh\", \"-c\"]"), r#"(shell "sh" "-c")"#);
        assert_eq!(dump("STOPSIGNAL  SIGKILL "), r#"(stopsignal "SIGKILL")"#);
        assert_eq!(dump(""), r#"("")"#);
    }

    #[test]
    fn error_spans_are_line_relative() {
        let e = node_from_line("ONBUILD ENV a=b c", '\\', 0).err();
        assert_eq!(e.map(|e| e.span), Some(16..17));
        let e = node_from_line("CMD [\"a\", 1]", '\\', 0).err();
        assert_eq!(e.map(|e| e.span), Some(4..12));
    }

    #[test]
    fn onbuild_depth_is_bounded() {
        let line = "ONBUILD ".repeat(10_000) + "RUN x";
        assert!(node_from_line(&line, '\\', 0).is_err());
        let line = "ONBUILD ".repeat(3) + "RUN x";
        assert!(node_from_line(&line, '\\', 0).is_ok());
    }
}
