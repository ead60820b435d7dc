//! Heredoc behaviour, checked against BuildKit's `parser_heredoc_test.go` expectations.

use crate::parser::{Heredoc, Node, parse};

fn doc(name: &str, content: &str, expand: bool, chomp: bool) -> Heredoc {
    Heredoc { name: name.to_string(), content: content.to_string(), expand, chomp }
}

fn nodes(source: &str) -> Vec<Node> {
    parse(source).unwrap_or_else(|e| panic!("{e}")).children
}

/// The Dockerfile of BuildKit's TestParseExtractsHeredoc, leading newline and trailing tab
/// line included.
const BUILDKIT_HEREDOCS: &str = "
FROM alpine:3.6

ENV NAME=me

RUN ls

USER <<INVALID
INVALID

RUN <<EMPTY
EMPTY

RUN 3<<EMPTY2
EMPTY2

RUN \"<<NOHEREDOC\"

RUN <<INDENT
\tfoo
\tbar
INDENT

RUN <<-UNINDENT
\tbaz
\tquux
UNINDENT

RUN <<-UNINDENT2
\tbaz
\tquux
\tUNINDENT2

RUN <<-EXPAND
\texpand $NAME
EXPAND

RUN <<-'NOEXPAND'
\tdon't expand $NAME
NOEXPAND

RUN <<COPY
echo hello world
echo foo bar
COPY

RUN <<COMMENT
# internal comment
echo hello world
echo foo bar # trailing comment
COMMENT

RUN --mount=type=cache,target=/foo <<MOUNT
echo hello
MOUNT

COPY <<FILE1 <<FILE2 /dest
content 1
FILE1
content 2
FILE2

COPY <<EOF /quotes
\"foo\"
'bar'
EOF

COPY <<X <<Y /dest
Y
X
X
Y

RUN <<COMPLEX python3
print('hello world')
COMPLEX

COPY <<file.txt /dest
hello world
file.txt

RUN <<eo'f'
echo foo
eof

RUN <<eo\\'f
echo foo
eo'f

RUN <<'e'o\\'f
echo foo
eo'f

RUN <<'one two'
echo bar
one two

RUN <<$EOF
$EOF

RUN <<  EOF
EOF

RUN <<  EOF  > foo
EOF
\t";

#[test]
fn extracts_heredocs_like_buildkit() {
    let expected: Vec<Vec<Heredoc>> = vec![
        vec![],                                             // ENV NAME=me
        vec![],                                             // RUN ls
        vec![],                                             // USER <<INVALID
        vec![],                                             // INVALID
        vec![doc("EMPTY", "", true, false)],                // RUN <<EMPTY
        vec![doc("EMPTY2", "", true, false)],               // RUN 3<<EMPTY2
        vec![],                                             // RUN "<<NOHEREDOC"
        vec![doc("INDENT", "\tfoo\n\tbar\n", true, false)], // RUN <<INDENT
        vec![doc("UNINDENT", "\tbaz\n\tquux\n", true, true)],
        vec![doc("UNINDENT2", "\tbaz\n\tquux\n", true, true)],
        vec![doc("EXPAND", "\texpand $NAME\n", true, true)],
        vec![doc("NOEXPAND", "\tdon't expand $NAME\n", false, true)],
        vec![doc("COPY", "echo hello world\necho foo bar\n", true, false)],
        vec![doc("COMMENT", "# internal comment\necho hello world\necho foo bar # trailing comment\n", true, false)],
        vec![doc("MOUNT", "echo hello\n", true, false)],
        vec![doc("FILE1", "content 1\n", true, false), doc("FILE2", "content 2\n", true, false)],
        vec![doc("EOF", "\"foo\"\n'bar'\n", true, false)],
        vec![doc("X", "Y\n", true, false), doc("Y", "X\n", true, false)],
        vec![doc("COMPLEX", "print('hello world')\n", true, false)],
        vec![doc("file.txt", "hello world\n", true, false)],
        vec![doc("eof", "echo foo\n", false, false)],
        vec![doc("eo'f", "echo foo\n", true, false)],
        vec![doc("eo'f", "echo foo\n", false, false)],
        vec![doc("one two", "echo bar\n", false, false)],
        vec![doc("$EOF", "", true, false)],
        vec![doc("EOF", "", true, false)],
        vec![doc("EOF", "", true, false)],
    ];
    let children = nodes(BUILDKIT_HEREDOCS);
    assert_eq!(children.len(), expected.len() + 1);
    for (i, want) in expected.iter().enumerate() {
        let got = children.get(i + 1).map(|n| &n.heredocs);
        assert_eq!(got, Some(want), "child {}", i + 1);
    }
}

