//! `warmline knowledge import|export` and `warmline tokens add`, as a user runs them: the
//! sample knowledge base goes into the store and comes back out byte for byte; importing
//! again changes nothing; a token printed once works on the editor API.

mod common;

use common::{TestServer, run_command, sample_knowledge, unlimited, warmline_command};
use std::path::Path;
use warmline_domain::ArticleStore;

/// Writes the loyalty article ("every dollar earns POINTS marigold points") into `src` and
/// runs `warmline knowledge import src --data-dir data`.
fn import_loyalty(src: &Path, data: &Path, points: &str) {
    std::fs::write(
        src.join("loyalty.md"),
        format!(
            "---\nid: loyalty-points\ntitle: Loyalty points\n---\n\n## Earning\n\nEvery dollar \
             earns {points} marigold points.\n"
        ),
    )
    .unwrap();
    let (ok, stdout, stderr) = run_command(warmline_command().args([
        "knowledge",
        "import",
        src.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]));
    assert!(ok, "{stdout}{stderr}");
}

fn files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&p).unwrap())
        })
        .collect();
    out.sort();
    out
}

#[test]
fn import_then_export_gives_back_the_same_files_and_reimport_changes_nothing() {
    let data = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let sample = sample_knowledge();
    let (ok, stdout, stderr) = run_command(warmline_command().args([
        "knowledge",
        "import",
        sample.to_str().unwrap(),
        "--data-dir",
        data_dir,
    ]));
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("67 new, 0 updated, 0 unchanged"),
        "{stdout}"
    );

    let (ok, stdout, stderr) = run_command(warmline_command().args([
        "knowledge",
        "export",
        out.path().to_str().unwrap(),
        "--data-dir",
        data_dir,
    ]));
    assert!(ok, "{stdout}{stderr}");
    let original = files(&sample.join("articles"));
    let exported = files(&out.path().join("articles"));
    assert_eq!(original.len(), 67);
    let names = |f: &[(String, Vec<u8>)]| f.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&exported), names(&original));
    for ((name, a), (_, b)) in original.iter().zip(&exported) {
        assert!(a == b, "{name} changed in the round trip");
    }

    // Importing the export again: every article unchanged, no new version.
    let (ok, stdout, stderr) = run_command(warmline_command().args([
        "knowledge",
        "import",
        out.path().to_str().unwrap(),
        "--data-dir",
        data_dir,
    ]));
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stdout.contains("0 new, 0 updated, 67 unchanged"),
        "{stdout}"
    );

    // A changed file is a new version.
    let edited = out.path().join("articles").join("backorders.md");
    let text = std::fs::read_to_string(&edited).unwrap();
    std::fs::write(&edited, format!("{text}\nOne more line.\n")).unwrap();
    let (ok, stdout, _) = run_command(warmline_command().args([
        "knowledge",
        "import",
        out.path().to_str().unwrap(),
        "--data-dir",
        data_dir,
    ]));
    assert!(
        ok && stdout.contains("0 new, 1 updated, 66 unchanged"),
        "{stdout}"
    );
}

#[test]
fn a_broken_file_is_named_and_the_import_fails() {
    let data = tempfile::tempdir().unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("bad.md"), "no front matter here\n").unwrap();
    let (ok, stdout, stderr) = run_command(warmline_command().args([
        "knowledge",
        "import",
        src.path().to_str().unwrap(),
        "--data-dir",
        data.path().to_str().unwrap(),
    ]));
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("bad.md:1:"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_from_the_command_line_works_on_the_editor_api_and_imports_are_served() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let (ok, token, stderr) = run_command(warmline_command().args([
        "tokens",
        "add",
        "--role",
        "editor",
        "--name",
        "ci",
        "--data-dir",
        data_dir,
    ]));
    assert!(ok, "{stderr}");
    assert!(stderr.contains("shown only this once"), "{stderr}");
    let token = token.trim().to_owned();
    let (ok, _, stderr) = run_command(warmline_command().args([
        "tokens",
        "add",
        "--role",
        "agent",
        "--name",
        "x",
        "--data-dir",
        data_dir,
    ]));
    assert!(!ok, "tokens are for the editor's roles: {stderr}");

    // An import into the store is served (as the store's version) after a start.
    let src = tempfile::tempdir().unwrap();
    import_loyalty(src.path(), data.path(), "seven");

    let server = TestServer::start(data.path(), unlimited()).await;
    let client = reqwest::Client::new();
    let me: serde_json::Value = client
        .get(server.url("/v1/editor/me"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["role"], "editor", "{me}");
    let conv = common::open_conversation(&server, serde_json::Value::Null).await;
    let turn = common::customer_says(&server, &conv, "how many marigold points per dollar?").await;
    assert!(
        turn["reply"]["text"]
            .as_str()
            .unwrap()
            .contains("seven marigold"),
        "{turn}"
    );
    let record = server
        .warmline
        .state
        .store
        .article("loyalty-points")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(record.published_version, Some(1));
    server.stop().await;
}

/// `warmline knowledge import` while the server runs (another process writing the same store):
/// the server notices within seconds and serves the imported article, then its next version,
/// with no restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_into_a_running_server_is_served_without_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path(), unlimited()).await;
    // A new customer each time: repeated unanswered questions would bring a person in.
    let ask = async || -> String {
        let conv = common::open_conversation(&server, serde_json::Value::Null).await;
        let turn =
            common::customer_says(&server, &conv, "how many marigold points per dollar?").await;
        turn["reply"]["text"].as_str().unwrap().to_owned()
    };
    assert!(!ask().await.contains("marigold points"), "not known yet");

    let src = tempfile::tempdir().unwrap();
    for points in ["seven", "nine"] {
        import_loyalty(src.path(), data.path(), points);
        let expected = format!("{points} marigold");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
        loop {
            let text = ask().await;
            if text.contains(&expected) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the running server never served the import ({expected}): {text}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }
    server.stop().await;
}
