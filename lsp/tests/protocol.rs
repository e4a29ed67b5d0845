//! The server in-process over its real protocol (framed JSON-RPC over a socket
//! pair): every capability with fixtures, settings, and a random-edit fuzz run.

mod support;

use serde_json::json;
use std::os::unix::net::UnixStream;
use support::client::{self, Client};

/// Starts the server on its own runtime thread; returns a client connected to it.
fn start() -> (Client, std::thread::JoinHandle<()>) {
    no_store();
    let (ours, theirs) = UnixStream::pair().unwrap();
    let handle = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            theirs.set_nonblocking(true).unwrap();
            let stream = tokio::net::UnixStream::from_std(theirs).unwrap();
            let (r, w) = stream.into_split();
            slipway_lsp::serve(r, w).await;
        });
    });
    let reader = ours.try_clone().unwrap();
    (Client::new(reader, ours), handle)
}

/// The server reads its store from `SLIPWAY_ROOT` (else the user's, `~/.local/share/slipway`):
/// in these tests it has none, under `/dev/null` where nothing can be created, so a plan
/// neither reads nor writes the user's store (issue 20). Set once, before any server runs.
fn no_store() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| std::env::set_var("SLIPWAY_ROOT", "/dev/null/slipway-test-without-a-store"));
}

fn stop(mut c: Client, handle: std::thread::JoinHandle<()>) {
    c.shutdown();
    drop(c);
    handle.join().expect("the server thread ends after exit");
}

#[test]
fn every_capability_in_process() {
    let dir = tempfile_dir("caps");
    let (mut c, h) = start();
    client::exercise_all(&mut c, &dir);
    stop(c, h);
    std::fs::remove_dir_all(&dir).unwrap();
}

fn tempfile_dir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("slipway-lsp-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn utf8_positions_when_the_client_offers_them() {
    let (mut c, h) = start();
    let init = c.initialize(
        json!({"general": {"positionEncodings": ["utf-8", "utf-16"]}}),
        json!({"shellcheck": false}),
    );
    assert_eq!(init["capabilities"]["positionEncoding"], "utf-8");
    let uri = "file:///x/Dockerfile";
    c.open(uri, "FROM a\nENV A=\"🚀\" B=1\nRUN echo $B\n");
    c.diagnostics(uri, 1);
    // `$B` after a 4-byte character: UTF-8 column 10 on line 2 is the `$`.
    let h2 = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": {"line": 2, "character": 10}}),
    );
    assert!(h2["contents"]["value"].as_str().unwrap().contains("**B** = `1`"));
    // An edit in UTF-8 columns right after the rocket.
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [
            {"range": {"start": {"line": 1, "character": 11}, "end": {"line": 1, "character": 11}}, "text": "!"}
        ]}),
    );
    c.diagnostics(uri, 2);
    let h3 = c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": {"line": 1, "character": 5}}),
    );
    assert!(h3["contents"]["value"].as_str().unwrap().contains("`🚀!`"), "{h3}");
    stop(c, h);
}

#[test]
fn malformed_initialization_options_start_with_defaults_and_say_why() {
    let (mut c, h) = start();
    c.initialize(json!({}), json!({"slipway": {"shellcheck": false, "severity": 3}}));
    let m = c.notification("window/showMessage");
    assert!(
        m["params"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid slipway settings"),
        "{m}"
    );
    let uri = "file:///defaults/Dockerfile";
    c.open(uri, "FROM a as b\n");
    assert!(c.diagnostics(uri, 1).iter().any(|d| d["code"] == "FromAsCasing"));
    stop(c, h);
}

#[test]
fn settings_change_severities_and_ignore_rules() {
    let (mut c, h) = start();
    c.initialize(
        json!({}),
        json!({"slipway": {"shellcheck": false, "severity": {"FromAsCasing": "error"}}}),
    );
    let uri = "file:///y/Dockerfile";
    c.open(uri, "FROM a as b\nMAINTAINER me\n");
    let d = c.diagnostics(uri, 1);
    let casing = d.iter().find(|x| x["code"] == "FromAsCasing").unwrap();
    assert_eq!(casing["severity"], 1);
    assert!(d.iter().any(|x| x["code"] == "MaintainerDeprecated"));
    c.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"slipway": {"shellcheck": false, "ignore": ["MaintainerDeprecated"]}}}),
    );
    let d = c.diagnostics(uri, 1);
    assert!(!d.iter().any(|x| x["code"] == "MaintainerDeprecated"), "{d:?}");
    assert_eq!(d.iter().find(|x| x["code"] == "FromAsCasing").unwrap()["severity"], 2);
    // A malformed setting is reported, not fatal.
    c.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"slipway": {"shellcheck": "yes"}}}),
    );
    let r = c.request("textDocument/documentSymbol", json!({"textDocument": {"uri": uri}}));
    assert_eq!(r.as_array().unwrap().len(), 1);
    let m = c.notification("window/showMessage");
    assert!(
        m["params"]["message"]
            .as_str()
            .unwrap()
            .contains("invalid slipway settings"),
        "{m}"
    );
    stop(c, h);
}

