//! Graphviz DOT rendering of a Definition, for `graphbuild lower --format dot`.

use std::fmt::Write as _;

use crate::definition::Definition;

/// Renders the graph as DOT: one node per op labelled with its kind, short digest and
/// description, one edge per input (labelled with the output index when it is not 0).
pub fn to_dot(definition: &Definition) -> String {
    let mut out =
        String::from("digraph definition {\n  rankdir=\"TB\";\n  node [shape=box, fontname=\"monospace\"];\n");
    for entry in &definition.ops {
        let description = definition.metadata.get(&entry.digest).map(|m| m.description.as_str()).unwrap_or("");
        let label = format!("{} {}\\n{}", entry.node.kind(), entry.digest.short(), escape(description));
        let _ = writeln!(out, "  \"{}\" [label=\"{}\"];", entry.digest, label);
    }
    for entry in &definition.ops {
        for input in &entry.node.inputs {
            if input.output == 0 {
                let _ = writeln!(out, "  \"{}\" -> \"{}\";", input.op, entry.digest);
            } else {
                let _ = writeln!(out, "  \"{}\" -> \"{}\" [label=\"{}\"];", input.op, entry.digest, input.output);
            }
        }
    }
    if let Some(output) = &definition.output {
        let _ = writeln!(out, "  \"output\" [shape=doublecircle];\n  \"{}\" -> \"output\";", output.op);
    }
    out.push_str("}\n");
    out
}

/// `text` inside a double-quoted Graphviz string.
pub fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}
