#[test]
fn scratch_print() {
    for f in ["docker+buildx/hack__dockerfiles__lint.Dockerfile", "moby+buildkit/Dockerfile"] {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus/real-world").join(f);
        let s = std::fs::read_to_string(p).unwrap_or_default();
        let ast = crate::parser::parse(&s).unwrap_or_else(|e| panic!("{e}"));
        for n in &ast.children {
            if !n.heredocs.is_empty() {
                println!("{} {:?} {}", n.dump(), (n.location.start_line, n.location.end_line), n.heredocs.iter().map(|h| format!("[{} exp={} lines={}]", h.name, h.expand, h.content.lines().count())).collect::<Vec<_>>().join(" "));
            }
        }
    }
}
