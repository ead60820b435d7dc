//! `builds show --format dot` (the step graph for Graphviz) and `--format html`: one
//! self-contained page (no network needed to view it) with the build's step graph laid out as a
//! DAG (each step's status and run time, the critical path highlighted), a timeline of when each
//! step ran on which lane of parallel work, and totals.

use std::fmt::Write as _;

use gb_engine::{BuildRecord, StepStatus};

use crate::progress::seconds;

const NODE_WIDTH: usize = 270;
const NODE_HEIGHT: usize = 44;
const COLUMN: usize = 310;
/// The characters of a step's description its box shows (all of it in its tooltip).
const LABEL_CHARS: usize = 34;
const ROW: usize = 64;

/// The record's step graph for Graphviz: each step with its status and run time, an edge from
/// each step to the steps that read it, the critical path drawn bold.
pub fn dot(record: &BuildRecord) -> String {
    let critical = record.critical_path();
    let mut out =
        String::from("digraph build {\n  rankdir=\"TB\";\n  node [shape=box, fontname=\"monospace\", style=filled];\n");
    for (i, step) in record.steps.iter().enumerate() {
        let status = step.status.name();
        let color = match step.status {
            StepStatus::Ran => "#cfe8ff",
            StepStatus::Cached => "#e0e0e0",
            StepStatus::Failed => "#ffc9c9",
            StepStatus::Cancelled => "#fff3bf",
        };
        let time = step.duration_ms.filter(|_| step.status != StepStatus::Cached).map(|ms| format!(" {}", seconds(ms)));
        let label =
            format!("#{} {}\\n{status}{}", i + 1, gb_ir::dot_escape(&step.description), time.unwrap_or_default());
        let bold = if critical.steps.contains(&i) { ", penwidth=3, color=\"#c92a2a\"" } else { "" };
        out.push_str(&format!("  s{} [label=\"{label}\", fillcolor=\"{color}\"{bold}];\n", i + 1));
    }
    for (i, inputs) in record.step_inputs().iter().enumerate() {
        for p in inputs {
            let on_path = critical.steps.windows(2).any(|pair| pair == [*p, i]);
            let bold = if on_path { " [penwidth=3, color=\"#c92a2a\"]" } else { "" };
            out.push_str(&format!("  s{} -> s{}{bold};\n", p + 1, i + 1));
        }
    }
    out.push_str("}\n");
    out
}

/// The page.
pub fn html(record: &BuildRecord) -> String {
    let critical = record.critical_path();
    let inputs = record.step_inputs();
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>graphbuild build {id}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>Build {id}</h1>\n",
        id = escape(&record.id),
    );
    totals(&mut page, record, &critical);
    page.push_str("<h2>Steps</h2>\n<div class=\"scroll\">\n");
    graph(&mut page, record, &inputs, &critical.steps);
    page.push_str("</div>\n<h2>Timeline</h2>\n<div class=\"scroll\">\n");
    timeline(&mut page, record, &critical.steps);
    page.push_str("</div>\n");
    page.push_str(SCRIPT);
    page.push_str("</body>\n</html>\n");
    page
}

fn totals(page: &mut String, record: &BuildRecord, critical: &gb_engine::CriticalPath) {
    let (ran, cached) = record.ran_and_cached();
    let failed = record.steps.iter().filter(|s| s.status == StepStatus::Failed).count();
    let run_total: u64 =
        record.steps.iter().filter(|s| s.status != StepStatus::Cached).filter_map(|s| s.duration_ms).sum();
    let queued: u64 = record.steps.iter().filter_map(|s| s.queued_ms).sum();
    let rows = [
        ("Status", record.status.label().to_owned()),
        ("Duration", seconds(record.duration_ms)),
        ("Critical path", format!("{} over {} steps", seconds(critical.duration_ms), critical.steps.len())),
        ("Steps", format!("{ran} ran, {cached} cached, {failed} failed, {} in all", record.steps.len())),
        ("Time running steps", seconds(run_total)),
        ("Waiting for a slot", seconds(queued)),
        ("Exporting", record.export_ms.map(seconds).unwrap_or_default()),
        ("Context bytes hashed", super::images::human_size(record.bytes_hashed())),
        ("Layer bytes written", super::images::human_size(record.bytes_written())),
        ("Dockerfile", record.info.dockerfile.clone().unwrap_or_default()),
        ("Target", record.info.target.clone().unwrap_or_default()),
        ("Image", record.image.as_ref().map(|i| i.id.clone()).unwrap_or_default()),
    ];
    page.push_str("<table class=\"totals\">\n");
    for (label, value) in rows.into_iter().filter(|(_, value)| !value.is_empty()) {
        let _ = writeln!(page, "<tr><th>{label}</th><td>{}</td></tr>", escape(&value));
    }
    page.push_str("</table>\n");
}

