//! Insights over HTTP: customers rate answers (`POST /v1/conversations/{id}/feedback`); the
//! team reads the analytics summary, content gaps, per-article helpfulness and a CSV export
//! (`/v1/insights/...`, behind an agent session and [`can_see_insights`]).

use crate::agents::{bearer, token_hash, unauthorized};
use crate::error::{ApiError, ApiJson};
use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde::Deserialize;
use std::sync::Arc;
use time::Duration;
use warmline_dialog::insights::summary::{Summary, Window};
use warmline_dialog::insights::{Draft, Insights, export};
use warmline_domain::{
    Agent, AgentRole, ArticleHelpfulness, ConversationId, DomainError, ErrorCode, GapGroup,
    GapStatus, HandoffStore, MessageId,
};

/// Longest window a summary covers.
const MAX_DAYS: i64 = 366;

/// Who may read analytics and content gaps, and open drafts: supervisors, and the people
/// who keep the knowledge base (editors, admins).
pub fn can_see_insights(role: AgentRole) -> bool {
    matches!(
        role,
        AgentRole::Supervisor | AgentRole::Editor | AgentRole::Admin
    )
}

/// What the insights routes need.
#[derive(Clone)]
pub struct InsightsApi {
    pub insights: Insights,
    /// Sessions are checked here.
    pub handoffs: Arc<dyn HandoffStore>,
    /// Default days without a new contact for a durable resolution.
    pub durable_days: i64,
}

pub fn router(api: InsightsApi) -> Router {
    Router::new()
        .route("/conversations/{id}/feedback", post(feedback))
        .route("/insights/summary", get(summary))
        .route("/insights/gaps", get(gaps))
        .route("/insights/gaps/{id}/draft", post(draft))
        .route("/insights/articles", get(articles))
        .route("/insights/export.csv", get(export_csv))
        .with_state(api)
}

/// A logged-in member of the team allowed to see insights.
pub struct Analyst(pub Agent);

impl FromRequestParts<InsightsApi> for Analyst {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, api: &InsightsApi) -> Result<Self, ApiError> {
        let token = bearer(&parts.headers).ok_or_else(unauthorized)?;
        let agent = api
            .handoffs
            .session_agent(&token_hash(token))
            .await?
            .ok_or_else(unauthorized)?;
        if !can_see_insights(agent.role) {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "analytics and content gaps are for supervisors",
            ));
        }
        Ok(Self(agent))
    }
}

/// A customer's rating of one bot reply.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Feedback {
    /// The bot reply's `message_id`.
    pub message_id: String,
    pub helpful: bool,
}

/// Rate a bot reply of this conversation (helpful or not); rating again replaces it.
#[utoipa::path(post, path = "/v1/conversations/{id}/feedback", tag = "chat",
    params(("id" = String, Path, description = "conversation id")),
    request_body = Feedback,
    responses((status = 204, description = "thank you"),
              (status = 404, description = "unknown conversation, or no such message in it", body = crate::error::ErrorBody),
              (status = 422, description = "not a bot reply", body = crate::error::ErrorBody)))]
pub async fn feedback(
    State(api): State<InsightsApi>,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Feedback>,
) -> Result<StatusCode, ApiError> {
    let conversation: ConversationId = id
        .parse()
        .map_err(|_| DomainError::not_found(format!("no conversation with id {id}")))?;
    let message: MessageId = body
        .message_id
        .trim()
        .parse()
        .map_err(|_| DomainError::invalid("message_id must be the id of a bot reply"))?;
    api.insights
        .rate(conversation, message, body.helpful)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A query string that didn't parse is a `malformed_request`, in JSON like every error.
fn query_of<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query.map(|Query(q)| q).map_err(|e| {
        ApiError::new(
            ErrorCode::MalformedRequest,
            format!("bad query string: {}", e.body_text()),
        )
    })
}

/// `?since=7d&durable_days=7`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WindowQuery {
    /// How far back: `7d`, `24h`, up to `366d`. Default `7d`.
    pub since: Option<String>,
    /// Days without a new contact for a bot resolution to count as durable (1 to 90).
    pub durable_days: Option<i64>,
}

/// Parses `7d`, `24h` (1 hour to 366 days).
pub fn parse_since(text: &str) -> Result<Duration, DomainError> {
    let text = text.trim();
    let bad = || {
        DomainError::invalid(format!(
            "since must be a number of days or hours, like 7d or 24h (at most {MAX_DAYS}d); got {text:?}"
        ))
    };
    let (n, unit) = text.split_at(text.len().saturating_sub(1));
    let n: i64 = n.parse().map_err(|_| bad())?;
    let d = match unit {
        "d" => Duration::days(n),
        "h" => Duration::hours(n),
        _ => return Err(bad()),
    };
    if n < 1 || d > Duration::days(MAX_DAYS) {
        return Err(bad());
    }
    Ok(d)
}

/// The window of a query, ending now.
pub fn window(query: &WindowQuery, default_durable: i64) -> Result<Window, DomainError> {
    let since = parse_since(query.since.as_deref().unwrap_or("7d"))?;
    let durable_days = query.durable_days.unwrap_or(default_durable);
    if !(1..=90).contains(&durable_days) {
        return Err(DomainError::invalid("durable_days is 1 to 90"));
    }
    let until = warmline_domain::conversation::now();
    Ok(Window {
        since: until - since,
        until: until + Duration::milliseconds(1),
        durable_days,
    })
}

