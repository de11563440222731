//! The `warmline` server and CLI: wires the crates together.
//!
//! - [`cli`]: the command line (`serve`, `ask`, `index`); every flag also reads an env var.
//! - [`Settings`] / [`Warmline::open`]: data dir, store, knowledge index, live reindex.
//! - [`app`]: the axum router (REST chat API, ops routes, article pages) with its limits.
//! - [`run`]: serves a router on a listener until a shutdown future resolves.
//! - [`http`], [`limits`], [`telemetry`]: ops routes, backpressure, logs and metrics.
//! - [`editor`]: the knowledge editor's API (`/v1/editor/...`) and its page at `/editor`.
//! - [`insights`]: the analytics gauges on `/metrics` and closing content gaps after a
//!   re-index (the routes are `warmline_channels::insights`, the page `/dashboard`).
//! - Messaging apps (`warmline_channels::Messaging`): webhooks under `/webhooks/...`, their
//!   inbound and outbox workers started by [`Warmline::open`] and stopped by
//!   [`Warmline::close`].
//! - Direct Line (`warmline_channels::directline`): Microsoft Web Chat under `/v3/directline`,
//!   mounted when its secret is set.
//!
//! ```text
//! HTTP ─► limits (rate, in-flight, body size) ─► channels::rest ─► dialog::Dialog
//!                                                   store (SQLite) ◄─┘   └─► retrieval (tantivy)
//! ```

pub mod cli;
pub mod editor;
pub mod http;
pub mod insights;
pub mod journeys;
pub mod limits;
pub mod quality;
pub mod telemetry;

use anyhow::Context;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::get;
use metrics_exporter_prometheus::PrometheusHandle;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;
use warmline_channels::directline::{DirectLine, DirectLineConfig};
use warmline_channels::widget::{AccessKey, WidgetApi};
use warmline_channels::{Messaging, MessagingConfig};
use warmline_dialog::events::{InProcessBus, Publishing};
use warmline_dialog::insights::Insights;
use warmline_dialog::moments::{Detector, Policy};
use warmline_dialog::routing::Routing;
use warmline_dialog::summary::Summarizer;
use warmline_dialog::switchboard::{Sweeper, Switchboard};
use warmline_dialog::{Dialog, DialogConfig, Grounded};
use warmline_domain::{ConversationStore, Embedder, EventBus, Generator, NoOutbound, Outbound};
use warmline_models::{ChatModel, EmbedderHandle, GeneratorHandle, Manifest, MiniLm, Role};
use warmline_retrieval::watch::WatchHandle;
use warmline_retrieval::{
    ArticleProblem, DenseIndex, KnowledgeBase, KnowledgeIndex, Phase, Retrieval, SyncReport,
};
use warmline_store::{Durability, SqliteStore};

pub use limits::HttpLimits;

/// How often waiting customers are checked for the callback offer and auto-assignment.
const SWEEP_EVERY: std::time::Duration = std::time::Duration::from_secs(2);
/// Longest wait for a generated handoff summary (the quoted one is shown meanwhile).
const SUMMARY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
/// Handoff summaries generated at once; more keep the quoted summary.
const SUMMARIES_AT_ONCE: usize = 2;
/// Default days without a new contact for a durable bot resolution.
pub const DURABLE_DAYS: i64 = 7;
/// Agent console websockets open at once.
const MAX_AGENT_SOCKETS: usize = 512;

/// What a server needs to start.
#[derive(Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub knowledge: PathBuf,
    /// Base of the links in citations, e.g. `https://help.example.com`.
    pub public_url: String,
    pub durability: Durability,
    /// Re-index when article files change.
    pub watch: bool,
    /// Semantic search with this embedder (hybrid ranking); `None`: words only (BM25).
    pub embedder: Option<Arc<dyn Embedder>>,
    /// Generated, verified answers with this model (needs the embedder too); `None`:
    /// extractive answers only.
    pub generator: Option<Arc<dyn Generator>>,
    /// Where customers are looked up; `None`: the built-in CRM on the store's tables.
    pub crm: Option<Arc<dyn warmline_domain::crm::CrmConnector>>,
    /// Messaging apps (WhatsApp, Telegram, SMS, Slack): those configured are mounted under
    /// `/webhooks/...` and their workers run.
    pub messaging: MessagingConfig,
    /// Direct Line for Microsoft Web Chat (`/v3/directline`); `None`: not mounted (404).
    pub directline: Option<DirectLineConfig>,
}

