//! Inputs from the security review that exhausted the stack or memory: stage chains thousands
//! deep, and variables that double one another or are copied many times. Lowering must finish
//! on an ordinary 2 MiB thread stack, or fail with an error that names the line.

use std::fmt::Write as _;

use gb_dockerfile::{DockerfileError, ErrorKind, LowerOptions, Lowered, NoImages};

/// A normal thread's stack, as a program that lowers on a worker thread has.
const STACK: usize = 2 << 20;

fn options() -> LowerOptions {
    LowerOptions {
        dockerfile_name: "Dockerfile".to_owned(),
        target_platform: gb_ir::Platform::parse("linux/amd64"),
        build_platform: gb_ir::Platform::parse("linux/amd64"),
        ..LowerOptions::default()
    }
}

/// Lowers on a thread with a 2 MiB stack, so deep recursion would overflow it.
fn lower_on_small_stack(text: String) -> Result<Lowered, DockerfileError> {
    std::thread::Builder::new()
        .stack_size(STACK)
        .spawn(move || gb_dockerfile::lower(&text, &options(), &NoImages))
        .expect("spawns")
        .join()
        .expect("lowering does not overflow the stack")
}

fn lines(count: usize, line: impl Fn(usize) -> String) -> String {
    let mut text = String::new();
    for i in 0..count {
        let _ = writeln!(text, "{}", line(i));
    }
    text
}

#[test]
fn a_2000_stage_from_chain_lowers_on_a_small_stack() {
    let text =
        lines(2000, |i| if i == 0 { "FROM busybox AS s0".to_owned() } else { format!("FROM s{} AS s{i}", i - 1) });
    let lowered = lower_on_small_stack(text).expect("lowers");
    assert_eq!(lowered.stages.len(), 2000);
    assert_eq!(lowered.stages.first().map(String::as_str), Some("s0"), "the base is lowered first");
    assert_eq!(lowered.definition.ops.len(), 1, "every stage is the busybox image");
    lowered.definition.validate().expect("valid");
}

#[test]
fn a_1000_stage_copy_from_chain_lowers_on_a_small_stack() {
    let text = lines(1000, |i| match i {
        0 => "FROM busybox AS s0\nRUN echo 0 > /f".to_owned(),
        _ => format!("FROM busybox AS s{i}\nCOPY --from=s{} /f /f", i - 1),
    });
    let lowered = lower_on_small_stack(text).expect("lowers");
    assert_eq!(lowered.stages.len(), 1000);
    // The image, the RUN, and one copy per later stage.
    assert_eq!(lowered.definition.ops.len(), 1001);
    lowered.definition.validate().expect("valid");
    let dot = gb_ir::to_dot(&lowered.definition);
    // The RUN reads the image, each copy the image and the stage before, and one edge goes to
    // the output.
    assert_eq!(dot.matches(" -> ").count(), 1 + 2 * 999 + 1);
}

#[test]
fn a_1000_stage_mount_from_chain_lowers_on_a_small_stack() {
    let text = lines(1000, |i| match i {
        0 => "FROM busybox AS s0\nRUN echo 0 > /f".to_owned(),
        _ => format!("FROM busybox AS s{i}\nRUN --mount=from=s{},target=/prev cp /prev/f /f", i - 1),
    });
    let lowered = lower_on_small_stack(text).expect("lowers");
    assert_eq!(lowered.stages.len(), 1000);
    lowered.definition.validate().expect("valid");
}

#[test]
fn a_stage_cycle_deep_in_a_chain_is_still_an_error() {
    let mut text = lines(500, |i| format!("FROM s{} AS s{i}", i + 1));
    text.push_str("FROM s0 AS s500\n");
    let err = lower_on_small_stack(text).expect_err("a cycle");
    assert!(err.message.starts_with("circular dependency detected on stage"), "{}", err.message);
}

#[test]
fn an_instruction_that_waits_for_a_stage_keeps_op_order_and_warnings() {
    // The RUN adds the context source, then needs stage `a`; the COPY warns about $HOME, then
    // needs stage `c`. Both run again after the stage is lowered: the ops come out in the order
    // a recursive lowering made them, and the warning once.
    let text = "FROM busybox AS a\nRUN echo a\nFROM busybox AS c\nRUN echo c\n\
                FROM busybox AS b\n\
                RUN --mount=type=bind,source=ctx,target=/ctx --mount=from=a,target=/a echo b\n\
                COPY --from=c $HOME/x /x\n";
    let lowered = lower_on_small_stack(text.to_owned()).expect("lowers");
    let descriptions: Vec<&str> = lowered
        .definition
        .ops
        .iter()
        .map(|e| lowered.definition.metadata.get(&e.digest).map_or("", |m| m.description.as_str()))
        .collect();
    assert_eq!(
        descriptions,
        [
            "[b 1/3] FROM docker.io/library/busybox:latest",
            "load build context",
            "[a 2/2] RUN echo a",
            "[b 2/3] RUN --mount=type=bind,source=ctx,target=/ctx --mount=from=a,target=/a echo b",
            "[c 2/2] RUN echo c",
            "[b 3/3] COPY --from=c $HOME/x /x",
        ]
    );
    assert_eq!(lowered.stages, ["a", "c", "b"]);
    let home: Vec<_> = lowered.warnings.iter().filter(|w| w.message.contains("$HOME")).collect();
    assert_eq!(home.len(), 1, "{:?}", lowered.warnings);
}