/// The DAG: a column per depth (a step is one column right of the deepest step it reads).
fn graph(page: &mut String, record: &BuildRecord, inputs: &[Vec<usize>], critical: &[usize]) {
    let mut depth = vec![0usize; record.steps.len()];
    let mut row = vec![0usize; record.steps.len()];
    let mut per_column: Vec<usize> = Vec::new();
    for i in 0..record.steps.len() {
        depth[i] = inputs[i].iter().filter(|&&p| p < i).map(|&p| depth[p] + 1).max().unwrap_or(0);
        if per_column.len() <= depth[i] {
            per_column.resize(depth[i] + 1, 0);
        }
        row[i] = per_column[depth[i]];
        per_column[depth[i]] += 1;
    }
    let width = per_column.len().max(1) * COLUMN + 40;
    let height = per_column.iter().max().copied().unwrap_or(1) * ROW + 40;
    let _ = writeln!(page, "<svg class=\"graph\" width=\"{width}\" height=\"{height}\">");
    let at = |i: usize| (20 + depth[i] * COLUMN, 20 + row[i] * ROW);
    for (i, reads) in inputs.iter().enumerate() {
        for &p in reads {
            let ((x1, y1), (x2, y2)) = (at(p), at(i));
            let on_path = critical.windows(2).any(|pair| pair == [p, i]);
            let _ = writeln!(
                page,
                "<line class=\"edge{}\" x1=\"{}\" y1=\"{}\" x2=\"{x2}\" y2=\"{}\"/>",
                if on_path { " critical" } else { "" },
                x1 + NODE_WIDTH,
                y1 + NODE_HEIGHT / 2,
                y2 + NODE_HEIGHT / 2
            );
        }
    }
    for (i, step) in record.steps.iter().enumerate() {
        let (x, y) = at(i);
        let class = format!("step {}{}", step.status.name(), if critical.contains(&i) { " critical" } else { "" });
        let time = step.duration_ms.filter(|_| step.status != StepStatus::Cached).map(seconds).unwrap_or_default();
        let mut label: String = step.description.chars().take(LABEL_CHARS).collect();
        if step.description.chars().count() > LABEL_CHARS {
            label.push('…');
        }
        let _ = writeln!(
            page,
            "<g class=\"{class}\" data-step=\"{n}\"><title>{full}</title><rect x=\"{x}\" y=\"{y}\" width=\"{NODE_WIDTH}\" height=\"{NODE_HEIGHT}\" rx=\"6\"/><text x=\"{}\" y=\"{}\">#{n} {}</text><text class=\"meta\" x=\"{}\" y=\"{}\">{} {time}{}</text></g>",
            x + 8,
            y + 18,
            escape(&label),
            x + 8,
            y + 36,
            step.status.name(),
            step.location.as_ref().map(|l| format!(" · {}", escape(l))).unwrap_or_default(),
            n = i + 1,
            full = escape(&step.description),
        );
    }
    page.push_str("</svg>\n");
}