impl Settings {
    /// A server on `data_dir` for the `knowledge` folder with every option at its quiet
    /// default: words-only search, quoted answers, the built-in CRM, no messaging apps, no
    /// file watching, links to `http://localhost`. For one-off commands, tests and benches.
    pub fn local(data_dir: &Path, knowledge: &Path) -> Self {
        Self {
            data_dir: data_dir.to_owned(),
            knowledge: knowledge.to_owned(),
            public_url: "http://localhost".into(),
            durability: Durability::Process,
            watch: false,
            embedder: None,
            generator: None,
            crm: None,
            messaging: MessagingConfig::default(),
            directline: None,
        }
    }
}

/// Shared state of the HTTP handlers.
#[derive(Clone)]
pub struct AppState {
    pub dialog: Dialog,
    pub knowledge: KnowledgeBase,
    /// The bare store (no events): for ops routes, the CLI and tests' set-up.
    pub store: Arc<SqliteStore>,
    /// The store as handlers use it: every message stored is published on `bus`.
    pub conversations: Arc<dyn ConversationStore>,
    /// Handoffs routed, published and auto-assigned (see `warmline_dialog::switchboard`).
    pub handoffs: Arc<Switchboard>,
    pub bus: Arc<dyn EventBus>,
    /// Set to `true` at shutdown: the agent console's live feeds close.
    pub closing: Arc<tokio::sync::watch::Sender<bool>>,
    pub metrics: PrometheusHandle,
    /// The running messaging channels, when any is configured.
    pub messaging: Option<Messaging>,
    /// Direct Line, when its secret is set.
    pub directline: Option<DirectLine>,
    /// Content gaps, ratings and the analytics summary.
    pub insights: Insights,
    /// Days without a new contact for a bot resolution to count as durable (dashboard
    /// default; `--durable-days`).
    pub durable_days: i64,
    /// Signs conversation access tokens (the widget's socket); kept in the data dir.
    pub widget_key: AccessKey,
    /// The knowledge editor's routes and what they share with the store watch.
    pub editor: editor::EditorApi,
}

/// An opened Warmline: store, index and watcher, ready to serve.
pub struct Warmline {
    pub state: AppState,
    pub sync: SyncReport,
    /// Mistakes in journey files found at start (those files were skipped).
    pub journey_problems: Vec<warmline_dialog::journey::JourneyError>,
    _watch: Option<WatchHandle>,
    _journey_watch: Option<journeys::JourneyWatch>,
    _sweeper: Sweeper,
}

impl Warmline {
    /// Article files that could not be used, as of the last sync.
    pub fn problems(&self) -> Vec<ArticleProblem> {
        self.state.knowledge.index().catalog().problems.clone()
    }

    /// Stops the messaging workers (what is pending stays queued for the next start) and
    /// closes the store.
    pub async fn close(&self) {
        if let Some(messaging) = &self.state.messaging {
            messaging.shutdown().await;
        }
        self.state.store.close().await;
    }

