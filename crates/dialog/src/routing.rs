//! Routing policy: which skill a handoff needs, whether handoffs are assigned automatically,
//! and how long a customer waits before being offered a callback or to leave a message.
//! Read from `<knowledge>/policy/routing.toml` (see the sample's comments).

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum RoutingError {
    #[error("cannot read routing policy {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    skills: BTreeMap<String, String>,
    #[serde(default)]
    assignment: RawAssignment,
    #[serde(default)]
    waiting: RawWaiting,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAssignment {
    auto_assign: Option<bool>,
    max_chats: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaiting {
    offer_after_seconds: Option<u64>,
}

/// Who takes which handoff, and when a customer stops waiting.
#[derive(Debug, Clone, PartialEq)]
pub struct Routing {
    /// Reason code (`high_stakes:fraud`) or its prefix before `:` → the skill it needs.
    skills: BTreeMap<String, String>,
    /// Give each new handoff to the least busy online agent with the skill.
    pub auto_assign: bool,
    /// Most conversations auto-assignment gives one agent at once.
    pub max_chats: usize,
    /// How long a queued customer waits before being offered a callback or to leave a
    /// message (at once when nobody is online or outside business hours).
    pub offer_after: Duration,
}

impl Default for Routing {
    fn default() -> Self {
        Self {
            skills: BTreeMap::new(),
            auto_assign: false,
            max_chats: 3,
            offer_after: Duration::from_secs(300),
        }
    }
}

impl Routing {
    pub fn load(path: &Path) -> Result<Self, RoutingError> {
        let text = std::fs::read_to_string(path).map_err(|source| RoutingError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::from_toml(&text, &path.display().to_string())
    }

    pub fn from_toml(text: &str, origin: &str) -> Result<Self, RoutingError> {
        let invalid = |message: String| RoutingError::Invalid {
            origin: origin.to_owned(),
            message,
        };
        let raw: Raw = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let defaults = Self::default();
        let max_chats = raw.assignment.max_chats.unwrap_or(defaults.max_chats);
        if max_chats == 0 {
            return Err(invalid("assignment.max_chats must be at least 1".into()));
        }
        let offer_after = raw
            .waiting
            .offer_after_seconds
            .map_or(defaults.offer_after, Duration::from_secs);
        if offer_after > Duration::from_secs(24 * 3600) {
            return Err(invalid(
                "waiting.offer_after_seconds is at most a day".into(),
            ));
        }
        let mut skills = BTreeMap::new();
        for (reason, skill) in raw.skills {
            let skill = skill.trim().to_lowercase();
            if skill.is_empty() {
                return Err(invalid(format!("skills.{reason:?} is empty")));
            }
            skills.insert(reason.trim().to_lowercase(), skill);
        }
        Ok(Self {
            skills,
            auto_assign: raw.assignment.auto_assign.unwrap_or(defaults.auto_assign),
            max_chats,
            offer_after,
        })
    }

    /// Replaces the offer delay (a command-line override).
    pub fn with_offer_after(mut self, offer_after: Duration) -> Self {
        self.offer_after = offer_after;
        self
    }

    /// The skill a handoff with these reason codes (strongest first) needs: the first reason
    /// mapped exactly, else by its family (`high_stakes` for `high_stakes:legal`).
    pub fn skill_for(&self, reasons: &[String]) -> Option<String> {
        reasons.iter().find_map(|reason| {
            let reason = reason.to_lowercase();
            self.skills.get(&reason).cloned().or_else(|| {
                let family = reason.split(':').next().unwrap_or_default();
                self.skills.get(family).cloned()
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reasons_map_to_skills_exactly_then_by_family() {
        let routing = Routing::from_toml(
            r#"
            [skills]
            "high_stakes:fraud" = "fraud"
            high_stakes = "escalations"
            [assignment]
            auto_assign = true
            max_chats = 2
            [waiting]
            offer_after_seconds = 60
            "#,
            "test",
        )
        .unwrap();
        let r = |codes: &[&str]| {
            routing.skill_for(&codes.iter().map(|c| c.to_string()).collect::<Vec<_>>())
        };
        assert_eq!(
            r(&["frustration", "high_stakes:fraud"]).as_deref(),
            Some("fraud")
        );
        assert_eq!(r(&["high_stakes:legal"]).as_deref(), Some("escalations"));
        assert_eq!(r(&["explicit_request"]), None);
        assert!(routing.auto_assign);
        assert_eq!(routing.offer_after, Duration::from_secs(60));
    }

    #[test]
    fn mistakes_are_named() {
        let err = Routing::from_toml("[assignment]\nmax_chats = 0", "routing.toml").unwrap_err();
        assert!(err.to_string().contains("max_chats"), "{err}");
        let err = Routing::from_toml("[nope]\n", "routing.toml").unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
    }
}