#[test]
fn single_heredoc_keeps_marker_in_args() {
    let source = "FROM alpine\nRUN <<EOF\necho hi\necho there\nEOF\nRUN true\n";
    let children = nodes(source);
    let run = &children[1];
    assert_eq!(run.args, ["<<EOF"]);
    assert_eq!(run.original, "RUN <<EOF");
    assert_eq!(run.dump(), r#"(run "<<EOF")"#);
    assert_eq!(run.heredocs, [doc("EOF", "echo hi\necho there\n", true, false)]);
    assert_eq!((run.location.start_line, run.location.end_line), (2, 5));
    assert_eq!(&source[run.location.start..run.location.end], "RUN <<EOF\necho hi\necho there\nEOF");
    assert_eq!(children[2].location.start_line, 6);
}

#[test]
fn chomp_strips_tabs_in_body_and_terminator() {
    let children = nodes("FROM a\nRUN <<-EOF\n\techo a\n\t\techo b\n  \tc\n\tEOF\n");
    let h = &children[1].heredocs[0];
    assert!(h.chomp);
    assert_eq!(h.content, "\techo a\n\t\techo b\n  \tc\n");
    assert_eq!(h.body(), "echo a\necho b\n  \tc\n");
    // Without `-` the tabbed terminator is body text, and the body is kept as written.
    let children = nodes("FROM a\nRUN <<EOF\n\tx\n\tEOF\nEOF\n");
    let h = &children[1].heredocs[0];
    assert_eq!(h.content, "\tx\n\tEOF\n");
    assert_eq!(h.body(), "\tx\n\tEOF\n");
}

#[test]
fn quoted_delimiters_do_not_expand() {
    for marker in ["<<'EOF'", "<<\"EOF\"", "<<-'EOF'"] {
        let source = format!("FROM a\nRUN {marker}\necho $HOME\nEOF\n");
        let h = &nodes(&source)[1].heredocs[0];
        assert_eq!(h.name, "EOF");
        assert!(!h.expand, "{marker}");
        assert_eq!(h.content, "echo $HOME\n");
    }
}

#[test]
fn two_heredocs_on_one_line_read_in_order() {
    let children = nodes("FROM a\nRUN <<A cat - <<B\na1\nA\nb1\nb2\nB\nRUN next\n");
    let run = &children[1];
    assert_eq!(run.args, ["<<A cat - <<B"]);
    assert_eq!(run.heredocs, [doc("A", "a1\n", true, false), doc("B", "b1\nb2\n", true, false)]);
    assert_eq!(children[2].dump(), r#"(run "next")"#);
}

#[test]
fn copy_heredoc() {
    let children = nodes("FROM a\nCOPY --chmod=755 <<EOF /usr/local/bin/hello\n#!/bin/sh\necho hello\nEOF\n");
    let copy = &children[1];
    assert_eq!(copy.dump(), r#"(copy ["--chmod=755"] "<<EOF" "/usr/local/bin/hello")"#);
    assert_eq!(copy.heredocs, [doc("EOF", "#!/bin/sh\necho hello\n", true, false)]);
}

#[test]
fn heredoc_with_arguments_around_it() {
    let children = nodes("FROM a\nRUN <<EOF bash\nset -e\nEOF\nRUN python3 <<EOF\nprint(1)\nEOF\n");
    assert_eq!(children[1].args, ["<<EOF bash"]);
    assert_eq!(children[1].heredocs, [doc("EOF", "set -e\n", true, false)]);
    assert_eq!(children[2].args, ["python3 <<EOF"]);
    assert_eq!(children[2].heredocs, [doc("EOF", "print(1)\n", true, false)]);
}

#[test]
fn crlf_bodies_keep_their_line_endings() {
    let children = nodes("FROM a\r\nRUN <<EOF\r\nx\r\nEOF\r\n");
    assert_eq!(children[1].heredocs, [doc("EOF", "x\r\n", true, false)]);
}

#[test]
fn heredocs_only_on_shell_form_run_copy_add() {
    let children = nodes("FROM a\nRUN [\"<<EOF\"]\nLABEL a=<<EOF\nRUN '<<EOF'\n");
    assert!(children.iter().all(|n| n.heredocs.is_empty()));
    assert_eq!(children.len(), 4);
}

#[test]
fn onbuild_heredoc_attaches_to_the_onbuild_node() {
    let children = nodes("FROM a\nONBUILD RUN <<EOF\necho x\nEOF\n");
    let onbuild = &children[1];
    assert_eq!(onbuild.dump(), r#"(onbuild (run "<<EOF"))"#);
    assert_eq!(onbuild.heredocs, [doc("EOF", "echo x\n", true, false)]);
    assert!(onbuild.child.as_ref().is_some_and(|c| c.heredocs.is_empty()));
}

#[test]
fn heredoc_after_continuation() {
    let children = nodes("FROM a\nRUN --mount=type=cache,target=/c \\\n  <<EOF\nls\nEOF\n");
    assert_eq!(children[1].heredocs, [doc("EOF", "ls\n", true, false)]);
    assert_eq!((children[1].location.start_line, children[1].location.end_line), (2, 5));
}