#[test]
fn shellcheck_findings_arrive_at_exact_positions_and_survive_edits() {
    if slipway_planner::shellcheck::available().is_none() {
        eprintln!("skipped: shellcheck is not installed");
        return;
    }
    let (mut c, h) = start();
    c.initialize(json!({}), json!({"slipway": {"shellcheckDelayMs": 0}}));
    let uri = "file:///z/Dockerfile";
    c.open(uri, "FROM a\nRUN echo $1 \\\n  && cd /x\n");
    let mut found = Vec::new();
    for _ in 0..3 {
        let d = c.diagnostics(uri, 1);
        if d.iter().any(|x| x["source"] == "shellcheck") {
            found = d;
            break;
        }
    }
    let sc = found
        .iter()
        .find(|x| x["code"] == "shellcheck::SC2164")
        .expect("SC2164 on cd");
    assert_eq!(sc["range"]["start"], json!({"line": 2, "character": 5}));
    // An edit above moves it down a line before shellcheck runs again.
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [
            {"range": {"start": {"line": 1, "character": 0}, "end": {"line": 1, "character": 0}}, "text": "ENV A=1\n"}
        ]}),
    );
    let d = c.diagnostics(uri, 2);
    let sc = d
        .iter()
        .find(|x| x["code"] == "shellcheck::SC2164")
        .expect("carried over");
    assert_eq!(sc["range"]["start"], json!({"line": 3, "character": 5}));
    stop(c, h);
}

/// xorshift64*: a seeded generator, so a failure replays.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// A UTF-16 position inside `text` (possibly mid-line, never inside a surrogate pair).
fn random_position(rng: &mut Rng, text: &str) -> (usize, serde_json::Value) {
    let boundaries: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
    let at = not_in_crlf(text, boundaries[rng.below(boundaries.len())]);
    (at, client::position(&text[..at]))
}

/// `at`, moved before the `\r` when it splits a `\r\n` (no position points there: a line's
/// length excludes its line break, so a client never sends one).
fn not_in_crlf(text: &str, at: usize) -> usize {
    if text[..at].ends_with('\r') && text[at..].starts_with('\n') {
        at - 1
    } else {
        at
    }
}

