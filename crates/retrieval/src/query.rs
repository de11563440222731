//! From a customer's question to a tantivy query: analysis, spelling correction, weights,
//! field boosts, phrase boosts and the audience/channel/locale/status filter.

use crate::schema::Fields;
use levenshtein_automata::{DFA, Distance, LevenshteinAutomatonBuilder, SINK_STATE};
use std::collections::HashMap;
use tantivy::query::{
    BooleanQuery, BoostQuery, ConstScoreQuery, Occur, PhraseQuery, Query, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Searcher, Term};
use warmline_domain::{Audience, QueryTerm, SearchQuery};

/// Field boosts: a match in a title says more than one in a long body.
const TITLE_BOOST: f32 = 3.0;
const HEADING_BOOST: f32 = 2.0;
const TAGS_BOOST: f32 = 1.5;
/// Two question words next to each other in a passage ("credit limit") count extra.
const PHRASE_BOOST: f32 = 1.5;
/// Shortest typed word that spelling correction may change.
const MIN_CORRECTED_LEN: usize = 6;

/// One token of the question: its position in the text and its index term.
struct Token {
    original: String,
    term: String,
}

/// Spelling correction over the index's own vocabulary.
pub(crate) struct Speller {
    one: LevenshteinAutomatonBuilder,
    two: LevenshteinAutomatonBuilder,
}

impl Speller {
    pub(crate) fn new() -> Self {
        Self {
            one: LevenshteinAutomatonBuilder::new(1, true),
            two: LevenshteinAutomatonBuilder::new(2, true),
        }
    }

    /// The most frequent indexed term closest to `term`, if one is within 1 edit (2 for
    /// words of 8 letters or more). Words typed with fewer than 6 letters are never
    /// corrected: they have too many real neighbours ("tall" is not a typo of "call").
    fn correct(
        &self,
        searcher: &Searcher,
        field: Field,
        typed: &str,
        term: &str,
    ) -> Option<(String, u64)> {
        let len = term.chars().count();
        if typed.chars().count() < MIN_CORRECTED_LEN {
            return None;
        }
        let dfa = if len >= 8 { &self.two } else { &self.one }.build_dfa(term);
        // Candidates with their distance and document frequency summed over segments.
        let mut found: HashMap<String, (u8, u64)> = HashMap::new();
        for segment in searcher.segment_readers() {
            let Ok(inverted) = segment.inverted_index(field) else {
                continue;
            };
            let Ok(mut stream) = inverted.terms().search(Lev(&dfa)).into_stream() else {
                continue;
            };
            while stream.advance() {
                let Ok(candidate) = std::str::from_utf8(stream.key()) else {
                    continue;
                };
                let Distance::Exact(d) = dfa.eval(candidate) else {
                    continue;
                };
                let entry = found.entry(candidate.to_owned()).or_insert((d, 0));
                entry.1 += u64::from(stream.value().doc_freq);
            }
        }
        found
            .into_iter()
            .min_by(|(ta, (da, fa)), (tb, (db, fb))| da.cmp(db).then(fb.cmp(fa)).then(ta.cmp(tb)))
            .map(|(t, (_, df))| (t, df))
    }
}

/// Adapts a Levenshtein DFA to the FST automaton interface of tantivy's term dictionary.
struct Lev<'a>(&'a DFA);

impl tantivy_fst::Automaton for Lev<'_> {
    type State = u32;

    fn start(&self) -> u32 {
        self.0.initial_state()
    }

    fn is_match(&self, state: &u32) -> bool {
        matches!(self.0.distance(*state), Distance::Exact(_))
    }

    fn can_match(&self, state: &u32) -> bool {
        *state != SINK_STATE
    }

    fn accept(&self, state: &u32, byte: u8) -> u32 {
        self.0.transition(*state, byte)
    }
}

fn tokens(analyzer: &mut TextAnalyzer, text: &str) -> Vec<Token> {
    let mut stream = analyzer.token_stream(text);
    let mut out = Vec::new();
    while let Some(t) = stream.next() {
        let original = text
            .get(t.offset_from..t.offset_to)
            .unwrap_or(&t.text)
            .to_lowercase();
        out.push(Token {
            original,
            term: t.text.clone(),
        });
    }
    out
}

