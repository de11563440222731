//! The `warmline` binary as a user runs it.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;

fn warmline() -> Command {
    common::warmline_command()
}

fn output(cmd: &mut Command) -> (bool, String, String) {
    common::run_command(cmd)
}

#[test]
fn help_documents_every_command_and_the_env_vars() {
    let (ok, top, _) = output(warmline().arg("--help"));
    assert!(ok);
    for command in ["serve", "ask", "index"] {
        assert!(top.contains(command), "{top}");
    }
    let (ok, serve, _) = output(warmline().args(["serve", "--help"]));
    assert!(ok);
    for flag in [
        "--addr",
        "WARMLINE_ADDR",
        "--data-dir",
        "WARMLINE_DATA_DIR",
        "--knowledge",
        "WARMLINE_KNOWLEDGE",
        "--rate-limit-rps",
        "--max-body-bytes",
        "--directline-secret",
        "WARMLINE_DIRECTLINE_SECRET",
        "WARMLINE_DIRECTLINE_ORIGINS",
    ] {
        assert!(serve.contains(flag), "{flag} missing from serve --help");
    }
}

#[test]
fn ask_prints_an_answer_with_its_sources() {
    let knowledge = common::sample_knowledge();
    let (ok, out, err) = output(
        warmline()
            .args(["ask", "how do I reset my password?", "--knowledge"])
            .arg(&knowledge),
    );
    assert!(ok, "{err}");
    assert!(out.contains("[1]"), "{out}");
    assert!(out.contains("Sources"), "{out}");
    assert!(out.contains("reset-password"), "{out}");

    let (ok, out, _) = output(
        warmline()
            .args([
                "ask",
                "--json",
                "what is the airspeed of a swallow",
                "--knowledge",
            ])
            .arg(&knowledge),
    );
    assert!(ok);
    let reply: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(reply["kind"], "no_answer");
}