#[test]
fn random_edits_and_requests_never_break_the_server() {
    const PIECES: &[&str] = &[
        "FROM ",
        "alpine",
        " AS ",
        "build",
        "\n",
        "RUN ",
        "echo $A",
        " \\\n",
        "&& ",
        "${B:-x}",
        "COPY ",
        "--from=",
        "--mount=type=cache,target=/x ",
        "<<EOF\n",
        "EOF\n",
        "ENV ",
        "A=1 ",
        "ARG ",
        "\"",
        "'",
        "[\"a\", ",
        "]",
        "é",
        "🚀",
        "# check=skip=",
        "# syntax=x\n",
        "\\",
        "`",
        "{",
        "}",
        "$",
        "=",
        "ONBUILD ",
        "HEALTHCHECK CMD ",
        "\r\n",
        "\t",
        "\u{a0}",
        "\u{2003}",
        "\u{feff}",
        "\u{0}",
        "# escape=`\n",
        "RUN --mount=type=bind,from=build,source=/ ",
        "COPY <<X /x\n",
        "${",
        "$A$B",
        "--",
        ",",
        "LABEL ",
        "WORKDIR /a",
        "USER 0",
        " ",
        "EXPOSE 80",
        "SHELL [\"sh\"]",
        "from",
        "run",
    ];
    const REQUESTS: &[&str] = &[
        "textDocument/hover",
        "textDocument/completion",
        "textDocument/signatureHelp",
        "textDocument/definition",
        "textDocument/references",
        "textDocument/documentHighlight",
        "textDocument/documentSymbol",
        "textDocument/semanticTokens/full",
        "textDocument/semanticTokens/range",
        "textDocument/foldingRange",
        "textDocument/selectionRange",
        "textDocument/formatting",
        "textDocument/codeAction",
        "textDocument/inlayHint",
        "textDocument/codeLens",
        "textDocument/prepareRename",
        "textDocument/rename",
        "textDocument/diagnostic",
    ];
    let (mut c, h) = start();
    c.initialize(json!({}), json!({"slipway": {"shellcheck": false, "codeLens": false}}));
    let uri = "file:///fuzz/Dockerfile";
    let mut text = String::from("FROM alpine AS build\nARG A=1\nRUN echo $A\n");
    c.open(uri, &text);
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let mut version = 1;
    let mut errors = 0;
    for step in 0..3000 {
        // An edit: delete a random range and/or insert random pieces.
        let (a, pa) = random_position(&mut rng, &text);
        let (b, pb) = if text.len() > 1500 {
            // The text has grown: delete a larger run after `a` (keeps it around 1.5 KB).
            let end = text[a..]
                .char_indices()
                .nth(rng.below(1500))
                .map_or(text.len(), |(i, _)| a + i);
            let end = not_in_crlf(&text, end).max(a);
            (end, client::position(&text[..end]))
        } else {
            random_position(&mut rng, &text)
        };
        let prev = text.clone();
        let (s, e, ps, pe) = if a <= b { (a, b, pa, pb) } else { (b, a, pb, pa) };
        let (e, pe) = if e - s > 40 && text.len() <= 1500 {
            (s, ps.clone())
        } else {
            (e, pe)
        };
        let mut insert = String::new();
        for _ in 0..rng.below(4) {
            insert.push_str(PIECES[rng.below(PIECES.len())]);
        }
        text.replace_range(s..e, &insert);
        version += 1;
        let mut changes = vec![json!({"range": {"start": ps, "end": pe}, "text": insert})];
        if step % 5 == 2 {
            // Two edits in one notification (the server merges them into one re-parse).
            let (at, p) = random_position(&mut rng, &text);
            let to = text[at..]
                .char_indices()
                .nth(rng.below(24))
                .map_or(text.len(), |(i, _)| at + i);
            let to = not_in_crlf(&text, to).max(at);
            let q = client::position(&text[..to]);
            let piece = PIECES[rng.below(PIECES.len())];
            text.replace_range(at..to, piece);
            changes.push(json!({"range": {"start": p, "end": q}, "text": piece}));
        }
        c.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": changes.clone()}),
        );
        // Now and then the whole text, as some clients send.
        if step % 500 == 499 {
            version += 1;
            c.notify(
                "textDocument/didChange",
                json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [{"text": text}]}),
            );
        }
        let (_, pos) = random_position(&mut rng, &text);
        let method = REQUESTS[rng.below(REQUESTS.len())];
        let end = client::position(&text);
        let params = match method {
            "textDocument/documentSymbol"
            | "textDocument/semanticTokens/full"
            | "textDocument/foldingRange"
            | "textDocument/codeLens"
            | "textDocument/diagnostic" => json!({"textDocument": {"uri": uri}}),
            "textDocument/semanticTokens/range" | "textDocument/inlayHint" => {
                json!({"textDocument": {"uri": uri}, "range": {"start": pos, "end": end}})
            }
            "textDocument/selectionRange" => json!({"textDocument": {"uri": uri}, "positions": [pos]}),
            "textDocument/formatting" => {
                json!({"textDocument": {"uri": uri}, "options": {"tabSize": 4, "insertSpaces": true}})
            }
            "textDocument/codeAction" => {
                json!({"textDocument": {"uri": uri}, "range": {"start": pos, "end": pos}, "context": {"diagnostics": []}})
            }
            "textDocument/references" => {
                json!({"textDocument": {"uri": uri}, "position": pos, "context": {"includeDeclaration": true}})
            }
            "textDocument/rename" => json!({"textDocument": {"uri": uri}, "position": pos, "newName": "renamed"}),
            _ => json!({"textDocument": {"uri": uri}, "position": pos}),
        };
        {
            // What the server reports for the edited text (parsed again only around the
            // edits) is what a fresh analysis of the same text reports.
            let pulled = c.request("textDocument/diagnostic", json!({"textDocument": {"uri": uri}}));
            let mut got: Vec<(String, serde_json::Value)> = pulled["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| {
                    (
                        d["code"].as_str().unwrap_or("").to_string(),
                        d["range"]["start"].clone(),
                    )
                })
                .collect();
            let fresh = slipway_lsp::analysis::Analysis::new(text.clone(), &Default::default());
            let mut want: Vec<(String, serde_json::Value)> = fresh
                .diagnostics
                .iter()
                .map(|d| (d.code.to_string(), client::position(&text[..d.span.start])))
                .collect();
            let key = |x: &(String, serde_json::Value)| format!("{}{}", x.0, x.1);
            got.sort_by_key(key);
            want.sort_by_key(key);
            assert_eq!(
                got, want,
                "step {step}: {text:?}\nbefore: {prev:?}\nchanges: {changes:?}"
            );
        }
        let r = c.call(method, params);
        if let Some(err) = r.get("error") {
            // Only refusals with a message (e.g. nothing to rename here), never internal errors.
            assert_ne!(
                err["code"], -32603,
                "internal error on {method} at step {step}: {err}\n{text:?}"
            );
            errors += 1;
        }
        if method == "textDocument/formatting" {
            // Formatting edits must apply cleanly to the client's text.
            let edits = r["result"].as_array().cloned().unwrap_or_default();
            let _ = client::apply_edits(&text, &edits);
        }
        c.notifications.clear();
    }
    // The server's copy of the text matches ours: same symbols as a fresh analysis.
    let syms = c.request("textDocument/documentSymbol", json!({"textDocument": {"uri": uri}}));
    let fresh = slipway_lsp::analysis::Analysis::new(text.clone(), &Default::default());
    assert_eq!(
        syms.as_array().unwrap().len(),
        slipway_lsp::analysis::outline::symbols(&fresh).len(),
        "{text:?}"
    );
    assert!(errors < 3000);
    stop(c, h);
}

