//! Policy errors name the file and the setting (`topics[2].phrases[0]`), so the person
//! editing the policy knows exactly what to fix.

use std::path::PathBuf;

/// Why a moments policy could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read moments policy {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a setting has the wrong type, is missing or unknown.
    #[error("{origin}:{line}:{column}: {field}: {message}")]
    Parse {
        origin: String,
        field: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// A setting parsed but its value is not allowed.
    #[error("{origin}: {field}: {message}")]
    Invalid {
        origin: String,
        field: String,
        message: String,
    },
}

impl PolicyError {
    /// The setting at fault, as a dotted path (`decision.threshold`, `topics[1].weight`).
    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Read { .. } => None,
            Self::Parse { field, .. } | Self::Invalid { field, .. } => Some(field),
        }
    }

    pub(crate) fn parse(origin: &str, text: &str, error: &toml::de::Error) -> Self {
        let offset = error.span().map_or(0, |s| s.start).min(text.len());
        let (line, column) = line_column(text, offset);
        Self::Parse {
            origin: origin.to_owned(),
            field: field_at(text, offset),
            line,
            column,
            message: error.message().trim().to_owned(),
        }
    }
}

/// 1-based line and column of a byte offset.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// The dotted path of the setting at `offset`: the last table header before it (with the
/// index of array-of-tables entries) and the key on its line, if any.
fn field_at(text: &str, offset: usize) -> String {
    let mut table = String::new();
    let mut counts: std::collections::HashMap<String, usize> = Default::default();
    let mut key = None;
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let end = start + line.len();
        let trimmed = line.trim();
        if let Some(name) = trimmed
            .strip_prefix("[[")
            .and_then(|l| l.split("]]").next())
        {
            let name = name.trim().to_owned();
            let n = counts.entry(name.clone()).or_insert(0);
            table = format!("{name}[{n}]");
            *n += 1;
            key = None;
        } else if let Some(name) = trimmed.strip_prefix('[').and_then(|l| l.split(']').next()) {
            table = name.trim().to_owned();
            key = None;
        } else if let Some((k, _)) = trimmed.split_once('=')
            && !trimmed.starts_with('#')
            && !k.trim_start().starts_with('"')
        {
            key = Some(k.trim().to_owned());
        }
        if offset < end {
            break;
        }
        start = end;
    }
    match key {
        None if table.is_empty() => "(top level)".into(),
        None => table,
        Some(k) if table.is_empty() => k,
        Some(k) => format!("{table}.{k}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_is_the_table_and_key_at_the_offset() {
        let text =
            "[decision]\nthreshold = \"x\"\n\n[[topics]]\nname = \"a\"\n\n[[topics]]\nweight = 2\n";
        let at = |needle: &str| field_at(text, text.find(needle).unwrap());
        assert_eq!(at("\"x\""), "decision.threshold");
        assert_eq!(at("weight"), "topics[1].weight");
        assert_eq!(at("name"), "topics[0].name");
        assert_eq!(line_column(text, text.find("weight").unwrap()), (8, 1));
    }
}
