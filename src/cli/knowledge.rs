//! `warmline knowledge import|export` (article files ⇄ the editor's store) and
//! `warmline tokens add` (API tokens for automation).

use crate::editor::document;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::{Path, PathBuf};
use warmline_domain::{AgentRole, ArticleSave, ArticleStore, Workflow};
use warmline_store::{Durability, SqliteStore};

#[derive(Debug, Subcommand)]
pub enum KnowledgeCommand {
    /// Import article files (`DIR/articles/*.md`, or `DIR/*.md`) into the store: each changed
    /// or new file becomes a new version (published or draft, as its front matter says);
    /// unchanged files are skipped, so importing again changes nothing. A running server
    /// serves the import after a restart.
    Import(KnowledgeDirArgs),
    /// Export the store's articles to `DIR/articles/<id>.md`: the published version of each
    /// article (or the latest, marked `status: draft`, when none is published). Files that
    /// were imported and not edited come out byte for byte.
    Export(KnowledgeDirArgs),
}

#[derive(Debug, Args)]
pub struct KnowledgeDirArgs {
    /// The folder of article files.
    pub dir: PathBuf,

    #[arg(long, env = "WARMLINE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Create an API token for scripts and CI, printed once (the store keeps its SHA-256).
    Add(TokenAddArgs),
}

#[derive(Debug, Args)]
pub struct TokenAddArgs {
    /// What the token is for (shown as the author `token:NAME` of what it saves).
    #[arg(long)]
    pub name: String,

    /// `editor` (the knowledge editor's API) or `admin`.
    #[arg(long, value_parser = ["editor", "admin"])]
    pub role: String,

    /// Days until it stops working; without it, it never expires.
    #[arg(long)]
    pub expires_in_days: Option<u32>,

    #[arg(long, env = "WARMLINE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

async fn open_store(data_dir: &Path) -> anyhow::Result<SqliteStore> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data dir {}", data_dir.display()))?;
    Ok(SqliteStore::open(&data_dir.join("warmline.db"), Durability::Power).await?)
}

pub async fn run(command: KnowledgeCommand) -> anyhow::Result<()> {
    match command {
        KnowledgeCommand::Import(args) => import(args).await,
        KnowledgeCommand::Export(args) => export(args).await,
    }
}

/// The `.md` files below `dir`'s article folder, in path order.
fn article_files(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let root = warmline_retrieval::loader::articles_dir(dir);
    let mut files = Vec::new();
    let mut pending = vec![root.clone()];
    while let Some(folder) = pending.pop() {
        let entries = std::fs::read_dir(&folder)
            .with_context(|| format!("cannot read the folder {}", folder.display()))?;
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "md") && !is_readme(&path) {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

fn is_readme(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|n| n.eq_ignore_ascii_case("README.md"))
}

async fn import(args: KnowledgeDirArgs) -> anyhow::Result<()> {
    let files = article_files(&args.dir)?;
    let store = open_store(&args.data_dir).await?;
    let (mut added, mut updated, mut unchanged, mut refused) = (0, 0, 0, 0);
    for path in files {
        let content = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let shown = path.strip_prefix(&args.dir).unwrap_or(&path);
        let article = match warmline_retrieval::article::parse_article(shown, &content) {
            Ok(article) => article,
            Err(problem) => {
                eprintln!("{problem} (skipped)");
                refused += 1;
                continue;
            }
        };
        let current = store.article(&article.id).await?;
        let base = match &current {
            Some(record) => {
                let latest = store.version(&record.id, record.version).await?;
                if latest.is_some_and(|v| v.content == content) {
                    unchanged += 1;
                    continue;
                }
                updated += 1;
                Some(record.version)
            }
            None => {
                added += 1;
                None
            }
        };
        let status = if document::says_draft(&content) {
            Workflow::Draft
        } else {
            Workflow::Published
        };
        store
            .save_article(&ArticleSave {
                id: article.id.clone(),
                title: article.title,
                locale: article.locale,
                tags: article.tags,
                content,
                author: "import".into(),
                note: Some(format!("imported from {}", shown.display())),
                base_version: base,
                status: Some(status),
            })
            .await?;
    }
    store.close().await;
    say!(
        "imported into {}: {added} new, {updated} updated, {unchanged} unchanged, {refused} refused",
        args.data_dir.display()
    );
    anyhow::ensure!(
        refused == 0,
        "{refused} files could not be imported (see above)"
    );
    Ok(())
}

async fn export(args: KnowledgeDirArgs) -> anyhow::Result<()> {
    let store = open_store(&args.data_dir).await?;
    let out = args.dir.join("articles");
    std::fs::create_dir_all(&out)
        .with_context(|| format!("cannot create the folder {}", out.display()))?;
    let mut written = 0;
    for record in store.articles().await? {
        let (number, published) = match record.live_version() {
            Some(live) => (live, true),
            None => (record.version, false),
        };
        let Some(version) = store.version(&record.id, number).await? else {
            anyhow::bail!("article {} has lost version {number}", record.id);
        };
        let path = out.join(format!("{}.md", record.id));
        std::fs::write(&path, document::with_status(&version.content, published))
            .with_context(|| format!("cannot write {}", path.display()))?;
        written += 1;
    }
    store.close().await;
    say!("exported {written} articles to {}", out.display());
    Ok(())
}

/// How much randomness a token carries.
const TOKEN_BYTES: usize = 32;

pub async fn tokens(command: TokensCommand) -> anyhow::Result<()> {
    let TokensCommand::Add(args) = command;
    let name = args.name.trim();
    anyhow::ensure!(
        !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
        "a token name is 1 to 64 letters, digits or . _ -"
    );
    let role = AgentRole::parse(&args.role).context("role is editor or admin")?;
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for a token: {e}"))?;
    let token = format!("wlt_{}", hex::encode(bytes));
    let expires_at = args
        .expires_in_days
        .map(|days| warmline_domain::conversation::now() + time::Duration::days(i64::from(days)));
    let store = open_store(&args.data_dir).await?;
    store
        .create_token(
            name,
            role,
            &warmline_channels::agents::token_hash(&token),
            expires_at,
        )
        .await?;
    store.close().await;
    let until = expires_at.map_or_else(|| "never expires".to_owned(), |t| format!("expires {t}"));
    eprintln!(
        "{} token {name} created in {} ({until}); it is shown only this once:",
        role.as_str(),
        args.data_dir.display()
    );
    say!("{token}");
    Ok(())
}
