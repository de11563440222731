//! The "Try it" panel: a customer question, the passages retrieval finds (with scores) and
//! the answer the bot would give, from what is published or with a draft in place of its
//! article (a throwaway in-memory index; the live one is untouched). And the Markdown preview.

use super::document::Fields;
use super::{Editor, EditorApi};
use axum::extract::State;
use pulldown_cmark::{Event, Options, Parser};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use warmline_channels::error::ErrorBody;
use warmline_channels::{ApiError, ApiJson};
use warmline_domain::{
    Channel, Citation, Conversation, ConversationId, DomainError, ErrorCode, KnowledgeSearch,
    Ownership, ReplyKind, SearchQuery,
};
use warmline_retrieval::KnowledgeBase;
use warmline_retrieval::overlay::store_article;

/// Longest question, in characters (a customer message's limit).
const MAX_QUESTION_CHARS: usize = 4000;
/// Passages shown.
const PASSAGES: usize = 5;

/// A draft to try in place of its article.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Draft {
    pub id: String,
    pub fields: Fields,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TryIt {
    pub question: String,
    /// Answer as if this draft were published.
    pub draft: Option<Draft>,
    /// The customer's channel (default `web`).
    pub channel: Option<String>,
    /// The customer's language (default `en`).
    pub locale: Option<String>,
}

/// A passage retrieval found.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Passage {
    pub article_id: String,
    pub title: String,
    pub heading: String,
    pub text: String,
    /// The ranking score (hybrid or BM25, as customers are served).
    pub score: f32,
    /// Cosine similarity with the question, when embeddings are on.
    pub similarity: Option<f32>,
}

/// What the bot would say.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Answer {
    pub text: String,
    #[schema(value_type = String)]
    pub kind: ReplyKind,
    pub support: f32,
    pub citations: Vec<Citation>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Tried {
    /// Whether a draft stood in for its article.
    pub draft: bool,
    pub passages: Vec<Passage>,
    pub answer: Answer,
}

/// Retrieval and the bot's answer for a question, optionally with a draft published.
#[utoipa::path(post, path = "/v1/editor/try", tag = "editor", request_body = TryIt,
    responses((status = 200, body = Tried), (status = 422, body = ErrorBody),
              (status = 429, body = ErrorBody)))]
pub async fn try_it(
    State(api): State<EditorApi>,
    _editor: Editor,
    ApiJson(body): ApiJson<TryIt>,
) -> Result<ApiJson<Tried>, ApiError> {
    let question = body.question.trim().to_owned();
    if question.is_empty() || question.chars().count() > MAX_QUESTION_CHARS {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            format!("a question is 1 to {MAX_QUESTION_CHARS} characters"),
        ));
    }
    let channel: Channel = body
        .channel
        .as_deref()
        .unwrap_or("web")
        .parse()
        .map_err(|e: String| ApiError::new(ErrorCode::InvalidInput, e))?;
    let locale = body.locale.unwrap_or_else(|| "en".into());
    let knowledge = match &body.draft {
        Some(draft) => preview(&api, draft).await?,
        None => api.knowledge.clone(),
    };
    let mut query = SearchQuery::customer(question.clone(), channel, PASSAGES);
    query.locale.clone_from(&locale);
    let found = knowledge.search(&query).await?;
    let now = warmline_domain::conversation::now();
    let conversation = Conversation {
        id: ConversationId::new(),
        channel,
        locale,
        customer_id: None,
        ownership: Ownership::Bot,
        created_at: now,
        updated_at: now,
    };
    let reply = api
        .dialog
        .answering_from(Arc::new(knowledge))
        .answer(&conversation, &question)
        .await?;
    Ok(ApiJson(Tried {
        draft: body.draft.is_some(),
        passages: found
            .hits
            .into_iter()
            .map(|h| Passage {
                article_id: h.article_id,
                title: h.title,
                heading: h.heading,
                text: h.text,
                score: h.score,
                similarity: h.similarity,
            })
            .collect(),
        answer: Answer {
            text: reply.text,
            kind: reply.kind,
            support: reply.support,
            citations: reply.citations,
        },
    }))
}

/// A throwaway knowledge base with `draft` published (at most a few built at once).
async fn preview(api: &EditorApi, draft: &Draft) -> Result<KnowledgeBase, ApiError> {
    let (content, _) = draft
        .fields
        .render(draft.id.trim())
        .map_err(DomainError::invalid)?;
    let article = store_article(draft.id.trim(), &content)
        .map_err(|p| DomainError::invalid(p.to_string()))?;
    let Ok(_slot) = api.previews.clone().try_acquire_owned() else {
        return Err(ApiError::rate_limited(2));
    };
    let live = api.knowledge.clone();
    tokio::task::spawn_blocking(move || live.preview(article))
        .await
        .map_err(|e| DomainError::internal(format!("preview task: {e}")))?
        .map_err(|e| {
            tracing::error!(error = %e, "draft preview failed");
            ApiError::from(DomainError::unavailable("the preview index failed"))
        })
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Render {
    pub markdown: String,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Rendered {
    pub html: String,
}

/// Markdown as HTML, the way article pages show it (raw HTML is shown as text, never run).
pub fn markdown_html(markdown: &str) -> String {
    let parser = Parser::new_ext(markdown, Options::ENABLE_TABLES).map(|event| match event {
        Event::Html(html) | Event::InlineHtml(html) => Event::Text(html),
        other => other,
    });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, parser);
    html
}

/// The live preview of the editor's Markdown.
#[utoipa::path(post, path = "/v1/editor/render", tag = "editor", request_body = Render,
    responses((status = 200, body = Rendered), (status = 422, body = ErrorBody)))]
pub async fn render(
    _editor: Editor,
    ApiJson(body): ApiJson<Render>,
) -> Result<ApiJson<Rendered>, ApiError> {
    if body.markdown.chars().count() > super::document::MAX_BODY_CHARS {
        return Err(ApiError::new(
            ErrorCode::InvalidInput,
            "the Markdown is too long to preview",
        ));
    }
    Ok(ApiJson(Rendered {
        html: markdown_html(&body.markdown),
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn raw_html_is_shown_as_text() {
        let html = super::markdown_html("## Hi\n\n<script>alert(1)</script>\n\nSome **bold** text");
        assert!(html.contains("<h2>Hi</h2>"), "{html}");
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(html.contains("<strong>bold</strong>"), "{html}");
    }
}