/// The timeline: each step that ran as a bar from its start to its end, on the first lane free
/// when it started (lanes are the parallel work the build did at once).
fn timeline(page: &mut String, record: &BuildRecord, critical: &[usize]) {
    let mut ran: Vec<(usize, u64, u64)> = record
        .steps
        .iter()
        .enumerate()
        .filter(|(_, s)| s.status != StepStatus::Cached)
        .filter_map(|(i, s)| Some((i, s.started_ms?, s.duration_ms.unwrap_or(0))))
        .collect();
    ran.sort_by_key(|&(_, start, _)| start);
    let mut lanes: Vec<u64> = Vec::new();
    let mut bars = Vec::new();
    for (i, start, duration) in ran {
        let lane = lanes.iter().position(|&free| free <= start).unwrap_or_else(|| {
            lanes.push(0);
            lanes.len() - 1
        });
        lanes[lane] = start + duration;
        bars.push((i, lane, start, duration));
    }
    let end = record.duration_ms.max(lanes.iter().copied().max().unwrap_or(0)).max(1);
    let width = 1000usize;
    let height = lanes.len().max(1) * 28 + 30;
    let _ = writeln!(page, "<svg class=\"timeline\" width=\"{}\" height=\"{height}\">", width + 80);
    for lane in 0..lanes.len() {
        let _ = writeln!(page, "<text class=\"meta\" x=\"0\" y=\"{}\">lane {}</text>", 18 + lane * 28, lane + 1);
    }
    let scale = |ms: u64| 60 + (ms as f64 / end as f64 * width as f64) as usize;
    for (i, lane, start, duration) in bars {
        let step = &record.steps[i];
        let class = format!("bar {}{}", step.status.name(), if critical.contains(&i) { " critical" } else { "" });
        let (x, w) = (scale(start), (scale(start + duration) - scale(start)).max(2));
        let _ = writeln!(
            page,
            "<rect class=\"{class}\" data-step=\"{}\" x=\"{x}\" y=\"{}\" width=\"{w}\" height=\"20\"><title>#{} {} ({})</title></rect>",
            i + 1,
            4 + lane * 28,
            i + 1,
            escape(&step.description),
            seconds(duration)
        );
    }
    let _ = writeln!(
        page,
        "<text class=\"meta\" x=\"60\" y=\"{}\">0s</text><text class=\"meta\" x=\"{}\" y=\"{}\">{}</text>",
        height - 4,
        width + 20,
        height - 4,
        seconds(end)
    );
    page.push_str("</svg>\n");
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

const STYLE: &str = "body{font-family:sans-serif;margin:24px;color:#222}.scroll{overflow-x:auto}\
table.totals th{text-align:left;padding-right:16px;font-weight:600}\
.step rect{fill:#e9ecef;stroke:#868e96}.step.ran rect{fill:#d0ebff}.step.failed rect{fill:#ffc9c9}\
.step.cancelled rect{fill:#fff3bf}.step.critical rect{stroke:#c92a2a;stroke-width:3}\
.step text{font-family:monospace;font-size:12px}.meta{font-size:11px;fill:#495057}\
.edge{stroke:#adb5bd;stroke-width:1.5}.edge.critical{stroke:#c92a2a;stroke-width:3}\
.bar{fill:#74c0fc}.bar.failed{fill:#ff8787}.bar.critical{stroke:#c92a2a;stroke-width:2}\
.step.highlight rect{fill:#ffec99}";

/// Highlights a step in both views on hover, and says it ran (the browser test reads it).
const SCRIPT: &str = "<script>\n(function(){\n\
var all=document.querySelectorAll('[data-step]');\n\
all.forEach(function(el){el.addEventListener('mouseenter',function(){var n=el.getAttribute('data-step');\
document.querySelectorAll('.step[data-step=\"'+n+'\"]').forEach(function(s){s.classList.add('highlight');});});\
el.addEventListener('mouseleave',function(){document.querySelectorAll('.highlight').forEach(function(s){s.classList.remove('highlight');});});});\n\
document.body.setAttribute('data-steps',String(document.querySelectorAll('g.step').length));\n\
document.body.setAttribute('data-critical',String(document.querySelectorAll('g.step.critical').length));\n\
document.body.setAttribute('data-ready','yes');\n\
})();\n</script>\n";
