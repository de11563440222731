//! `warmline test <dir>` (conversation scripts against the real dialog manager) and
//! `warmline journeys check` (the journey files' load-time checks, for editors and CI).

use super::notice;
use crate::{Settings, Warmline, journeys};
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;
use warmline_dialog::script;

#[derive(Debug, Args)]
pub struct TestArgs {
    /// Folder of conversation scripts (`*.yaml`), e.g. knowledge/journeys/tests.
    pub dir: PathBuf,

    /// Knowledge folder whose articles, journeys, policy and CRM sample (`crm/`) the scripts
    /// run against.
    #[arg(long, env = "WARMLINE_KNOWLEDGE", default_value = "knowledge")]
    pub knowledge: PathBuf,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[arg(long, env = "WARMLINE_KNOWLEDGE", default_value = "knowledge")]
    pub knowledge: PathBuf,
}

/// Checks every journey file; fails listing each mistake as `file:line: message`.
pub fn check(args: CheckArgs) -> anyhow::Result<()> {
    let dir = journeys::folder(&args.knowledge);
    let (library, errors) = warmline_dialog::journey::Library::load_dir(&dir);
    for e in &errors {
        notice(&format!("{e}\n"));
    }
    if !errors.is_empty() {
        anyhow::bail!(
            "{} mistake(s) in the journeys of {}",
            errors.len(),
            dir.display()
        );
    }
    for j in library.journeys() {
        say!("{:<20} {} ({} steps)", j.id, j.title, j.steps.len());
    }
    say!(
        "{} journeys in {}: no mistakes",
        library.journeys().len(),
        dir.display()
    );
    Ok(())
}

/// Runs the scripts on a throwaway data dir, each in a fresh conversation with the sample
/// CRM re-imported and nothing remembered, so scripts do not depend on each other's order.
pub async fn test(args: TestArgs) -> anyhow::Result<()> {
    let scripts = script::load_dir(&args.dir)?;
    let data = tempfile::tempdir().context("cannot create a temporary data dir")?;
    let settings = Settings::local(data.path(), &args.knowledge);
    let warmline = Warmline::open(&settings, &mut |_, _, _| {}).await?;
    for p in &warmline.journey_problems {
        notice(&format!("warning: journey skipped: {p}\n"));
    }
    let store = warmline.state.store.clone();
    let crm_sample = args.knowledge.join("crm");
    let mut failed = 0;
    let mut latencies: Vec<Duration> = Vec::new();
    for (file, script) in &scripts {
        store.forget_all_memories().await?;
        if crm_sample.is_dir() {
            warmline_crm::import::import(store.writer_pool(), &crm_sample).await?;
        }
        let outcome = script::run(&warmline.state.dialog, script).await;
        latencies.extend(&outcome.latencies);
        if outcome.passed() {
            say!(
                "ok     {} ({} turns)",
                outcome.name,
                outcome.latencies.len()
            );
        } else {
            failed += 1;
            say!("FAILED {} ({})", outcome.name, file.display());
            for f in &outcome.failures {
                say!("         {f}");
            }
        }
    }
    latencies.sort();
    let pct = |p: f64| {
        latencies
            .get(((latencies.len() as f64 - 1.0) * p).round() as usize)
            .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
    };
    say!(
        "{} scripts, {} passed, {failed} failed; {} turns, p50 {:.1} ms, p99 {:.1} ms",
        scripts.len(),
        scripts.len() - failed,
        latencies.len(),
        pct(0.5),
        pct(0.99)
    );
    store.close().await;
    if failed > 0 {
        anyhow::bail!("{failed} conversation script(s) failed");
    }
    Ok(())
}
