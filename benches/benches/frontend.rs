//! Front-end throughput: parse + lower of the real-world corpus and of a generated
//! 1,000-stage Dockerfile. Figures go into BENCHMARKS.md.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use gb_dockerfile::{LowerOptions, NoImages};

fn corpus(c: &mut Criterion) {
    let files = gb_benches::real_world_corpus();
    let bytes: usize = files.iter().map(|(_, text)| text.len()).sum();
    let mut group = c.benchmark_group("real-world corpus");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function("parse", |b| {
        b.iter(|| {
            for (_, text) in &files {
                let _ = std::hint::black_box(gb_dockerfile::parser::parse(text));
            }
        })
    });
    group.bench_function("parse+lower", |b| {
        b.iter(|| {
            for (_, text) in &files {
                let _ = std::hint::black_box(gb_dockerfile::lower(text, &LowerOptions::default(), &NoImages));
            }
        })
    });
    group.finish();
}

fn many_stages(c: &mut Criterion) {
    let text = gb_benches::many_stages(1000);
    let mut group = c.benchmark_group("1000 stages");
    group.throughput(Throughput::Bytes(text.len() as u64));
    group.sample_size(10);
    group.bench_function("parse", |b| b.iter(|| std::hint::black_box(gb_dockerfile::parser::parse(&text))));
    group.bench_function("parse+lower", |b| {
        b.iter(|| std::hint::black_box(gb_dockerfile::lower(&text, &LowerOptions::default(), &NoImages)))
    });
    group.finish();
}

criterion_group!(benches, corpus, many_stages);
criterion_main!(benches);