fn expansion_error(text: &str) -> DockerfileError {
    let err = lower_on_small_stack(text.to_owned()).expect_err("too much data");
    assert_eq!(err.kind, ErrorKind::Expansion, "{}", err.message);
    err
}

/// `KEYWORD A0=xxxxxxxxxx` then `KEYWORD A1=${A0}${A0}` and so on, 39 times.
fn doubling(keyword: &str) -> String {
    let mut text = format!("{keyword} A0=xxxxxxxxxx\n");
    for i in 1..40 {
        let _ = writeln!(text, "{keyword} A{i}=${{A{}}}${{A{}}}", i - 1, i - 1);
    }
    text
}

#[test]
fn doubling_global_args_stop_at_one_mib_with_the_line() {
    let err = expansion_error(&(doubling("ARG") + "FROM scratch\n"));
    // A16 is 640 KiB; A17 would be 1.25 MiB, on line 18.
    assert_eq!(err.line, 18, "{}", err.message);
    assert!(err.message.starts_with("the word expands to more than 1 MiB"), "{}", err.message);
}

#[test]
fn doubling_stage_args_envs_and_labels_stop_at_one_mib_with_the_line() {
    for keyword in ["ARG", "ENV"] {
        let err = expansion_error(&format!("FROM scratch\n{}", doubling(keyword)));
        assert_eq!(err.line, 19, "{keyword}: {}", err.message);
    }
    let mut text = format!("FROM scratch\n{}", doubling("ENV").lines().take(17).collect::<Vec<_>>().join("\n"));
    text.push_str("\nLABEL big=${A16}${A16}\n");
    let err = expansion_error(&text);
    assert_eq!(err.line, 19, "{}", err.message);
}

/// Lines 2-18 make `A16`, 640 KiB, by doubling.
fn with_a_large_value() -> String {
    format!("FROM scratch\n{}\n", doubling("ENV").lines().take(17).collect::<Vec<_>>().join("\n"))
}

#[test]
fn copying_a_large_value_into_many_envs_hits_the_total_limit() {
    // Each line is within the word limit; 200 copies of 640 KiB are 125 MiB.
    let mut text = with_a_large_value();
    for i in 0..200 {
        let _ = writeln!(text, "ENV E{i}=$A16");
    }
    let err = expansion_error(&text);
    assert!(err.message.contains("more than 64 MiB"), "{}", err.message);
    assert!((19..219).contains(&err.line), "line {}", err.line);
}

#[test]
fn many_runs_over_a_large_environment_hit_the_total_limit() {
    // Every RUN copies the 1.25 MiB environment (A15 and A16) into its op.
    let mut text = with_a_large_value();
    for i in 0..200 {
        let _ = writeln!(text, "RUN echo {i}");
    }
    let err = expansion_error(&text);
    assert!(err.message.contains("more than 64 MiB"), "{}", err.message);
    assert!(text.lines().nth(err.line - 1).is_some_and(|line| line.starts_with("RUN")), "line {}", err.line);
}

#[test]
fn many_stages_built_on_a_large_stage_hit_the_total_limit() {
    let mut text = with_a_large_value().replacen("FROM scratch", "FROM scratch AS s0", 1);
    for i in 1..200 {
        let _ = writeln!(text, "FROM s{} AS s{i}", i - 1);
    }
    let err = expansion_error(&text);
    assert!(err.message.contains("more than 64 MiB"), "{}", err.message);
    assert!(text.lines().nth(err.line - 1).is_some_and(|line| line.starts_with("FROM s")), "line {}", err.line);
}

#[test]
fn a_pattern_searched_across_a_large_value_stops_with_the_line() {
    // The review's input: `${V//a*b/x}` tries `a*b` from each of A16's 640 Ki positions and
    // reads to the end from each, about 10^11 steps; the step limit ends it at the line.
    let mut text = with_a_large_value().replace("xxxxxxxxxx", "aaaaaaaaaa");
    text.push_str("ENV B=${A16//a*b/x}\n");
    let err = expansion_error(&text);
    assert_eq!(err.line, 19, "{}", err.message);
    assert!(err.message.starts_with("matching the pattern takes more than"), "{}", err.message);
    assert!(!err.message.contains("at byte"), "the caret shows where: {}", err.message);
    // Trims match from one end only, so they finish.
    let mut text = with_a_large_value().replace("xxxxxxxxxx", "aaaaaaaaaa");
    text.push_str("ENV B=${A16%%*x} C=${A16##a*}\n");
    lower_on_small_stack(text).expect("trims finish");
}
