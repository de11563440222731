//! Conversation tests as code: `warmline test` runs the sample journeys' scripts against the
//! real dialog manager (they must pass), and reports a script that fails so a person can see
//! which turn and why; `warmline journeys check` names the file and line of a mistake.

mod common;

use common::{run_command, sample_knowledge, warmline_command};

#[test]
fn the_sample_journeys_pass_their_conversation_scripts() {
    let knowledge = sample_knowledge();
    let (ok, out, err) = run_command(
        warmline_command()
            .arg("test")
            .arg(knowledge.join("journeys/tests"))
            .arg("--knowledge")
            .arg(&knowledge),
    );
    assert!(ok, "{out}\n{err}");
    assert!(out.contains(" 0 failed"), "{out}");
    assert!(!out.contains("FAILED"), "{out}");
}

#[test]
fn a_failing_script_names_the_turn_and_what_differed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("wrong.yaml"),
        "name: Expects the wrong step\nturns:\n  - say: where is my order\n    expect:\n      step: email\n      reply_contains: order number\n",
    )
    .unwrap();
    let knowledge = sample_knowledge();
    let (ok, out, _) = run_command(
        warmline_command()
            .arg("test")
            .arg(dir.path())
            .arg("--knowledge")
            .arg(&knowledge),
    );
    assert!(!ok, "{out}");
    assert!(out.contains("FAILED Expects the wrong step"), "{out}");
    assert!(
        out.contains(r#"turn 1 ("where is my order"): step is "order", expected "email""#),
        "{out}"
    );
    assert!(out.contains("1 failed"), "{out}");
}

#[test]
fn journeys_check_lists_the_journeys_and_names_mistakes() {
    let knowledge = sample_knowledge();
    let (ok, out, err) = run_command(
        warmline_command()
            .args(["journeys", "check", "--knowledge"])
            .arg(&knowledge),
    );
    assert!(ok, "{out}{err}");
    assert!(
        out.contains("order-status") && out.contains("no mistakes"),
        "{out}"
    );

    let broken = tempfile::tempdir().unwrap();
    std::fs::create_dir(broken.path().join("journeys")).unwrap();
    std::fs::write(
        broken.path().join("journeys/bad.yaml"),
        "id: bad\ntitle: Bad\ntriggers: [bad]\nsteps:\n  - id: a\n    ask: Email?\n    slot: email\n    type: emial\n",
    )
    .unwrap();
    let (ok, _, err) = run_command(
        warmline_command()
            .args(["journeys", "check", "--knowledge"])
            .arg(broken.path()),
    );
    assert!(!ok);
    assert!(
        err.contains("bad.yaml:8: unknown slot type `emial`"),
        "{err}"
    );
}