    /// Opens the data dir (creating it), the store and the index, and brings the index in
    /// step with the knowledge folder. `progress(done, total)` reports indexing.
    pub async fn open(
        settings: &Settings,
        progress: &mut (dyn FnMut(Phase, usize, usize) + Send),
    ) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&settings.data_dir).with_context(|| {
            format!("cannot create the data dir {}", settings.data_dir.display())
        })?;
        let store =
            SqliteStore::open(&settings.data_dir.join("warmline.db"), settings.durability).await?;
        let knowledge = open_knowledge(
            &settings.knowledge,
            Some(&settings.data_dir.join("index")),
            &settings.public_url,
            settings.embedder.clone(),
        )?;
        // Articles kept in the editor's store are laid over the folder's before indexing.
        let served_articles = editor::load_overlay(&store, &knowledge).await?;
        let sync = tokio::task::block_in_place(|| knowledge.resync_with(progress))?;
        let resynced = Arc::new(tokio::sync::Notify::new());
        let watch = if settings.watch {
            let resynced = resynced.clone();
            Some(warmline_retrieval::watch::watch(
                knowledge.clone(),
                move |result| {
                    if result.as_ref().is_ok_and(SyncReport::changed) {
                        resynced.notify_one();
                    }
                    on_resync(result);
                },
            )?)
        } else {
            None
        };
        let store = Arc::new(store);
        let bus: Arc<dyn EventBus> = Arc::new(InProcessBus::default());
        let conversations: Arc<dyn ConversationStore> =
            Arc::new(Publishing::new(store.clone(), bus.clone()));
        let recorded = editor::usage::Recording::spawn(Arc::new(knowledge.clone()), store.clone());
        let mut dialog = Dialog::new(
            conversations.clone(),
            Arc::new(recorded),
            DialogConfig::default(),
        );
        if let (Some(generator), Some(embedder)) = (&settings.generator, &settings.embedder) {
            dialog = dialog.with_grounding(Grounded::new(generator.clone(), embedder.clone()));
        }
        let policy = moments_policy(&settings.knowledge)?;
        let mut switchboard = Switchboard::new(
            store.clone(),
            conversations.clone(),
            bus.clone(),
            routing_policy(&settings.knowledge)?,
            Some(policy.hours().clone()),
        );
        if let Some(generator) = &settings.generator {
            switchboard = switchboard.with_summarizer(Summarizer::new(
                generator.clone(),
                SUMMARY_TIMEOUT,
                SUMMARIES_AT_ONCE,
            ));
        }
        let handoffs = Arc::new(switchboard);
        let sweeper = handoffs.spawn_sweeper(SWEEP_EVERY);
        let crm =
            warmline_crm::BuiltinCrm::new(store.reader_pool().clone(), store.writer_pool().clone());
        let journey_dir = journeys::folder(&settings.knowledge);
        let (journey_library, journey_problems) = journeys::load(&journey_dir);
        let journey_watch = if settings.watch {
            journeys::watch(&journey_dir, journey_library.clone())?
        } else {
            None
        };
        dialog = dialog
            .with_moments(
                Detector::new(policy, settings.embedder.clone())
                    .with_example_cache(&settings.data_dir.join("embeddings")),
            )
            .with_handoffs(handoffs.clone())
            .with_crm(Arc::new(crm))
            .with_journeys(journey_library, store.clone());
        if let Some(embedder) = &settings.embedder {
            dialog = dialog.with_journey_embedder(embedder.clone());
        }
        dialog.warm_up_moments();
        let insights = Insights::start(store.clone(), settings.embedder.clone());
        dialog = dialog.with_insights(insights.clone());
        // Set at shutdown: background tasks and live feeds (agent console, widget, Direct
        // Line) end. One sender for all of them; a dropped one would end them at once.
        let closing = Arc::new(tokio::sync::watch::Sender::new(false));
        insights::spawn_recheck(dialog.clone(), resynced, closing.subscribe());
        insights::spawn_gauges(insights.clone(), DURABLE_DAYS, closing.subscribe());
        let editor = editor::EditorApi::new(
            store.clone(),
            store.clone(),
            knowledge.clone(),
            dialog.clone(),
            served_articles,
        );
        editor::spawn_store_watch(editor.clone(), closing.subscribe());
        let messaging = if settings.messaging.any() {
            Some(Messaging::start(
                settings.messaging.clone(),
                dialog.clone(),
                store.clone(),
                conversations.clone(),
            )?)
        } else {
            None
        };
        if let Some(messaging) = &messaging {
            handoffs.deliver_through(messaging.notices());
        }
        let directline = settings.directline.clone().map(|config| {
            DirectLine::new(
                config,
                &settings.public_url,
                dialog.clone(),
                conversations.clone(),
                bus.clone(),
                closing.subscribe(),
            )
        });
        Ok(Self {
            state: AppState {
                dialog,
                knowledge,
                store,
                conversations,
                handoffs,
                bus,
                closing,
                metrics: telemetry::metrics(),
                messaging,
                directline,
                insights,
                durable_days: DURABLE_DAYS,
                widget_key: AccessKey::load_or_create(&settings.data_dir.join("widget.key"))?,
                editor,
            },
            sync,
            journey_problems,
            _watch: watch,
            _journey_watch: journey_watch,
            _sweeper: sweeper,
        })
    }
}

