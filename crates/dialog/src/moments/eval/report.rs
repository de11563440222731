//! Scores of an evaluation run, and a terminal table of them.

use super::Split;
use std::collections::BTreeMap;
use std::fmt;

/// What the detector did with one item.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub id: String,
    pub split: Split,
    pub category: String,
    /// The label.
    pub expected: bool,
    pub must: bool,
    /// The decision.
    pub escalated: bool,
    /// For positives: whether the expected reason fired.
    pub reason_fired: bool,
    /// Whether the route matched the expected one (true when none was expected).
    pub route_ok: bool,
    /// Reason codes that fired.
    pub reasons: Vec<String>,
    /// The same, each with how it fired ("high_stakes:fraud (similar to an example (0.71))").
    pub explained: Vec<String>,
}

impl Outcome {
    pub fn correct(&self) -> bool {
        self.expected == self.escalated
    }
}

/// A confusion matrix: escalations right and wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    pub tp: usize,
    pub fp: usize,
    pub fn_: usize,
    pub tn: usize,
}

impl Counts {
    fn add(&mut self, o: &Outcome) {
        match (o.expected, o.escalated) {
            (true, true) => self.tp += 1,
            (false, true) => self.fp += 1,
            (true, false) => self.fn_ += 1,
            (false, false) => self.tn += 1,
        }
    }

    pub fn total(&self) -> usize {
        self.tp + self.fp + self.fn_ + self.tn
    }

    /// Share of escalations that were right (1 when there were none).
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// Share of the items to escalate that were (1 when there were none).
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    pub fn f1(&self) -> f64 {
        let (p, r) = (self.precision(), self.recall());
        if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        }
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

/// The outcomes of a run, with scores by split, category and must-escalate.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub outcomes: Vec<Outcome>,
}

impl Report {
    fn select(&self, split: Option<Split>) -> impl Iterator<Item = &Outcome> {
        self.outcomes
            .iter()
            .filter(move |o| split.is_none_or(|s| o.split == s))
    }

    /// The confusion matrix of one split (`None`: all items).
    pub fn counts(&self, split: Option<Split>) -> Counts {
        let mut c = Counts::default();
        self.select(split).for_each(|o| c.add(o));
        c
    }

    /// Categories holding must-escalate items (explicit asks, fraud, safety...).
    pub fn must_categories(&self) -> Vec<String> {
        let mut cats: Vec<String> = self
            .outcomes
            .iter()
            .filter(|o| o.must)
            .map(|o| o.category.clone())
            .collect();
        cats.sort();
        cats.dedup();
        cats
    }

    /// The confusion matrix over the must-escalate categories (their hard negatives
    /// included, so precision means something).
    pub fn must_counts(&self, split: Option<Split>) -> Counts {
        let cats = self.must_categories();
        let mut c = Counts::default();
        self.select(split)
            .filter(|o| cats.contains(&o.category))
            .for_each(|o| c.add(o));
        c
    }

    /// Recall on the must-escalate items alone: (escalated, total).
    pub fn must_recall(&self, split: Option<Split>) -> (usize, usize) {
        let must: Vec<&Outcome> = self.select(split).filter(|o| o.must).collect();
        (must.iter().filter(|o| o.escalated).count(), must.len())
    }

    /// Among escalated positives, how many had the expected reason fire: (fired, total).
    pub fn reason_hits(&self, split: Option<Split>) -> (usize, usize) {
        let tp: Vec<&Outcome> = self
            .select(split)
            .filter(|o| o.expected && o.escalated)
            .collect();
        (tp.iter().filter(|o| o.reason_fired).count(), tp.len())
    }

    /// Per category confusion matrices of one split.
    pub fn by_category(&self, split: Option<Split>) -> BTreeMap<String, Counts> {
        let mut map: BTreeMap<String, Counts> = BTreeMap::new();
        self.select(split)
            .for_each(|o| map.entry(o.category.clone()).or_default().add(o));
        map
    }

    /// Items the detector got wrong (or sent the wrong way), in set order.
    pub fn misclassified(&self, split: Option<Split>) -> Vec<&Outcome> {
        self.select(split)
            .filter(|o| !o.correct() || (o.escalated && !o.route_ok))
            .collect()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let splits = [
            (Some(Split::Dev), "dev"),
            (Some(Split::Test), "test"),
            (None, "all"),
        ];
        writeln!(
            f,
            "moment-of-truth evaluation: {} items",
            self.outcomes.len()
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "{:<6} {:>5} {:>4} {:>4} {:>4} {:>4}  {:>9} {:>6} {:>5}  {:>11}  {:>9}",
            "split",
            "items",
            "tp",
            "fp",
            "fn",
            "tn",
            "precision",
            "recall",
            "f1",
            "must recall",
            "reason ok"
        )?;
        for (split, name) in splits {
            let c = self.counts(split);
            let (must, musts) = self.must_recall(split);
            let (hit, tps) = self.reason_hits(split);
            writeln!(
                f,
                "{name:<6} {:>5} {:>4} {:>4} {:>4} {:>4}  {:>9.3} {:>6.3} {:>5.3}  {:>11}  {:>9}",
                c.total(),
                c.tp,
                c.fp,
                c.fn_,
                c.tn,
                c.precision(),
                c.recall(),
                c.f1(),
                format!("{must}/{musts} {:.3}", ratio(must, musts)),
                format!("{hit}/{tps}")
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "must-escalate categories ({}), hard negatives included:",
            self.must_categories().join(", ")
        )?;
        for (split, name) in splits {
            let c = self.must_counts(split);
            writeln!(
                f,
                "{name:<6} {:>5} {:>4} {:>4} {:>4} {:>4}  {:>9.3} {:>6.3} {:>5.3}",
                c.total(),
                c.tp,
                c.fp,
                c.fn_,
                c.tn,
                c.precision(),
                c.recall(),
                c.f1()
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "{:<20} {:>17}   {:>17}",
            "category", "dev tp/fp/fn/tn", "test tp/fp/fn/tn"
        )?;
        let (dev, test) = (
            self.by_category(Some(Split::Dev)),
            self.by_category(Some(Split::Test)),
        );
        let cell = |c: Option<&Counts>| {
            c.map_or("-".into(), |c| {
                format!("{}/{}/{}/{}", c.tp, c.fp, c.fn_, c.tn)
            })
        };
        let mut cats: Vec<&String> = dev.keys().chain(test.keys()).collect();
        cats.sort();
        cats.dedup();
        for cat in cats {
            writeln!(
                f,
                "{cat:<20} {:>17}   {:>17}",
                cell(dev.get(cat)),
                cell(test.get(cat))
            )?;
        }
        for (split, name) in &splits[..2] {
            let wrong = self.misclassified(*split);
            writeln!(f)?;
            writeln!(f, "misclassified ({name}): {}", wrong.len())?;
            for o in wrong {
                let what = match (o.expected, o.escalated) {
                    (true, false) => "missed",
                    (false, true) => "false alarm",
                    _ => "wrong route",
                };
                writeln!(
                    f,
                    "  {:<8} {:<20} {:<12} [{}]",
                    o.id,
                    o.category,
                    what,
                    o.explained.join(", ")
                )?;
            }
        }
        Ok(())
    }
}
