//! Retrieval over a generated 10,000-article knowledge base: indexing throughput (passages/s)
//! and query latency (search alone, and search + extractive answer).
//!
//! Run: `cargo bench --bench retrieval` (results in target/criterion; figures in RESULTS.md).

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use std::path::PathBuf;
use std::time::Duration;
use warmline_dialog::ComposerConfig;
use warmline_dialog::compose::compose;
use warmline_domain::{Audience, Channel, SearchQuery};
use warmline_retrieval::{Article, KnowledgeIndex, Loaded, Status};

const ARTICLES: usize = 10_000;

/// Words of a retail help centre, so generated passages share the sample's vocabulary.
const TOPICS: &[&str] = &[
    "order",
    "delivery",
    "parcel",
    "refund",
    "return",
    "receipt",
    "exchange",
    "warranty",
    "repair",
    "card",
    "payment",
    "statement",
    "interest",
    "fee",
    "password",
    "account",
    "security",
    "fraud",
    "phishing",
    "store",
    "hours",
    "holiday",
    "pickup",
    "shipping",
    "express",
    "tracking",
    "address",
    "membership",
    "renewal",
    "cancel",
    "subscription",
    "points",
    "gift",
    "voucher",
    "price",
    "promo",
    "invoice",
    "currency",
    "limit",
    "dispute",
];
const FILLER: &[&str] = &[
    "you",
    "can",
    "the",
    "within",
    "days",
    "after",
    "we",
    "your",
    "will",
    "our",
    "team",
    "online",
    "in",
    "business",
    "usually",
    "email",
    "app",
    "request",
    "check",
    "help",
    "customers",
    "most",
    "items",
    "please",
    "before",
    "and",
    "a",
    "to",
    "of",
    "is",
];

/// A tiny deterministic generator: the same knowledge base on every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 as usize
    }
    fn pick<'a>(&mut self, words: &[&'a str]) -> &'a str {
        words[self.next() % words.len()]
    }
}

fn sentence(rng: &mut Rng) -> String {
    let len = 8 + rng.next() % 12;
    let mut words: Vec<String> = (0..len)
        .map(|i| {
            if i % 3 == 0 {
                rng.pick(TOPICS).to_owned()
            } else {
                rng.pick(FILLER).to_owned()
            }
        })
        .collect();
    words.push(format!("{}", rng.next() % 90 + 1));
    let mut s = words.join(" ");
    s.push('.');
    s
}

fn generated() -> Vec<Article> {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    (0..ARTICLES)
        .map(|i| {
            let title = format!("{} {} {}", rng.pick(TOPICS), rng.pick(TOPICS), i);
            let mut body = format!("{} {}\n", sentence(&mut rng), sentence(&mut rng));
            for _ in 0..4 {
                body.push_str(&format!(
                    "\n## {} and {}\n\n{} {} {}\n",
                    rng.pick(TOPICS),
                    rng.pick(TOPICS),
                    sentence(&mut rng),
                    sentence(&mut rng),
                    sentence(&mut rng)
                ));
            }
            Article {
                id: format!("article-{i}"),
                title,
                tags: vec![rng.pick(TOPICS).to_owned()],
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

fn loaded(articles: &[Article]) -> Loaded {
    Loaded {
        articles: articles.to_vec(),
        problems: Vec::new(),
    }
}

const QUESTIONS: &[&str] = &[
    "how long does a refund take to my card",
    "where is my parcel tracking",
    "store hours on holiday",
    "reset my password account locked",
    "cancel membership renewal",
    "refnud for a retrun without receipt",
    "express shipping price",
    "dispute a fee on my statement",
    "gift voucher expiry",
    "change delivery address",
];

fn bench(c: &mut Criterion) {
    let articles = generated();
    let index = KnowledgeIndex::in_ram("").unwrap();
    let report = index.sync(loaded(&articles), &mut |_, _| {}).unwrap();
    let passages = report.passages as u64;

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
                let q = SearchQuery::customer(QUESTIONS[n % QUESTIONS.len()], Channel::Web, 5);
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
                let q = SearchQuery::customer(QUESTIONS[n % QUESTIONS.len()], Channel::Web, 5);
                let result = index.search(&q).unwrap();
                compose(&result, &|t: &str| index.analyze(t), &config)
            })
        },
    );
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