#[test]
fn a_missing_knowledge_folder_is_a_clear_error() {
    let (ok, _, err) = output(warmline().args(["ask", "hi", "--knowledge", "/no/such/folder"]));
    assert!(!ok);
    assert!(err.contains("/no/such/folder"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn index_reports_what_changed() {
    let data = tempfile::tempdir().unwrap();
    let knowledge = common::sample_knowledge();
    let run = || {
        output(
            warmline()
                .arg("index")
                .arg("--knowledge")
                .arg(&knowledge)
                .env("WARMLINE_DATA_DIR", data.path()),
        )
    };
    let (ok, first, err) = run();
    assert!(ok, "{err}");
    assert!(
        first.contains("0 updated, 0 removed, 0 unchanged"),
        "{first}"
    );
    let (ok, second, _) = run();
    assert!(ok);
    assert!(
        second.contains("indexed 0 passages: 0 added, 0 updated, 0 removed"),
        "{second}"
    );
}

#[test]
fn serve_starts_on_any_port_answers_and_stops_on_sigterm() {
    let data = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let mut command = warmline();
    command
        .args(["serve", "--addr", "127.0.0.1:0", "--knowledge"])
        .arg(common::sample_knowledge())
        .arg("--data-dir")
        .arg(data.path());
    // Words only (WARMLINE_NO_EMBEDDINGS from `warmline()`): embedding the whole sample would
    // make start-up time depend on the machine's load. Hybrid search is tested in
    // tests/semantic.rs and tests/answers.rs.
    let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
    // Keep draining stderr for the whole run: a closed pipe would make the server's later
    // writes fail, and its output is what explains a failure.
    let stderr = child.stderr.take().unwrap();
    let (lines_tx, lines_rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let base = loop {
        let line = lines_rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("no banner; the server said:\n{}", seen.join("\n")));
        if let Some(url) = line.trim().strip_prefix("Browser: ") {
            break url.trim_end_matches('/').to_owned();
        }
        seen.push(line);
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ready = rt.block_on(async { reqwest::get(format!("{base}/readyz")).await });
    let ready = ready.unwrap_or_else(|e| {
        let status = child.try_wait().unwrap();
        let rest: Vec<String> = lines_rx.try_iter().collect();
        panic!(
            "{e}; server status {status:?}; it said:\n{}\n{}",
            seen.join("\n"),
            rest.join("\n")
        )
    });
    assert_eq!(ready.status(), reqwest::StatusCode::OK);
    assert!(started.elapsed() < Duration::from_secs(60));

    let kill = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit status {status}");
            break;
        }
        assert!(Instant::now() < deadline, "did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn output_to_a_closed_pipe_ends_quietly() {
    let mut child = warmline()
        .args(["models", "list", "--models-dir"])
        .arg(tempfile::tempdir().unwrap().path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // like `| head -0`
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn agents_are_added_with_a_hashed_password_and_clear_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    let (ok, out, err) = output(
        warmline()
            .args([
                "agents",
                "add",
                "ana",
                "--name",
                "Ana",
                "--skills",
                "billing,Fraud",
            ])
            .args(["--data-dir", data])
            .env("WARMLINE_AGENT_PASSWORD", "a long enough passphrase"),
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("agent ana (Ana) with skills billing,fraud created"),
        "{out}"
    );
    let (ok, _, err) = output(
        warmline()
            .args(["agents", "add", "ana", "--data-dir", data])
            .env("WARMLINE_AGENT_PASSWORD", "another long passphrase"),
    );
    assert!(!ok && err.contains("taken"), "{err}");
    let (ok, _, err) = output(
        warmline()
            .args(["agents", "add", "ben", "--data-dir", data])
            .env("WARMLINE_AGENT_PASSWORD", "short"),
    );
    assert!(!ok && err.contains("at least 12 characters"), "{err}");
    // The password may come on standard input instead.
    let mut child = warmline()
        .args([
            "agents",
            "add",
            "sam",
            "--role",
            "supervisor",
            "--data-dir",
            data,
        ])
        .env_remove("WARMLINE_AGENT_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write as _;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"supervisor passphrase\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("supervisor sam"));
}

#[test]
fn crm_import_loads_the_sample_business_and_names_bad_files() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let sample = common::sample_knowledge().join("crm");
    let run = || {
        output(
            warmline()
                .args(["crm", "import"])
                .arg(&sample)
                .arg("--data-dir")
                .arg(&data),
        )
    };
    let (ok, first, err) = run();
    assert!(ok, "{err}");
    assert!(first.contains("imported 12 customers"), "{first}");
    let (ok, again, _) = run();
    assert!(
        ok && again == first,
        "importing again changes nothing: {again}"
    );
    let bad = dir.path().join("customers.json");
    std::fs::write(&bad, "{\"customers\": [{\"nonsense\": true}]}").unwrap();
    let (ok, _, err) = output(
        warmline()
            .args(["crm", "import"])
            .arg(&bad)
            .arg("--data-dir")
            .arg(&data),
    );
    assert!(!ok && err.contains("customers.json"), "{err}");
}

#[test]
fn serve_refuses_a_broken_crm_config_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("crm.toml");
    std::fs::write(&config, "base_url = 42\n").unwrap();
    let (ok, _, err) = output(
        warmline()
            .args(["serve", "--addr", "127.0.0.1:0", "--crm-http"])
            .arg(&config)
            .arg("--data-dir")
            .arg(dir.path().join("data")),
    );
    assert!(!ok);
    assert!(err.contains("crm.toml"), "{err}");
}

#[test]
fn serve_refuses_a_short_direct_line_secret_and_a_malformed_origin() {
    let dir = tempfile::tempdir().unwrap();
    let serve = |secret: &str, origins: &str| {
        output(
            warmline()
                .args(["serve", "--addr", "127.0.0.1:0", "--data-dir"])
                .arg(dir.path().join("data"))
                .env("WARMLINE_DIRECTLINE_SECRET", secret)
                .env("WARMLINE_DIRECTLINE_ORIGINS", origins),
        )
    };
    let (ok, _, err) = serve("too short", "");
    assert!(!ok);
    assert!(err.contains("at least 16 characters"), "{err}");
    assert!(!err.contains("too short"), "the secret was echoed: {err}");
    let (ok, _, err) = serve(
        "a long enough direct line secret",
        "https://shop.example/path",
    );
    assert!(!ok);
    assert!(err.contains("https://shop.example/path"), "{err}");
}