/// The stems of `text`, as the index sees them.
pub(crate) fn analyze(analyzer: &mut TextAnalyzer, text: &str) -> Vec<String> {
    tokens(analyzer, text).into_iter().map(|t| t.term).collect()
}

/// BM25's idf over passages.
fn idf(num_docs: u64, doc_freq: u64) -> f32 {
    let n = num_docs as f32;
    let df = doc_freq as f32;
    (1.0 + (n - df + 0.5) / (df + 0.5)).ln()
}

/// Analyses the question: one entry per distinct term, in question order, corrected where
/// the knowledge base doesn't know the word but knows a close one.
pub(crate) fn analyse_question(
    analyzer: &mut TextAnalyzer,
    speller: &Speller,
    searcher: &Searcher,
    fields: &Fields,
    text: &str,
) -> Vec<QueryTerm> {
    let num_docs = searcher.num_docs();
    let mut terms: Vec<QueryTerm> = Vec::new();
    for token in tokens(analyzer, text) {
        let doc_freq = searcher
            .doc_freq(&Term::from_field_text(fields.all, &token.term))
            .unwrap_or(0);
        let (term, doc_freq) = if doc_freq > 0 {
            (token.term, doc_freq)
        } else {
            speller
                .correct(searcher, fields.all, &token.original, &token.term)
                .unwrap_or((token.term, 0))
        };
        if terms.iter().any(|t| t.term == term) {
            continue;
        }
        terms.push(QueryTerm {
            original: token.original,
            idf: idf(num_docs, doc_freq),
            known: doc_freq > 0,
            term,
        });
    }
    terms
}

fn boosted(query: Box<dyn Query>, boost: f32) -> Box<dyn Query> {
    Box::new(BoostQuery::new(query, boost))
}

fn term_query(field: Field, text: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(
        Term::from_field_text(field, text),
        IndexRecordOption::WithFreqs,
    ))
}

/// `field` equals one of `values`.
fn any_of(field: Field, values: &[&str]) -> Box<dyn Query> {
    Box::new(BooleanQuery::new(
        values
            .iter()
            .map(|v| (Occur::Should, term_query(field, v)))
            .collect(),
    ))
}

/// The scoring part: known terms in each field with boosts, plus adjacent-pair phrases.
/// `None` when the question has no term the knowledge base knows.
pub(crate) fn build(
    fields: &Fields,
    terms: &[QueryTerm],
    query: &SearchQuery,
) -> Option<Box<dyn Query>> {
    let known: Vec<&QueryTerm> = terms.iter().filter(|t| t.known).collect();
    if known.is_empty() {
        return None;
    }
    let mut should: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for t in &known {
        for (field, boost) in [
            (fields.title, TITLE_BOOST),
            (fields.heading, HEADING_BOOST),
            (fields.body, 1.0),
            (fields.tags, TAGS_BOOST),
        ] {
            should.push((Occur::Should, boosted(term_query(field, &t.term), boost)));
        }
    }
    for pair in known.windows(2) {
        for field in [fields.title, fields.body] {
            let mut phrase = PhraseQuery::new(vec![
                Term::from_field_text(field, &pair[0].term),
                Term::from_field_text(field, &pair[1].term),
            ]);
            phrase.set_slop(1);
            should.push((Occur::Should, boosted(Box::new(phrase), PHRASE_BOOST)));
        }
    }
    let scoring: Box<dyn Query> = Box::new(BooleanQuery::new(should));
    Some(Box::new(BooleanQuery::new(vec![
        (Occur::Must, scoring),
        (Occur::Must, filter(fields, query)),
    ])))
}

/// Which passages the asker may see. Contributes nothing to the score.
fn filter(fields: &Fields, query: &SearchQuery) -> Box<dyn Query> {
    let mut must: Vec<(Occur, Box<dyn Query>)> = vec![
        (Occur::Must, term_query(fields.locale, &query.locale)),
        (
            Occur::Must,
            any_of(fields.channels, &[query.channel.as_str(), "all"]),
        ),
    ];
    if !query.include_drafts {
        must.push((Occur::Must, term_query(fields.status, "published")));
    }
    // Agents may read everything; customers never see agent-only guidance.
    if query.audience != Audience::Agent {
        must.push((
            Occur::Must,
            any_of(fields.audience, &[query.audience.as_str(), "all"]),
        ));
    }
    Box::new(ConstScoreQuery::new(Box::new(BooleanQuery::new(must)), 0.0))
}