fn on_resync(result: Result<SyncReport, warmline_retrieval::RetrievalError>) {
    match result {
        Ok(report) if report.changed() => {
            tracing::info!(
                added = report.added,
                updated = report.updated,
                removed = report.removed,
                "knowledge re-indexed"
            );
            metrics::counter!("warmline_knowledge_syncs_total", "result" => "ok").increment(1);
        }
        Ok(_) => {}
        Err(e) => {
            tracing::error!(error = %e, "knowledge re-index failed");
            metrics::counter!("warmline_knowledge_syncs_total", "result" => "error").increment(1);
        }
    }
}

/// Opens the index in `index_dir` (or in memory) for the knowledge folder. With an embedder,
/// passages are also embedded (cached beside the index, in `index_dir/../embeddings`) and
/// searches are hybrid.
pub fn open_knowledge(
    knowledge: &Path,
    index_dir: Option<&Path>,
    public_url: &str,
    embedder: Option<Arc<dyn Embedder>>,
) -> anyhow::Result<KnowledgeBase> {
    let index = match index_dir {
        Some(dir) => KnowledgeIndex::open(dir, public_url)?,
        None => KnowledgeIndex::in_ram(public_url)?,
    };
    let kb = KnowledgeBase::new(index, knowledge);
    Ok(match embedder {
        Some(embedder) => {
            let cache_dir = index_dir.and_then(Path::parent);
            kb.with_dense(DenseIndex::new(embedder, cache_dir)?, Retrieval::HYBRID)
        }
        None => kb,
    })
}

/// The moment-of-truth policy: `<knowledge>/policy/moments.toml` when the knowledge folder
/// has one (a mistake in it stops the start, naming the file, line and setting), else the
/// built-in default.
pub fn moments_policy(knowledge: &Path) -> anyhow::Result<Policy> {
    let path = knowledge.join("policy").join("moments.toml");
    if path.is_file() {
        Ok(Policy::load(&path)?)
    } else {
        tracing::info!(path = %path.display(), "no moment-of-truth policy file: using the built-in one");
        Ok(Policy::default())
    }
}

/// The routing policy: `<knowledge>/policy/routing.toml` when there is one (a mistake in it
/// stops the start, naming the file), else the default (no skills, no auto-assignment).
pub fn routing_policy(knowledge: &Path) -> anyhow::Result<Routing> {
    let path = knowledge.join("policy").join("routing.toml");
    if path.is_file() {
        Ok(Routing::load(&path)?)
    } else {
        tracing::info!(path = %path.display(), "no routing policy file: using the default");
        Ok(Routing::default())
    }
}

/// Loads a chat model of the manifest from `models_dir` onto its own thread (at most `queue`
/// requests wait for it) and caches the grounded-answer system prompt.
pub fn load_generator(
    models_dir: &Path,
    model_id: &str,
    queue: usize,
    options: warmline_models::llama::LoadOptions,
) -> anyhow::Result<Arc<dyn Generator>> {
    let manifest = Manifest::builtin();
    let spec = manifest
        .model(model_id)
        .filter(|m| m.role == Role::Generator)
        .with_context(|| format!("{model_id} is not a chat model of the manifest"))?;
    let located = warmline_models::locate(models_dir, spec)?;
    let mut model = ChatModel::load_with(
        &located.file(spec.load.as_deref().unwrap_or_default()),
        options,
    )?;
    model.warm_prefix(&warmline_models::generate::system_prefix(
        warmline_dialog::grounded::SYSTEM_PROMPT,
    ))?;
    Ok(Arc::new(GeneratorHandle::spawn(model, &spec.id, queue)?))
}

