//! Reads a knowledge folder: every `*.md` under `DIR/articles/` (or under `DIR` itself when it
//! has no `articles/` folder), in path order.

use crate::RetrievalError;
use crate::article::{Article, ArticleProblem, parse_article};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The usable articles of a folder and the files that could not be used.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub articles: Vec<Article>,
    pub problems: Vec<ArticleProblem>,
}

/// The folder holding the article files for a knowledge dir.
pub fn articles_dir(knowledge: &Path) -> PathBuf {
    let nested = knowledge.join("articles");
    if nested.is_dir() {
        nested
    } else {
        knowledge.to_owned()
    }
}

/// Loads every article below `knowledge`. A bad file becomes a problem; the rest still load.
/// Fails only when the folder itself can't be read.
pub fn load_dir(knowledge: &Path) -> Result<Loaded, RetrievalError> {
    if !knowledge.is_dir() {
        return Err(RetrievalError::KnowledgeDir {
            path: knowledge.to_owned(),
            reason: "not a readable folder".into(),
        });
    }
    let root = articles_dir(knowledge);
    let mut files = Vec::new();
    collect_markdown(&root, &mut files).map_err(|e| RetrievalError::KnowledgeDir {
        path: root.clone(),
        reason: e.to_string(),
    })?;
    files.sort();

    let mut loaded = Loaded::default();
    let mut seen: HashMap<String, PathBuf> = HashMap::new();
    for path in files {
        let shown = path.strip_prefix(knowledge).unwrap_or(&path).to_owned();
        let content = match std::fs::read(&path) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(s) => s,
                Err(_) => {
                    loaded.problems.push(ArticleProblem {
                        path: shown,
                        line: 1,
                        message: "the file is not valid UTF-8".into(),
                    });
                    continue;
                }
            },
            Err(e) => {
                loaded.problems.push(ArticleProblem {
                    path: shown,
                    line: 1,
                    message: format!("cannot read: {e}"),
                });
                continue;
            }
        };
        match parse_article(&shown, &content) {
            Ok(article) => {
                if let Some(first) = seen.get(&article.id) {
                    loaded.problems.push(ArticleProblem {
                        line: id_line(&content),
                        message: format!(
                            "duplicate id {:?}: already used by {}; this file is skipped",
                            article.id,
                            first.display()
                        ),
                        path: shown,
                    });
                    continue;
                }
                seen.insert(article.id.clone(), shown);
                loaded.articles.push(article);
            }
            Err(problem) => loaded.problems.push(problem),
        }
    }
    Ok(loaded)
}

fn id_line(content: &str) -> usize {
    content
        .lines()
        .position(|l| l.starts_with("id:"))
        .map_or(1, |i| i + 1)
}

fn collect_markdown(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue; // editor swap files, .git
        }
        if entry.file_type()?.is_dir() {
            collect_markdown(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, content: &str) {
        let path = dir.join("articles").join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    #[test]
    fn bad_files_are_reported_and_the_rest_load() {
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "a.md", "---\nid: a\ntitle: A\n---\nbody a\n");
        write(dir.path(), "b.md", "---\nid: a\ntitle: B\n---\nbody b\n");
        write(dir.path(), "c.md", "---\nid: c\ntitle: [broken\n---\n");
        write(
            dir.path(),
            "sub/d.md",
            "---\nid: d\ntitle: D\n---\nbody d\n",
        );
        write(dir.path(), "notes.txt", "ignored");
        std::fs::write(dir.path().join("articles/e.md"), [0xff, 0xfe]).unwrap();

        let loaded = load_dir(dir.path()).unwrap();
        let ids: Vec<_> = loaded.articles.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(ids, ["a", "d"]);
        let problems: Vec<_> = loaded.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[0].starts_with("articles/b.md:2: duplicate id \"a\""));
        assert!(
            problems[1].starts_with("articles/c.md:3"),
            "{}",
            problems[1]
        );
        assert!(problems[2].contains("articles/e.md:1: the file is not valid UTF-8"));
    }

    #[test]
    fn a_missing_folder_is_an_error() {
        let err = load_dir(Path::new("/definitely/not/here")).unwrap_err();
        assert!(err.to_string().contains("/definitely/not/here"));
    }

    #[test]
    fn a_flat_folder_of_articles_works_too() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("x.md"), "---\nid: x\ntitle: X\n---\nbody\n").unwrap();
        assert_eq!(load_dir(dir.path()).unwrap().articles.len(), 1);
    }
}
