//! Error codes shared by every crate. The HTTP mapping lives in one place
//! (`warmline_channels::error`); libraries only pick a code and a message.

use serde::Serialize;
use std::fmt;

/// A stable, machine-readable error code. Serialized in snake_case in API error bodies
/// (`{"error": {"code": "not_found", "message": "..."}}`); never rename a variant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The request was understood but a field is invalid (empty text, bad channel...).
    InvalidInput,
    /// The body is not valid JSON, not UTF-8, or has the wrong shape.
    MalformedRequest,
    /// The request body or a field is larger than allowed.
    PayloadTooLarge,
    /// The body's content type is not supported.
    UnsupportedMediaType,
    /// No such resource (conversation, article...).
    NotFound,
    /// The route exists but not for this HTTP method.
    MethodNotAllowed,
    /// No valid credentials (missing, wrong or expired session).
    Unauthorized,
    /// Valid credentials, but this account may not do that.
    Forbidden,
    /// The client sent too many requests; retry after the `Retry-After` header.
    RateLimited,
    /// The conversation is closed or otherwise not accepting this operation.
    Conflict,
    /// A dependency (store, index) is not available right now; retry later.
    Unavailable,
    /// A bug or an unexpected failure. Details go to the log, never to the client.
    Internal,
}

impl ErrorCode {
    /// The wire name, as serialized.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid_input",
            Self::MalformedRequest => "malformed_request",
            Self::PayloadTooLarge => "payload_too_large",
            Self::UnsupportedMediaType => "unsupported_media_type",
            Self::NotFound => "not_found",
            Self::MethodNotAllowed => "method_not_allowed",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::RateLimited => "rate_limited",
            Self::Conflict => "conflict",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error that crosses a crate boundary: a code plus a message fit for the client
/// (for [`ErrorCode::Internal`] and [`ErrorCode::Unavailable`] the message is logged, and the
/// client sees a generic text).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{code}: {message}")]
pub struct DomainError {
    pub code: ErrorCode,
    pub message: String,
}

impl DomainError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unavailable, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }
}
