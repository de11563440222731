//! Retrieval over a generated 10,000-article knowledge base (built from the sample's own
//! sections, so its vocabulary is a real help centre's): indexing throughput (passages/s) and
//! query latency for the sample's evaluation questions (search alone, and search + answer).
//!
//! Run: `cargo bench --bench retrieval` (results in target/criterion; figures in RESULTS.md).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use warmline_dialog::ComposerConfig;
use warmline_dialog::compose::compose;
use warmline_domain::{Audience, Channel, SearchQuery};
use warmline_retrieval::chunk::chunk;
use warmline_retrieval::{Article, KnowledgeIndex, Loaded, Status, load_dir};

const ARTICLES: usize = 10_000;

/// A tiny deterministic generator: the same knowledge base on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 as usize
    }
}

fn sample_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("knowledge")
}

/// 10,000 articles with the sample knowledge base's vocabulary and style: each section of a
/// generated article is made of sentences drawn from the sample's sections, plus a term of
/// its own (a product line), so term statistics look like a large real help centre's.
fn generated() -> Vec<Article> {
    let sample = load_dir(&sample_dir()).expect("the sample knowledge base loads");
    let sections: Vec<(String, Vec<String>)> = sample
        .articles
        .iter()
        .flat_map(|a| chunk(&a.title, &a.body))
        .map(|p| (p.heading, p.text.lines().map(str::to_owned).collect()))
        .filter(|(h, lines): &(String, Vec<String>)| !h.is_empty() && !lines.is_empty())
        .collect();
    let titles: Vec<&str> = sample.articles.iter().map(|a| a.title.as_str()).collect();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..ARTICLES)
        .map(|i| {
            let product = format!("line{}", i % 997);
            let mut body = String::new();
            for _ in 0..4 {
                let (heading, lines) = &sections[rng.next() % sections.len()];
                body.push_str(&format!("\n## {heading}\n\n"));
                for _ in 0..3 {
                    body.push_str(&lines[rng.next() % lines.len()]);
                    body.push('\n');
                }
                body.push_str(&format!("This applies to the {product} range.\n"));
            }
            Article {
                id: format!("article-{i}"),
                title: format!("{} ({product})", titles[rng.next() % titles.len()]),
                tags: vec![product.clone()],
                locale: "en".into(),
                audience: Audience::Customer,
                channels: Vec::new(),
                status: Status::Published,
                updated: None,
                url: None,
                body,
                source: PathBuf::from(format!("articles/article-{i}.md")),
                content_hash: format!("{i}"),
            }
        })
        .collect()
}

/// The sample's evaluation questions: how customers really ask (typos included).
fn questions() -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Eval {
        answerable: Vec<Case>,
        unanswerable: Vec<String>,
    }
    #[derive(serde::Deserialize)]
    struct Case {
        q: String,
    }
    let text = std::fs::read_to_string(sample_dir().join("eval/questions.yaml")).unwrap();
    let eval: Eval = serde_saphyr::from_str(&text).unwrap();
    eval.answerable
        .into_iter()
        .map(|c| c.q)
        .chain(eval.unanswerable)
        .collect()
}

/// Latency percentiles over every question, a few rounds each (criterion reports means).
fn percentiles(index: &KnowledgeIndex, questions: &[String]) {
    let mut times: Vec<Duration> = Vec::new();
    for _ in 0..5 {
        for q in questions {
            let query = SearchQuery::customer(q.as_str(), Channel::Web, 5);
            let started = Instant::now();
            std::hint::black_box(index.search(&query).unwrap());
            times.push(started.elapsed());
        }
    }
    times.sort();
    let at = |p: f64| times[((times.len() - 1) as f64 * p) as usize];
    eprintln!(
        "search latency over {} queries on {} passages: p50 {:?}, p90 {:?}, p99 {:?}, max {:?}",
        times.len(),
        index.passage_count(),
        at(0.50),
        at(0.90),
        at(0.99),
        times[times.len() - 1]
    );
}

fn loaded(articles: &[Article]) -> Loaded {
    Loaded {
        articles: articles.to_vec(),
        problems: Vec::new(),
    }
}

fn bench(c: &mut Criterion) {
    let articles = generated();
    let questions = questions();
    let index = KnowledgeIndex::in_ram("").unwrap();
    let report = index.sync(loaded(&articles), &mut |_, _| {}).unwrap();
    let passages = report.passages as u64;
    percentiles(&index, &questions);
    let sample = KnowledgeIndex::in_ram("").unwrap();
    sample
        .sync(load_dir(&sample_dir()).unwrap(), &mut |_, _| {})
        .unwrap();
    percentiles(&sample, &questions);

    let mut group = c.benchmark_group("index");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(30));
    group.throughput(Throughput::Elements(passages));
    group.bench_function(
        BenchmarkId::new("build", format!("{ARTICLES}_articles")),
        |b| {
            b.iter(|| {
                let fresh = KnowledgeIndex::in_ram("").unwrap();
                fresh.sync(loaded(&articles), &mut |_, _| {}).unwrap()
            })
        },
    );
    group.finish();

    let mut group = c.benchmark_group("query");
    let mut n = 0;
    group.bench_function(
        BenchmarkId::new("search", format!("{ARTICLES}_articles")),
        |b| {
            b.iter(|| {
                n += 1;
                let q =
                    SearchQuery::customer(questions[n % questions.len()].as_str(), Channel::Web, 5);
                index.search(&q).unwrap()
            })
        },
    );
    let config = ComposerConfig::default();
    group.bench_function(
        BenchmarkId::new("answer", format!("{ARTICLES}_articles")),
        |b| {
            b.iter(|| {
                n += 1;
                let q =
                    SearchQuery::customer(questions[n % questions.len()].as_str(), Channel::Web, 5);
                let result = index.search(&q).unwrap();
                compose(&result, &|t: &str| index.analyze(t), &config)
            })
        },
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
