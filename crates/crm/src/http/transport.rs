//! Sending one operation: timeout per attempt, retries with exponential backoff and jitter on
//! transient failures (timeouts, connection errors, 429, 5xx; never other 4xx), the circuit
//! breaker, and the cache of reads. Logs carry the operation, attempt and status only: URLs
//! and bodies hold emails and phone numbers, and headers hold the secret.

use super::breaker::Breaker;
use super::cache::TtlCache;
use super::config::{HttpCrmConfig, Operation};
use super::template::{self, Vars};
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use warmline_domain::CrmError;

/// Larger answers are refused: a CRM record is a few kilobytes.
const MAX_BODY: usize = 4 << 20;

/// What the CRM said.
#[derive(Debug)]
pub(crate) enum Reply {
    Found(Arc<Value>),
    /// 404: no such record.
    Missing,
    /// 409 or 422: understood and refused (a write the CRM won't make).
    Rejected,
}

enum Attempt {
    Answer(Reply),
    /// Worth another try: the text says why, for the log.
    Transient(String),
    Fatal(CrmError),
}

pub(crate) struct Transport {
    client: reqwest::Client,
    base_url: String,
    auth: Option<(HeaderName, HeaderValue)>,
    retries: u32,
    backoff: Duration,
    max_backoff: Duration,
    breaker: Breaker,
    cache: TtlCache,
}

