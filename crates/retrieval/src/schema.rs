//! The tantivy schema of a passage and the English analyzer shared by indexing and queries.

use tantivy::schema::{
    Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::{
    AsciiFoldingFilter, Language, LowerCaser, RemoveLongFilter, SimpleTokenizer, Stemmer,
    StopWordFilter, TextAnalyzer,
};

/// Bump when the schema or the analyzer changes: an index built by another version is rebuilt.
pub const SCHEMA_VERSION: u32 = 1;

/// Name under which [`analyzer`] is registered in the index.
pub const ANALYZER: &str = "warmline_en";

/// Words that carry no meaning for matching a customer question to an article: English
/// function words plus what customers type around a question ("hi, can you tell me...").
const STOP_WORDS: &[&str] = &[
    "a",
    "able",
    "about",
    "above",
    "actually",
    "after",
    "again",
    "all",
    "also",
    "am",
    "an",
    "and",
    "any",
    "anyone",
    "anything",
    "are",
    "as",
    "at",
    "be",
    "because",
    "been",
    "before",
    "being",
    "bit",
    "both",
    "but",
    "by",
    "can",
    "cant",
    "could",
    "did",
    "didnt",
    "do",
    "does",
    "doesnt",
    "doing",
    "dont",
    "during",
    "each",
    "even",
    "ever",
    "few",
    "for",
    "from",
    "further",
    "get",
    "go",
    "going",
    "got",
    "had",
    "happen",
    "happened",
    "happens",
    "has",
    "have",
    "having",
    "he",
    "hello",
    "her",
    "here",
    "hers",
    "hey",
    "hi",
    "him",
    "his",
    "how",
    "i",
    "if",
    "im",
    "in",
    "into",
    "is",
    "isnt",
    "it",
    "its",
    "ive",
    "just",
    "kind",
    "know",
    "let",
    "like",
    "long",
    "lot",
    "many",
    "me",
    "mean",
    "might",
    "more",
    "most",
    "much",
    "must",
    "my",
    "myself",
    "need",
    "nor",
    "now",
    "of",
    "off",
    "ok",
    "okay",
    "on",
    "once",
    "only",
    "or",
    "other",
    "our",
    "ours",
    "out",
    "over",
    "own",
    "please",
    "pls",
    "question",
    "quick",
    "really",
    "right",
    "same",
    "say",
    "see",
    "she",
    "should",
    "so",
    "some",
    "someone",
    "something",
    "such",
    "sure",
    "take",
    "takes",
    "tell",
    "than",
    "thank",
    "thanks",
    "that",
    "the",
    "their",
    "them",
    "then",
    "there",
    "these",
    "they",
    "thing",
    "things",
    "this",
    "those",
    "through",
    "to",
    "too",
    "under",
    "until",
    "up",
    "us",
    "very",
    "want",
    "was",
    "way",
    "we",
    "were",
    "what",
    "when",
    "where",
    "which",
    "while",
    "who",
    "whom",
    "why",
    "will",
    "with",
    "wont",
    "would",
    "yes",
    "yet",
    "you",
    "your",
    "yours",
    "yourself",
];

/// Lowercase, fold accents, drop stop words, stem (Snowball English).
pub fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .filter(StopWordFilter::remove(
            STOP_WORDS.iter().map(|w| (*w).to_owned()),
        ))
        .filter(Stemmer::new(Language::English))
        .build()
}

/// Handles on every field of a passage document.
#[derive(Debug, Clone, Copy)]
pub struct Fields {
    pub passage_id: Field,
    pub article_id: Field,
    pub title: Field,
    pub heading: Field,
    pub body: Field,
    pub tags: Field,
    /// Title, heading, body and tags together: term statistics and spelling correction.
    pub all: Field,
    pub url: Field,
    pub locale: Field,
    pub audience: Field,
    pub status: Field,
    pub channels: Field,
    pub position: Field,
}

pub fn build() -> (Schema, Fields) {
    let text = |stored: bool| {
        let indexing = TextFieldIndexing::default()
            .set_tokenizer(ANALYZER)
            .set_index_option(IndexRecordOption::WithFreqsAndPositions);
        let options = TextOptions::default().set_indexing_options(indexing);
        if stored {
            options.set_stored()
        } else {
            options
        }
    };
    let mut b = Schema::builder();
    let fields = Fields {
        passage_id: b.add_text_field("passage_id", STRING | STORED),
        article_id: b.add_text_field("article_id", STRING | STORED),
        title: b.add_text_field("title", text(true)),
        heading: b.add_text_field("heading", text(true)),
        body: b.add_text_field("body", text(true)),
        tags: b.add_text_field("tags", text(false)),
        all: b.add_text_field("all", text(false)),
        url: b.add_text_field("url", STORED),
        locale: b.add_text_field("locale", STRING),
        audience: b.add_text_field("audience", STRING),
        status: b.add_text_field("status", STRING),
        channels: b.add_text_field("channels", STRING),
        position: b.add_u64_field("position", STORED | INDEXED),
    };
    (b.build(), fields)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(text: &str) -> Vec<String> {
        let mut a = analyzer();
        let mut stream = a.token_stream(text);
        let mut out = Vec::new();
        while let Some(t) = stream.next() {
            out.push(t.text.clone());
        }
        out
    }

    #[test]
    fn stems_and_drops_question_filler() {
        assert_eq!(
            terms("Hi, can you tell me how REFUNDS are processed?"),
            ["refund", "process"]
        );
        assert_eq!(terms("Café opening hours"), ["cafe", "open", "hour"]);
    }
}
