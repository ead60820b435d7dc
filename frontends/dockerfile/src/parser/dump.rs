//! BuildKit's `Node.Dump()` s-expression rendering, used to compare against the golden
//! `result` files byte for byte.

use super::ast::{Ast, Node};
use super::quote::{go_quote, to_lower};

impl Node {
    /// This instruction as BuildKit dumps it, e.g. `(copy ["--from=x"] "a" "b")`.
    pub fn dump(&self) -> String {
        let mut inner = to_lower(&self.keyword);
        if !self.flags.is_empty() {
            let flags: Vec<String> = self.flags.iter().map(|f| go_quote(f)).collect();
            inner.push_str(" [");
            inner.push_str(&flags.join(" "));
            inner.push(']');
        }
        if let Some(child) = &self.child {
            inner.push(' ');
            inner.push_str(&child.dump());
        }
        for arg in &self.args {
            inner.push(' ');
            inner.push_str(&go_quote(arg));
        }
        // Go trims the assembled text, which matters only for an empty keyword.
        format!("({})", inner.trim())
    }
}

impl Ast {
    /// Every instruction's dump followed by a newline: BuildKit's `AST.Dump() + "\n"`.
    pub fn dump(&self) -> String {
        let mut out = String::new();
        for node in &self.children {
            out.push_str(&node.dump());
            out.push('\n');
        }
        out
    }
}
