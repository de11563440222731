//! The labelled evaluation set: its shape, and a floor under the detector's scores on it.

use super::super::eval::{EvalSet, Split, evaluate};
use super::signals::detector;

const EVAL_SET: &str = include_str!("../../../../../knowledge/eval/moments.yaml");

fn eval_set() -> EvalSet {
    EvalSet::from_yaml(EVAL_SET, "knowledge/eval/moments.yaml").unwrap()
}

/// Diagnosis of the test split's errors, after the final measurement (not for tuning).
#[tokio::test]
#[ignore]
async fn test_errors() {
    print_misses(Split::Test).await;
}

/// Every item of `split` the detector gets wrong, with its decision and message.
async fn print_misses(split: Split) -> super::super::eval::Report {
    let set = eval_set();
    let detector = detector();
    let report = evaluate(&detector, &set).await;
    for o in report.misclassified(Some(split)) {
        let item = set.items.iter().find(|i| i.id == o.id).unwrap();
        println!(
            "{:<8} exp={} {}\n         {:?}",
            o.id,
            o.expected,
            detector.assess_phrases(&item.context),
            item.context.message
        );
    }
    report
}

/// Tuning aid: the dev split only (`cargo test -p warmline-dialog dev_report -- --ignored
/// --nocapture`). The test split stays unseen while tuning.
#[tokio::test]
#[ignore]
async fn dev_report() {
    let report = print_misses(Split::Dev).await;
    let c = report.counts(Some(Split::Dev));
    println!(
        "dev: {c:?} p={:.3} r={:.3} must={:?}",
        c.precision(),
        c.recall(),
        report.must_recall(Some(Split::Dev))
    );
}

#[test]
fn the_set_is_large_balanced_and_both_splits_cover_every_category() {
    let set = eval_set();
    assert!(set.len() >= 330, "{}", set.len());
    let positives = set.items.iter().filter(|i| i.escalate).count();
    let share = positives as f64 / set.len() as f64;
    // The fresh batches are half positives (66 of 130): the share creeps up (0.478 with
    // batch 19).
    assert!((0.35..=0.50).contains(&share), "{share}");
    let dev = set.items.iter().filter(|i| i.split == Split::Dev).count();
    assert!(
        dev * 5 >= set.len() * 2 && dev * 5 <= set.len() * 3,
        "{dev}"
    );
    let mut categories: Vec<&str> = set.items.iter().map(|i| i.category.as_str()).collect();
    categories.sort();
    categories.dedup();
    for cat in categories {
        for split in [Split::Dev, Split::Test] {
            let items = || {
                set.items
                    .iter()
                    .filter(|i| i.category == cat && i.split == split)
            };
            assert!(items().any(|i| !i.escalate), "{cat}/{split}: no negative");
            if cat != "routine" {
                assert!(items().any(|i| i.escalate), "{cat}/{split}: no positive");
            }
        }
    }
}

/// The full report (`cargo test -p warmline-dialog full_report -- --ignored --nocapture`).
#[tokio::test]
#[ignore]
async fn full_report() {
    let report = evaluate(&detector(), &eval_set()).await;
    println!("{report}");
    // The last batch written after the detector was frozen (ids `fz-`), on its own.
    let fresh = super::super::eval::Report {
        outcomes: report
            .outcomes
            .iter()
            .filter(|o| o.id.starts_with("fw-"))
            .cloned()
            .collect(),
    };
    let c = fresh.counts(None);
    println!(
        "fresh batch: {c:?} precision {:.3} recall {:.3} f1 {:.3} must {:?}",
        c.precision(),
        c.recall(),
        c.f1(),
        fresh.must_recall(None)
    );
}

/// A floor a little under the scores measured with phrases only (test: fresh batches 4, 6,
/// 7, 9, 10, 12, 13, 15, 17 and 19 included, precision 0.907, recall 0.712, must-escalate
/// 447/643 = 0.695; dev, batches 5, 8, 11, 14, 16 and 18 included, precision 0.970, recall
/// 0.820; see benches/RESULTS.md): fails when the phrases or the policy regress. With the
/// embedder, meaning lifts them (tests/semantic.rs).
#[tokio::test]
async fn the_detector_holds_its_measured_scores() {
    let report = evaluate(&detector(), &eval_set()).await;
    let test = report.counts(Some(Split::Test));
    let (must, musts) = report.must_recall(Some(Split::Test));
    let shown = || format!("{report}");
    assert!(
        test.precision() >= 0.90,
        "test precision {:.3}\n{}",
        test.precision(),
        shown()
    );
    assert!(
        test.recall() >= 0.70,
        "test recall {:.3}\n{}",
        test.recall(),
        shown()
    );
    assert!(
        must as f64 >= 0.68 * musts as f64,
        "test must-escalate {must}/{musts}\n{}",
        shown()
    );
    let dev = report.counts(Some(Split::Dev));
    assert!(
        dev.precision() >= 0.96 && dev.recall() >= 0.81,
        "dev {dev:?}\n{}",
        shown()
    );
    // Escalated positives escalate for the reason their label expects, all but a few: a VIP
    // or gold customer's lower threshold, or a failed journey step, can hand over a message
    // whose topic no phrase caught (fs-03, fs-58, fs-75), which is right, but for
    // another reason.
    let (hit, tps) = report.reason_hits(None);
    assert!(hit * 100 >= tps * 99, "reasons {hit}/{tps}\n{}", shown());
}