#[test]
fn typing_a_file_through_invalid_states_keeps_diagnostics_in_step() {
    let (mut c, h) = start();
    c.initialize(json!({}), json!({"slipway": {"shellcheck": false}}));
    let uri = "file:///typing/Dockerfile";
    c.open(uri, "");
    let first = c.diagnostics(uri, 1);
    assert!(
        first.iter().any(|d| d["code"] == "slipway::syntax::no-instructions"),
        "{first:?}"
    );
    let target =
        "FROM alpine:3.20 AS build\nRUN --mount=type=cache,target=/c echo \"é 🚀\" \\\n    && ls\nFROM scratch\nCOPY --from=build /a /b\n";
    let mut typed = String::new();
    let mut version = 1;
    let mut saw_error_midway = false;
    for ch in target.chars() {
        let pos = client::position(&typed);
        typed.push(ch);
        version += 1;
        c.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": [
                {"range": {"start": pos, "end": pos}, "text": ch.to_string()}
            ]}),
        );
        let d = c.diagnostics(uri, version);
        saw_error_midway |= d.iter().any(|x| x["severity"] == 1);
    }
    assert!(saw_error_midway, "half-typed instructions are errors");
    let last = c.diagnostics_now(uri, version);
    assert!(last.iter().all(|x| x["severity"] != 1), "{last:?}");
    stop(c, h);
}

#[test]
fn a_client_that_pulls_diagnostics_gets_none_pushed() {
    // Pushing as well would show every finding twice (VS Code keeps both collections).
    let (mut c, h) = start();
    c.initialize(
        json!({"textDocument": {"diagnostic": {}}, "workspace": {"diagnostics": {"refreshSupport": true}}}),
        json!({"slipway": {"shellcheck": true, "shellcheckDelayMs": 0, "codeLens": false}}),
    );
    let uri = "file:///pull/Dockerfile";
    c.open(uri, "FROM alpine\nRUN echo $1 && cd /x\nCMD run\n");
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [
            {"range": {"start": {"line": 2, "character": 4}, "end": {"line": 2, "character": 7}}, "text": "serve"}
        ]}),
    );
    let pulled = c.diagnostics_now(uri, 2);
    assert!(
        pulled.iter().any(|d| d["code"] == "JSONArgsRecommended"),
        "pulled: {pulled:?}"
    );
    if slipway_planner::shellcheck::available().is_some() {
        // shellcheck answers later: the client is asked to pull again, and then has its findings.
        c.notification("workspace/diagnostic/refresh");
        let again = c.diagnostics_now(uri, 2);
        assert!(
            again
                .iter()
                .any(|d| d["code"].as_str().is_some_and(|x| x.starts_with("shellcheck::"))),
            "after the refresh: {again:?}"
        );
    } else {
        println!("shellcheck is not installed: the refresh after its findings is not checked");
    }
    // Requests after the edit have been answered, so any push would have come by now.
    c.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": uri}, "position": {"line": 0, "character": 1}}),
    );
    assert!(
        c.notifications
            .iter()
            .all(|n| n["method"] != "textDocument/publishDiagnostics"),
        "{:?}",
        c.notifications
    );
    stop(c, h);
}