async fn summary_of(api: &InsightsApi, query: &WindowQuery) -> Result<Summary, ApiError> {
    let window = window(query, api.durable_days)?;
    Ok(api
        .insights
        .summary(window, warmline_domain::conversation::now())
        .await?)
}

/// Every dashboard figure for a window, each with its denominator and definition.
#[utoipa::path(get, path = "/v1/insights/summary", tag = "insights", params(WindowQuery),
    responses((status = 200, body = Summary), (status = 401, body = crate::error::ErrorBody),
              (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn summary(
    State(api): State<InsightsApi>,
    _who: Analyst,
    query: Result<Query<WindowQuery>, QueryRejection>,
) -> Result<ApiJson<Summary>, ApiError> {
    let query = query_of(query)?;
    Ok(ApiJson(summary_of(&api, &query).await?))
}

/// The same figures as CSV.
#[utoipa::path(get, path = "/v1/insights/export.csv", tag = "insights", params(WindowQuery),
    responses((status = 200, description = "text/csv: metric,key,value,denominator"),
              (status = 401, body = crate::error::ErrorBody)))]
pub async fn export_csv(
    State(api): State<InsightsApi>,
    _who: Analyst,
    query: Result<Query<WindowQuery>, QueryRejection>,
) -> Result<impl IntoResponse, ApiError> {
    let query = query_of(query)?;
    let summary = summary_of(&api, &query).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"warmline-insights.csv\"",
            ),
        ],
        export::csv(&summary),
    ))
}

/// `?status=open&limit=50`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct GapsQuery {
    /// `open`, `drafting` or `closed`; default: open and drafting.
    pub status: Option<String>,
    /// At most 200; default 50.
    pub limit: Option<usize>,
}

/// Groups of similar unanswered questions, most asked first, with recent samples.
#[utoipa::path(get, path = "/v1/insights/gaps", tag = "insights", params(GapsQuery),
    responses((status = 200, body = Vec<GapGroup>), (status = 401, body = crate::error::ErrorBody)))]
pub async fn gaps(
    State(api): State<InsightsApi>,
    _who: Analyst,
    query: Result<Query<GapsQuery>, QueryRejection>,
) -> Result<ApiJson<Vec<GapGroup>>, ApiError> {
    let query = query_of(query)?;
    let status: Option<GapStatus> = match query.status.as_deref() {
        Some(s) => Some(s.parse().map_err(DomainError::invalid)?),
        None => None,
    };
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let mut groups = api
        .insights
        .store()
        .gap_groups(status, if status.is_some() { limit } else { 400 }, 5)
        .await?;
    if status.is_none() {
        groups.retain(|g| g.status != GapStatus::Closed);
    }
    groups.truncate(limit);
    Ok(ApiJson(groups))
}

/// Open a draft article from a group: a prefilled draft; the group becomes `drafting`.
#[utoipa::path(post, path = "/v1/insights/gaps/{id}/draft", tag = "insights",
    params(("id" = i64, Path, description = "content gap id")),
    responses((status = 200, body = Draft), (status = 404, body = crate::error::ErrorBody),
              (status = 409, description = "already closed", body = crate::error::ErrorBody)))]
pub async fn draft(
    State(api): State<InsightsApi>,
    _who: Analyst,
    Path(id): Path<String>,
) -> Result<ApiJson<Draft>, ApiError> {
    let id: i64 = id
        .parse()
        .map_err(|_| DomainError::not_found(format!("no content gap with id {id}")))?;
    Ok(ApiJson(api.insights.draft(id).await?))
}

/// Helpful / rated answers per cited article, for ratings in the window.
#[utoipa::path(get, path = "/v1/insights/articles", tag = "insights", params(WindowQuery),
    responses((status = 200, body = Vec<ArticleHelpfulness>), (status = 401, body = crate::error::ErrorBody)))]
pub async fn articles(
    State(api): State<InsightsApi>,
    _who: Analyst,
    query: Result<Query<WindowQuery>, QueryRejection>,
) -> Result<ApiJson<Vec<ArticleHelpfulness>>, ApiError> {
    let query = query_of(query)?;
    let window = window(&query, api.durable_days)?;
    Ok(ApiJson(
        api.insights
            .store()
            .article_helpfulness(window.since, window.until)
            .await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse_and_bad_ones_are_explained() {
        assert_eq!(parse_since("7d").unwrap(), Duration::days(7));
        assert_eq!(parse_since("24h").unwrap(), Duration::hours(24));
        for bad in ["", "7", "0d", "-1d", "400d", "7w", "d", "1.5d"] {
            let e = parse_since(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn only_supervisors_see_insights_today() {
        assert!(can_see_insights(AgentRole::Supervisor));
        assert!(can_see_insights(AgentRole::Editor));
        assert!(can_see_insights(AgentRole::Admin));
        assert!(!can_see_insights(AgentRole::Agent));
    }
}
