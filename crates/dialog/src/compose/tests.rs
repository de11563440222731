use super::*;
use warmline_domain::QueryTerm;

/// Lowercase words longer than two letters, no stemming: enough to test selection.
#[allow(non_upper_case_globals)]
const Words: &dyn Fn(&str) -> Vec<String> = &|text: &str| {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() > 2)
        .map(str::to_lowercase)
        .collect()
};

fn term(t: &str, idf: f32, known: bool) -> QueryTerm {
    QueryTerm {
        original: t.into(),
        term: t.into(),
        idf,
        known,
    }
}

fn hit(id: &str, heading: &str, text: &str, score: f32) -> SearchHit {
    SearchHit {
        article_id: id.into(),
        title: format!("Title of {id}"),
        heading: heading.into(),
        url: format!("/kb/{id}"),
        text: text.into(),
        snippet: String::new(),
        score,
        position: 0,
        similarity: None,
    }
}

const REFUNDS: &str = "How quickly you see your money depends on how you paid.\n\
- Card: refunds to a card take 3-5 business days to appear after we issue them.\n\
- Gift card: refunds to a gift card arrive within 24 hours, or immediately in store when you return an item at the register.\n\
If your refund is late, call us.";

#[test]
fn answers_with_the_sentence_that_covers_the_question_and_cites_it() {
    let result = SearchResult {
        hits: vec![hit("refund-timing", "Step 3", REFUNDS, 9.0)],
        terms: vec![
            term("refunds", 2.0, true),
            term("card", 1.0, true),
            term("days", 1.0, true),
        ],
        embedding: None,
    };
    let reply = compose(&result, Words, &ComposerConfig::default());
    assert_eq!(reply.kind, ReplyKind::Answer);
    assert!(
        reply
            .text
            .starts_with("Card: refunds to a card take 3-5 business days"),
        "{}",
        reply.text
    );
    assert!(reply.text.ends_with("[1]"));
    assert!(
        !reply.text.contains("call us"),
        "irrelevant sentences are left out"
    );
    assert_eq!(reply.citations.len(), 1);
    assert_eq!(reply.citations[0].article_id, "refund-timing");
    assert!(REFUNDS.contains(&reply.citations[0].passage[6..40]));
    assert!(reply.support > 0.99);
}

#[test]
fn every_answer_sentence_is_quoted_from_the_passage() {
    let result = SearchResult {
        hits: vec![hit("refund-timing", "", REFUNDS, 9.0)],
        terms: vec![term("refund", 1.0, true), term("gift", 1.0, true)],
        embedding: None,
    };
    let reply = compose(&result, Words, &ComposerConfig::default());
    let body = reply.text.trim_end_matches(" [1]");
    for sentence in body.split(". ") {
        let probe = sentence.trim_end_matches('.');
        assert!(
            REFUNDS.contains(&probe[1..]),
            "{probe:?} is not in the passage"
        );
    }
}

#[test]
fn short_lists_are_quoted_whole_with_their_lead_in() {
    let text = "To return by mail:\n- Sign in.\n- Choose the item.\n- Print the label.\nLabels cost $5.99.";
    let result = SearchResult {
        hits: vec![hit("return-by-mail", "Steps", text, 5.0)],
        terms: vec![term("return", 1.0, true), term("mail", 1.0, true)],
        embedding: None,
    };
    let reply = compose(&result, Words, &ComposerConfig::default());
    assert!(
        reply
            .text
            .starts_with("To return by mail: Sign in. Choose the item. Print the label."),
        "{}",
        reply.text
    );
}

#[test]
fn low_coverage_is_an_honest_no_answer_offering_a_person() {
    let result = SearchResult {
        hits: vec![hit("shipping", "", "We ship to the US and Canada.", 3.0)],
        terms: vec![
            term("ship", 1.0, true),
            term("bitcoin", 4.0, false),
            term("pay", 1.0, true),
        ],
        embedding: None,
    };
    let reply = compose(&result, Words, &ComposerConfig::default());
    assert_eq!(reply.kind, ReplyKind::NoAnswer);
    assert_eq!(reply.text, NO_ANSWER);
    assert!(reply.citations.is_empty());
    assert_eq!(reply.suggestions, [TALK_TO_A_PERSON]);
    assert!(reply.support < 0.5);
}

#[test]
fn no_hits_or_no_terms_never_invent_an_answer() {
    let nothing = SearchResult {
        hits: vec![],
        terms: vec![term("weather", 4.0, false)],
        embedding: None,
    };
    assert_eq!(
        compose(&nothing, Words, &ComposerConfig::default()).text,
        NO_ANSWER
    );
    let empty = SearchResult::default();
    let reply = compose(&empty, Words, &ComposerConfig::default());
    assert_eq!(reply.kind, ReplyKind::NoAnswer);
    assert_eq!(reply.text, NEED_MORE);
}

#[test]
fn a_match_on_the_heading_only_quotes_the_opening_of_the_section() {
    let result = SearchResult {
        hits: vec![hit(
            "store-hours",
            "Opening hours",
            "We are open 9 am to 9 pm.\nSundays 10 to 6.\nHolidays vary.",
            4.0,
        )],
        terms: vec![term("opening", 1.0, true), term("hours", 1.0, true)],
        embedding: None,
    };
    let reply = compose(&result, Words, &ComposerConfig::default());
    assert_eq!(reply.text, "We are open 9 am to 9 pm. Sundays 10 to 6. [1]");
}

#[test]
fn similarity_counts_as_support_only_when_configured() {
    let mut lost = hit(
        "lost-parcel",
        "",
        "If your parcel hasn't arrived 2 days after its expected date, tell us and we'll send a replacement.",
        3.0,
    );
    lost.similarity = Some(0.8);
    let result = SearchResult {
        hits: vec![lost],
        // "my package never showed up": words the passage doesn't use.
        terms: vec![term("packag", 2.0, true), term("show", 1.0, true)],
        embedding: None,
    };
    let default = compose(&result, Words, &ComposerConfig::default());
    assert_eq!(default.kind, ReplyKind::NoAnswer);
    let trusting = ComposerConfig {
        min_similarity: 0.75,
        ..ComposerConfig::default()
    };
    let reply = compose(&result, Words, &trusting);
    assert_eq!(reply.kind, ReplyKind::Answer);
    assert_eq!(reply.citations[0].article_id, "lost-parcel");
}
