//! The summary as CSV (`/v1/insights/export.csv`): one row per figure, with its
//! denominator, then the survey comments verbatim.

use super::summary::{Ratio, Summary};
use std::fmt::Write as _;

/// One CSV field: quoted when needed; a leading `= + - @` is defused so a spreadsheet never
/// runs a customer's comment as a formula.
fn field(value: &str) -> String {
    let value = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

fn number(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.4}")).unwrap_or_default()
}

struct Rows(String);

impl Rows {
    fn row(&mut self, metric: &str, key: &str, value: &str, denominator: &str) {
        let _ = writeln!(
            self.0,
            "{},{},{},{}",
            field(metric),
            field(key),
            field(value),
            field(denominator)
        );
    }

    fn ratio(&mut self, metric: &str, key: &str, r: &Ratio) {
        self.row(
            metric,
            key,
            &r.count.to_string(),
            &r.denominator.to_string(),
        );
    }
}

/// `metric,key,value,denominator` rows.
pub fn csv(s: &Summary) -> String {
    let mut out = Rows(String::from("metric,key,value,denominator\n"));
    let total = s.conversations.to_string();
    out.row("window", "since", &s.since.to_string(), "");
    out.row("window", "until", &s.until.to_string(), "");
    for r in &s.by_day_channel {
        out.row(
            "conversations",
            &format!("{} {}", r.day, r.channel),
            &r.conversations.to_string(),
            &total,
        );
    }
    out.ratio("bot_resolved", "", &s.bot_resolved);
    out.ratio("handed_off", "", &s.handed_off);
    out.ratio(
        "durable_resolution",
        &format!("{} days", s.durable.days),
        &s.durable.durable,
    );
    out.row(
        "durable_resolution",
        "pending",
        &s.durable.pending.to_string(),
        "",
    );
    for r in &s.handoff_reasons {
        out.row(
            "handoff_reasons",
            &r.reason,
            &r.handoffs.to_string(),
            &s.handoffs.to_string(),
        );
    }
    out.row(
        "median_wait_seconds",
        "",
        &number(s.wait.median_seconds),
        &s.wait.accepted.to_string(),
    );
    let surveys = s.csat.satisfied.denominator.to_string();
    out.row("csat_average", "", &number(s.csat.average), &surveys);
    out.ratio("csat_satisfied", "4 or 5", &s.csat.satisfied);
    for d in &s.csat.by_day {
        out.row(
            "csat_by_day",
            &d.day,
            &format!("{:.4}", d.average),
            &d.surveys.to_string(),
        );
    }
    let replies = s.support.replies.to_string();
    out.row("support_mean", "", &number(s.support.mean), &replies);
    out.row("support_median", "", &number(s.support.median), &replies);
    out.ratio("support_answered", "", &s.support.answered);
    for (i, n) in s.support.buckets.iter().enumerate() {
        let key = format!("{:.2}-{:.2}", i as f64 / 4.0, (i + 1) as f64 / 4.0);
        out.row("support_bucket", &key, &n.to_string(), &replies);
    }
    out.ratio("helpful", "", &s.helpfulness);
    for a in &s.articles {
        out.row(
            "article_helpful",
            &a.article_id,
            &a.helpful.to_string(),
            &a.rated.to_string(),
        );
    }
    out.row(
        "content_gap_groups_open",
        "",
        &s.gap_groups_open.to_string(),
        "",
    );
    for g in &s.top_gaps {
        let title = g.samples.first().map(|q| q.question.as_str()).unwrap_or("");
        out.row(
            "content_gap",
            &format!("{} {title}", g.id),
            &g.count.to_string(),
            "",
        );
    }
    for c in &s.csat.comments {
        out.row(
            "survey_comment",
            &format!("{} score {}", c.at, c.score),
            c.comment.as_deref().unwrap_or(""),
            "",
        );
    }
    out.0
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn fields_are_quoted_and_formulas_defused() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a, b"), "\"a, b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(1)"), "'=HYPERLINK(1)");
    }
}
