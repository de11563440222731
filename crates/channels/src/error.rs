//! Errors as HTTP responses. Every error body is `{"error": {"code", "message"}}` with a
//! stable code; 5xx bodies never carry internals (those are logged).

use axum::extract::FromRequest;
use axum::extract::rejection::JsonRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use warmline_domain::{DomainError, ErrorCode};

/// An error answered to an HTTP client.
#[derive(Debug)]
pub struct ApiError {
    pub error: DomainError,
    /// For `rate_limited`: seconds after which a retry may succeed.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self::from(DomainError::new(code, message))
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        Self {
            error: DomainError::new(
                ErrorCode::RateLimited,
                format!("too many requests; retry in {retry_after} s"),
            ),
            retry_after: Some(retry_after),
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(error: DomainError) -> Self {
        Self {
            error,
            retry_after: None,
        }
    }
}

/// The HTTP status of each error code: the only such mapping in Warmline.
pub fn status_of(code: ErrorCode) -> StatusCode {
    match code {
        ErrorCode::InvalidInput => StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::MalformedRequest => StatusCode::BAD_REQUEST,
        ErrorCode::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorCode::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorCode::NotFound => StatusCode::NOT_FOUND,
        ErrorCode::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::Unauthorized => StatusCode::UNAUTHORIZED,
        ErrorCode::Forbidden => StatusCode::FORBIDDEN,
        ErrorCode::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        ErrorCode::Conflict => StatusCode::CONFLICT,
        ErrorCode::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::Internal => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// The JSON error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(self.error.code);
        let message = if status.is_server_error() {
            tracing::warn!(code = %self.error.code, detail = %self.error.message, "request failed");
            match self.error.code {
                ErrorCode::Unavailable => "the service is temporarily unavailable; retry shortly",
                _ => "internal error; it has been logged",
            }
            .to_owned()
        } else {
            self.error.message
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.error.code,
                message,
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let code = match &rejection {
            JsonRejection::MissingJsonContentType(_) => ErrorCode::UnsupportedMediaType,
            JsonRejection::BytesRejection(_)
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                ErrorCode::PayloadTooLarge
            }
            _ => ErrorCode::MalformedRequest,
        };
        let message = match code {
            ErrorCode::UnsupportedMediaType => {
                "send a JSON body with `Content-Type: application/json`".to_owned()
            }
            ErrorCode::PayloadTooLarge => "the request body is too large".to_owned(),
            _ => rejection.body_text(),
        };
        Self::new(code, message)
    }
}

/// `axum::Json`, but a rejection is answered with our JSON error body.
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct ApiJson<T>(pub T);

impl<T: Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// JSON 404 for unknown routes.
pub async fn not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route; see /openapi.json")
}

/// JSON 405 for a known route with the wrong method.
pub async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "this route does not accept that method; see /openapi.json",
    )
}