/// Loads the embedding model of the manifest from `models_dir` onto its own thread. Every file
/// is checked first: a missing or damaged one is an error naming it.
pub fn load_embedder(models_dir: &Path) -> anyhow::Result<Arc<dyn Embedder>> {
    let manifest = Manifest::builtin();
    let spec = manifest
        .models
        .iter()
        .find(|m| m.role == Role::Embedder)
        .context("the model manifest has no embedding model")?;
    let located = warmline_models::locate(models_dir, spec)?;
    let model = MiniLm::load(&located)?;
    Ok(Arc::new(EmbedderHandle::spawn(model, &spec.id)?))
}

/// The whole HTTP surface.
pub fn app(state: AppState, limits: &HttpLimits) -> Router {
    let gate = limits::Gate::new(limits);
    gate.sweep_idle_clients();
    let outbound: Arc<dyn Outbound> = match &state.messaging {
        Some(messaging) => Arc::new(messaging.clone()),
        None => Arc::new(NoOutbound),
    };
    let agents = warmline_channels::agents::AgentApi::new(
        state.handoffs.clone(),
        state.conversations.clone(),
        state.dialog.clone(),
        state.bus.clone(),
        MAX_AGENT_SOCKETS,
    )
    .closing_on(state.closing.subscribe())
    .with_outbound(outbound);
    // Providers' webhooks: not behind the per-client rate limit (a provider sends every
    // customer's messages from a few addresses); the inbound backlog limit protects instead.
    let webhooks = state
        .messaging
        .as_ref()
        .map(Messaging::router)
        .unwrap_or_default();
    // Direct Line's conversation routes share the per-client limits of /v1.
    let directline = state
        .directline
        .as_ref()
        .map(|dl| {
            let gate = gate.clone();
            // A service of its own, so CORS also covers its preflights and fallbacks.
            Router::new().nest_service(
                "/v3/directline",
                dl.router(|routes| {
                    routes.layer(axum::middleware::from_fn_with_state(gate, limits::gate))
                }),
            )
        })
        .unwrap_or_default();
    let insights = warmline_channels::insights::InsightsApi {
        insights: state.insights.clone(),
        handoffs: state.handoffs.clone(),
        durable_days: state.durable_days,
    };
    let widget = WidgetApi::new(
        state.dialog.clone(),
        state.conversations.clone(),
        state.bus.clone(),
        state.widget_key.clone(),
        limits.widget.clone(),
    )
    .closing_on(state.closing.subscribe());
    let api = warmline_channels::rest::router(state.dialog.clone(), state.widget_key.clone())
        .merge(warmline_channels::widget::router(widget))
        .merge(warmline_channels::agents::router(agents))
        .merge(editor::router(state.editor.clone()))
        .merge(warmline_channels::insights::router(insights))
        .method_not_allowed_fallback(warmline_channels::error::method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(gate, limits::gate));
    let app = Router::new()
        .route("/", get(http::home))
        .route("/agent", get(http::agent_console))
        .route("/editor", get(http::editor_page))
        .route("/dashboard", get(http::dashboard))
        .route("/widget.js", get(http::widget_js))
        .route("/healthz", get(http::healthz))
        .route("/readyz", get(http::readyz))
        .route("/metrics", get(http::metrics_page))
        .route("/openapi.json", get(http::openapi))
        .route("/kb", get(http::kb_index))
        .route("/kb/{id}", get(http::kb_article))
        .with_state(state)
        .nest("/v1", api)
        .merge(webhooks)
        .merge(directline)
        .fallback(warmline_channels::error::not_found)
        .method_not_allowed_fallback(warmline_channels::error::method_not_allowed)
        .layer(axum::middleware::from_fn(http::track))
        .layer(DefaultBodyLimit::max(limits.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            limits.request_timeout,
        ));
    // The customer's routes may be called from the sites that embed the widget.
    match limits::widget_cors(&limits.widget.origins) {
        Some(cors) => app.layer(cors),
        None => app,
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then lets running requests finish.
pub async fn run(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down");
}
