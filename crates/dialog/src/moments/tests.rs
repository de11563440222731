use super::eval::{EvalSet, Split, evaluate};
use super::*;

const EVAL_SET: &str = include_str!("../../../../knowledge/eval/moments.yaml");

fn eval_set() -> EvalSet {
    EvalSet::from_yaml(EVAL_SET, "knowledge/eval/moments.yaml").unwrap()
}

/// Tuning aid: the dev split only (`cargo test -p warmline-dialog dev_report -- --ignored
/// --nocapture`). The test split stays unseen while tuning.
#[tokio::test]
#[ignore]
async fn dev_report() {
    let detector = Detector::new(Policy::default(), None);
    let report = evaluate(&detector, &eval_set()).await;
    let c = report.counts(Some(Split::Dev));
    println!("dev: {c:?} p={:.3} r={:.3} must={:?}", c.precision(), c.recall(), report.must_recall(Some(Split::Dev)));
    let set = eval_set();
    for o in report.misclassified(Some(Split::Dev)) {
        let item = set.items.iter().find(|i| i.id == o.id).unwrap();
        let d = detector.assess(&item.context).await;
        println!("{:<8} exp={} {d}\n         {:?}", o.id, o.expected, item.context.message);
    }
}