impl Transport {
    /// `secret` reads the auth variable named in the config (the environment, normally).
    pub(crate) fn new(
        config: &HttpCrmConfig,
        secret: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, CrmError> {
        let auth = match &config.auth {
            None => None,
            Some(auth) => {
                let value = secret(&auth.env).filter(|s| !s.is_empty()).ok_or_else(|| {
                    CrmError::Misconfigured(format!(
                        "the environment variable {} (crm auth) is not set",
                        auth.env
                    ))
                })?;
                let name = HeaderName::from_bytes(auth.header.as_bytes())
                    .map_err(|_| CrmError::Misconfigured("crm auth header name".into()))?;
                let mut value =
                    HeaderValue::from_str(&format!("{}{value}", auth.prefix)).map_err(|_| {
                        CrmError::Misconfigured(format!(
                            "{} does not hold a valid header value",
                            auth.env
                        ))
                    })?;
                value.set_sensitive(true);
                Some((name, value))
            }
        };
        let timeout = Duration::from_millis(config.timeout_ms);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .build()
            .map_err(|e| CrmError::Misconfigured(format!("crm http client: {e}")))?;
        Ok(Self {
            client,
            base_url: config.base_url.clone(),
            auth,
            retries: config.retries,
            backoff: Duration::from_millis(config.backoff_ms),
            max_backoff: Duration::from_millis(config.max_backoff_ms),
            breaker: Breaker::new(
                config.circuit.failures,
                Duration::from_secs(config.circuit.cooldown_secs),
            ),
            cache: TtlCache::new(
                Duration::from_secs(config.cache.ttl_secs),
                config.cache.capacity,
            ),
        })
    }

    /// Sends `spec` filled with `vars`. Reads (`cacheable`) are answered from the cache when
    /// fresh; other calls empty it once they succeed.
    pub(crate) async fn call(
        &self,
        op: &'static str,
        spec: &Operation,
        vars: &Vars,
        cacheable: bool,
    ) -> Result<Reply, CrmError> {
        let url = template::url(&self.base_url, &spec.url, vars);
        let body = spec.parsed_body.as_ref().map(|b| b.render(vars));
        let key = format!(
            "{} {url}\n{}",
            spec.method,
            body.as_deref().unwrap_or_default()
        );
        if cacheable && let Some(hit) = self.cache.get(&key) {
            tracing::debug!(op, "crm cache hit");
            return Ok(hit.map_or(Reply::Missing, Reply::Found));
        }
        let mut attempt = 0u32;
        loop {
            if !self.breaker.allow() {
                tracing::debug!(op, "crm circuit open; not calling");
                return Err(CrmError::Unavailable("the crm circuit is open".into()));
            }
            let started = std::time::Instant::now();
            let outcome = self.attempt(spec, &url, body.as_deref()).await;
            let seconds = started.elapsed().as_secs_f64();
            match outcome {
                Attempt::Answer(reply) => {
                    self.breaker.success();
                    tracing::debug!(op, attempt, seconds, "crm answered");
                    match (&reply, cacheable) {
                        (Reply::Found(v), true) => self.cache.put(key, Some(v.clone())),
                        (Reply::Missing, true) => self.cache.put(key, None),
                        (Reply::Found(_), false) => self.cache.clear(),
                        _ => {}
                    }
                    return Ok(reply);
                }
                Attempt::Fatal(e) => {
                    // The CRM is up (it answered); the request is what is wrong.
                    self.breaker.success();
                    tracing::warn!(op, error = %e, "crm call failed");
                    return Err(e);
                }
                Attempt::Transient(why) => {
                    let opened = self.breaker.failure();
                    tracing::debug!(op, attempt, seconds, why, opened, "crm attempt failed");
                    if opened || attempt >= self.retries {
                        return Err(CrmError::Unavailable(format!(
                            "the crm failed {} time(s), last: {why}",
                            attempt + 1
                        )));
                    }
                    tokio::time::sleep(self.delay(attempt)).await;
                    attempt += 1;
                }
            }
        }
    }

    /// Exponential backoff with "equal jitter": half the delay fixed, half random, so
    /// replicas that failed together don't retry together.
    fn delay(&self, attempt: u32) -> Duration {
        let exp = self
            .backoff
            .saturating_mul(2u32.saturating_pow(attempt))
            .min(self.max_backoff);
        let half = exp / 2;
        let jitter = fastrand::u64(0..=u64::try_from(half.as_millis()).unwrap_or(u64::MAX));
        half + Duration::from_millis(jitter)
    }

    async fn attempt(&self, spec: &Operation, url: &str, body: Option<&str>) -> Attempt {
        let method = Method::from_bytes(spec.method.as_bytes()).unwrap_or(Method::GET);
        let mut request = self
            .client
            .request(method, url)
            .header(ACCEPT, "application/json");
        if let Some((name, value)) = &self.auth {
            request = request.header(name, value.clone());
        }
        if let Some(body) = body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.to_owned());
        }
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Attempt::Transient(transport_error(&e)),
        };
        let status = response.status();
        if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
            return Attempt::Transient(format!("status {}", status.as_u16()));
        }
        let fatal = |m: String| Attempt::Fatal(CrmError::Misconfigured(m));
        match status {
            StatusCode::NOT_FOUND => return Attempt::Answer(Reply::Missing),
            StatusCode::CONFLICT | StatusCode::UNPROCESSABLE_ENTITY => {
                return Attempt::Answer(Reply::Rejected);
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return fatal(format!("the crm refused the credentials ({status})"));
            }
            s if !s.is_success() => return fatal(format!("the crm answered {s}")),
            _ => {}
        }
        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) if bytes.len() + chunk.len() <= MAX_BODY => {
                    bytes.extend_from_slice(&chunk);
                }
                Ok(Some(_)) => return fatal("the crm's answer is too large".into()),
                Ok(None) => break,
                Err(e) => return Attempt::Transient(transport_error(&e)),
            }
        }
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Attempt::Answer(Reply::Found(Arc::new(Value::Null)));
        }
        match serde_json::from_slice(&bytes) {
            Ok(value) => Attempt::Answer(Reply::Found(Arc::new(value))),
            Err(_) => fatal("the crm's answer is not JSON".into()),
        }
    }
}

/// The kind of failure, without the URL reqwest would print.
fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_body() || e.is_decode() {
        "answer cut short".into()
    } else {
        "request failed".into()
    }
}
