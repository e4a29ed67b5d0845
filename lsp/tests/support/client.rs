//! A small blocking LSP client with real framing (`Content-Length` headers), for
//! the in-process tests (over a socket pair) and the stdio suite (over a child's
//! pipes), and the fixtures and capability walk both run.
#![allow(dead_code)]

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// How long any single answer may take before the server counts as hung.
pub const TIMEOUT: Duration = Duration::from_secs(30);

pub struct Client {
    writer: Box<dyn Write + Send>,
    rx: Receiver<Value>,
    next_id: i64,
    /// Notifications received and not yet consumed, in order.
    pub notifications: Vec<Value>,
}

/// Reads one framed message; `None` at end of stream.
pub fn read_message(r: &mut impl BufRead) -> Option<Value> {
    let mut len = None;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some(v) = line.strip_prefix("Content-Length:") {
            len = v.trim().parse::<usize>().ok();
        }
    }
    let mut body = vec![0; len?];
    r.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

impl Client {
    pub fn new(reader: impl Read + Send + 'static, writer: impl Write + Send + 'static) -> Client {
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut r = BufReader::new(reader);
            while let Some(msg) = read_message(&mut r) {
                if tx.send(msg).is_err() {
                    break;
                }
            }
        });
        Client {
            writer: Box::new(writer),
            rx,
            next_id: 0,
            notifications: Vec::new(),
        }
    }

    pub fn send(&mut self, msg: &Value) {
        let body = serde_json::to_string(msg).unwrap();
        write!(self.writer, "Content-Length: {}\r\n\r\n{body}", body.len()).expect("write to the server");
        self.writer.flush().expect("flush to the server");
    }

    fn next(&mut self, deadline: Instant) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        match self.rx.recv_timeout(left) {
            Ok(v) => v,
            Err(RecvTimeoutError::Timeout) => panic!("the server stopped answering"),
            Err(RecvTimeoutError::Disconnected) => panic!("the server closed its output"),
        }
    }

    /// Handles a message that is not the awaited response: answers server requests
    /// (with null) and keeps them, keeps notifications.
    fn other(&mut self, msg: Value) {
        if msg.get("method").is_some() && msg.get("id").is_some() {
            let id = msg["id"].clone();
            self.send(&json!({"jsonrpc": "2.0", "id": id, "result": null}));
            self.notifications.push(msg);
        } else if msg.get("method").is_some() {
            self.notifications.push(msg);
        }
    }

    /// Sends a request and returns the whole response (`result` or `error`).
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let deadline = Instant::now() + TIMEOUT;
        loop {
            let msg = self.next(deadline);
            if msg.get("id") == Some(&json!(id)) && msg.get("method").is_none() {
                return msg;
            }
            self.other(msg);
        }
    }

    /// Sends a request and returns its result; panics on an error response.
    pub fn request(&mut self, method: &str, params: Value) -> Value {
        let r = self.call(method, params);
        assert!(r.get("error").is_none(), "{method} failed: {r}");
        r["result"].clone()
    }

    pub fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Waits for `textDocument/publishDiagnostics` of `uri` at `version`.
    pub fn diagnostics(&mut self, uri: &str, version: i64) -> Vec<Value> {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(i) = self.notifications.iter().position(|n| {
                n["method"] == "textDocument/publishDiagnostics"
                    && n["params"]["uri"] == uri
                    && n["params"]["version"] == json!(version)
            }) {
                let n = self.notifications.remove(i);
                // Drop older publications of the same document.
                self.notifications
                    .retain(|m| !(m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == uri));
                return n["params"]["diagnostics"].as_array().cloned().unwrap_or_default();
            }
            let msg = self.next(deadline);
            self.other(msg);
        }
    }

    /// Waits for a notification with `method` and returns it.
    pub fn notification(&mut self, method: &str) -> Value {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(i) = self.notifications.iter().position(|n| n["method"] == method) {
                return self.notifications.remove(i);
            }
            let msg = self.next(deadline);
            self.other(msg);
        }
    }

    /// The current diagnostics of `uri` by pull (`textDocument/diagnostic`).
    pub fn diagnostics_now(&mut self, uri: &str, _version: i64) -> Vec<Value> {
        let r = self.request("textDocument/diagnostic", json!({"textDocument": {"uri": uri}}));
        r["items"].as_array().cloned().unwrap_or_default()
    }

    pub fn initialize(&mut self, capabilities: Value, options: Value) -> Value {
        let r = self.request(
            "initialize",
            json!({"processId": null, "rootUri": null, "capabilities": capabilities, "initializationOptions": options}),
        );
        self.notify("initialized", json!({}));
        r
    }

    pub fn open(&mut self, uri: &str, text: &str) {
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri, "languageId": "dockerfile", "version": 1, "text": text}}),
        );
    }

    pub fn shutdown(&mut self) {
        self.request("shutdown", Value::Null);
        self.notify("exit", Value::Null);
    }
}

/// Splits a fixture at its `$0` marker: the text and the marker's (line, UTF-16 column).
pub fn cursor(fixture: &str) -> (String, Value) {
    let at = fixture.find("$0").expect("fixture has a $0 marker");
    let text = fixture.replacen("$0", "", 1);
    (text, position(&fixture[..at]))
}

/// The LSP position (UTF-16) at the end of `prefix`.
pub fn position(prefix: &str) -> Value {
    let line = prefix.matches('\n').count();
    let last = prefix.rsplit('\n').next().unwrap_or("");
    json!({"line": line, "character": last.encode_utf16().count()})
}

/// Applies LSP text edits (UTF-16 positions) to `text`.
pub fn apply_edits(text: &str, edits: &[Value]) -> String {
    let offset = |p: &Value| -> usize {
        let (line, ch) = (
            p["line"].as_u64().unwrap() as usize,
            p["character"].as_u64().unwrap() as usize,
        );
        let start: usize = text.split_inclusive('\n').take(line).map(str::len).sum();
        let mut units = 0;
        for (i, c) in text[start..].char_indices() {
            if units >= ch || c == '\n' {
                return start + i;
            }
            units += c.len_utf16();
        }
        text.len()
    };
    let mut spans: Vec<(usize, usize, String)> = edits
        .iter()
        .map(|e| {
            (
                offset(&e["range"]["start"]),
                offset(&e["range"]["end"]),
                e["newText"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    spans.sort_by_key(|s| (s.0, s.1));
    let mut out = text.to_string();
    for (s, e, t) in spans.iter().rev() {
        out.replace_range(*s..*e, t);
    }
    out
}

fn td(uri: &str) -> Value {
    json!({"uri": uri})
}

fn at(uri: &str, pos: &Value) -> Value {
    json!({"textDocument": td(uri), "position": pos})
}

/// Opens `fixture` (with a `$0` marker) as a new document and returns its text and the marker's position.
pub fn open_fixture(c: &mut Client, uri: &str, fixture: &str) -> (String, Value) {
    let (text, pos) = cursor(fixture);
    c.open(uri, &text);
    (text, pos)
}

fn strs(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .map(|a| a.iter().filter_map(|x| x[key].as_str().map(String::from)).collect())
        .unwrap_or_default()
}

/// Exercises every capability the server advertises, with fixtures and assertions.
/// `dir` is a directory for documents that must exist on disk.
pub fn exercise_all(c: &mut Client, dir: &std::path::Path) {
    let init = c.initialize(
        json!({
            "general": {"positionEncodings": ["utf-16"]},
            "textDocument": {"completion": {"completionItem": {"snippetSupport": true}}}
        }),
        json!({"slipway": {"shellcheck": false}}),
    );
    let caps = &init["capabilities"];
    assert_eq!(caps["positionEncoding"], "utf-16");
    assert_eq!(caps["textDocumentSync"]["change"], 2, "incremental sync");
    for cap in [
        "hoverProvider",
        "completionProvider",
        "signatureHelpProvider",
        "definitionProvider",
        "referencesProvider",
        "documentHighlightProvider",
        "documentSymbolProvider",
        "workspaceSymbolProvider",
        "codeActionProvider",
        "codeLensProvider",
        "documentFormattingProvider",
        "documentRangeFormattingProvider",
        "documentOnTypeFormattingProvider",
        "renameProvider",
        "foldingRangeProvider",
        "selectionRangeProvider",
        "semanticTokensProvider",
        "inlayHintProvider",
        "diagnosticProvider",
        "executeCommandProvider",
    ] {
        assert!(!caps[cap].is_null(), "{cap} advertised");
    }
    let legend = &caps["semanticTokensProvider"]["legend"]["tokenTypes"];
    assert_eq!(legend[0], "keyword");

    // Diagnostics, pushed with the version and pulled; non-ASCII text before the finding.
    let uri = "file:///nonexistent/a/Dockerfile";
    let (text, _) = open_fixture(c, uri, "# é 🚀\nFROM alpine as build$0\nCOPY --form=x a b\n");
    let diags = c.diagnostics(uri, 1);
    let codes: Vec<String> = diags
        .iter()
        .filter_map(|d| d["code"].as_str().map(String::from))
        .collect();
    assert!(codes.contains(&"FromAsCasing".to_string()), "{codes:?}");
    assert!(codes.contains(&"slipway::flag::unknown".to_string()), "{codes:?}");
    let casing = diags.iter().find(|d| d["code"] == "FromAsCasing").unwrap();
    assert_eq!(casing["range"]["start"], json!({"line": 1, "character": 12}));
    let pulled = c.request("textDocument/diagnostic", json!({"textDocument": td(uri)}));
    assert_eq!(pulled["kind"], "full");
    assert_eq!(pulled["items"].as_array().unwrap().len(), diags.len());

    // An incremental edit: fix the flag; the diagnostic goes away in version 2.
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [
            {"range": {"start": {"line": 2, "character": 7}, "end": {"line": 2, "character": 11}}, "text": "from"}
        ]}),
    );
    let diags = c.diagnostics(uri, 2);
    assert!(
        !diags.iter().any(|d| d["code"] == "slipway::flag::unknown"),
        "{diags:?}"
    );

    // Code actions: the quick fix for FromAsCasing and the check=skip suppression.
    let acts = c.request(
        "textDocument/codeAction",
        json!({"textDocument": td(uri), "range": casing["range"], "context": {"diagnostics": [casing]}}),
    );
    let titles = strs(&acts, "title");
    assert!(titles.iter().any(|t| t.contains("Skip FromAsCasing")), "{titles:?}");
    let fix = acts
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["kind"] == "quickfix" && a["isPreferred"] == true)
        .expect("a preferred quick fix");
    let edits = fix["edit"]["changes"][uri].as_array().unwrap();
    let fixed = apply_edits(&text.replace("--form", "--from"), edits);
    assert!(fixed.contains("FROM alpine AS build"), "{fixed}");
    c.notify("textDocument/didClose", json!({"textDocument": td(uri)}));

    // Hover on a variable use shows its value and where it was set.
    let uri = "file:///nonexistent/b/Dockerfile";
    let (_, pos) = open_fixture(
        c,
        uri,
        "ARG V=3.20\nFROM alpine:${V}\nARG V\nENV É=é HOME=/h\nRUN echo $V $HO$0ME\n",
    );
    let h = c.request("textDocument/hover", at(uri, &pos));
    let md = h["contents"]["value"].as_str().unwrap();
    assert!(md.contains("**HOME** = `/h`"), "{md}");
    assert!(md.contains("ENV on line 4"), "{md}");
    // UTF-16 range of `$HOME` on a line after non-ASCII text.
    assert_eq!(h["range"]["start"], json!({"line": 4, "character": 12}));

    // Completion: instructions, flags, variables; snippets offered.
    let (_, pos) = cursor("ARG V=3.20\nFROM alpine:${V}\nARG V\nENV É=é HOME=/h\nRUN echo $V $HO$0ME\n");
    let items = c.request("textDocument/completion", at(uri, &pos));
    let labels = strs(&items, "label");
    assert!(
        labels.contains(&"HOME".to_string()) && labels.contains(&"V".to_string()),
        "{labels:?}"
    );
    c.notify("textDocument/didClose", json!({"textDocument": td(uri)}));
    let uri = "file:///nonexistent/c/Dockerfile";
    let (_, pos) = open_fixture(c, uri, "FROM a AS build\nFROM b\nCOPY --$0\n");
    let labels = strs(&c.request("textDocument/completion", at(uri, &pos)), "label");
    assert!(labels.contains(&"--from".to_string()), "{labels:?}");
    let (_, pos) = cursor("FROM a AS build\nFROM b\nCOPY --\n$0");
    let items = c.request("textDocument/completion", at(uri, &pos));
    let from = items.as_array().unwrap().iter().find(|i| i["label"] == "COPY").unwrap();
    assert_eq!(from["insertTextFormat"], 2, "snippet");

    // Signature help.
    let (_, pos) = cursor("FROM a AS build\nFROM b\nCOPY --$0\n");
    let sig = c.request("textDocument/signatureHelp", at(uri, &pos));
    assert!(sig["signatures"][0]["label"].as_str().unwrap().starts_with("COPY"));
    c.notify("textDocument/didClose", json!({"textDocument": td(uri)}));

    // Definition, references, highlight, rename for a stage.
    let uri = "file:///nonexistent/d/Dockerfile";
    let (text, pos) = open_fixture(
        c,
        uri,
        "FROM alpine AS build\nRUN make\nFROM build AS test\nCOPY --from=bu$0ild /a /b\n",
    );
    let def = c.request("textDocument/definition", at(uri, &pos));
    assert_eq!(def[0]["range"]["start"], json!({"line": 0, "character": 15}));
    let refs = c.request(
        "textDocument/references",
        json!({"textDocument": td(uri), "position": pos, "context": {"includeDeclaration": true}}),
    );
    assert_eq!(refs.as_array().unwrap().len(), 3);
    let hl = c.request("textDocument/documentHighlight", at(uri, &pos));
    assert_eq!(hl.as_array().unwrap().len(), 3);
    let prep = c.request("textDocument/prepareRename", at(uri, &pos));
    assert_eq!(prep["start"], json!({"line": 3, "character": 12}));
    let ren = c.request(
        "textDocument/rename",
        json!({"textDocument": td(uri), "position": pos, "newName": "compile"}),
    );
    let renamed = apply_edits(&text, ren["changes"][uri].as_array().unwrap());
    assert_eq!(
        renamed,
        "FROM alpine AS compile\nRUN make\nFROM compile AS test\nCOPY --from=compile /a /b\n"
    );
    let bad = c.call(
        "textDocument/rename",
        json!({"textDocument": td(uri), "position": pos, "newName": "Not Valid"}),
    );
    assert!(
        bad["error"]["message"].as_str().unwrap().contains("invalid name"),
        "{bad}"
    );

    // Symbols: stages with their instructions; workspace symbols across open files.
    let syms = c.request("textDocument/documentSymbol", json!({"textDocument": td(uri)}));
    assert_eq!(strs(&syms, "name"), ["build", "test"]);
    assert_eq!(strs(&syms[0]["children"], "name"), ["FROM", "RUN"]);
    let ws = c.request("workspace/symbol", json!({"query": "tes"}));
    assert_eq!(strs(&ws, "name"), ["test"]);

    // Folding and selection ranges.
    let folds = c.request("textDocument/foldingRange", json!({"textDocument": td(uri)}));
    assert!(folds
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["startLine"] == 0 && f["endLine"] == 1));
    let sel = c.request(
        "textDocument/selectionRange",
        json!({"textDocument": td(uri), "positions": [pos]}),
    );
    assert_eq!(sel[0]["range"]["start"], json!({"line": 3, "character": 12}));
    assert!(sel[0]["parent"].is_object());
    c.notify("textDocument/didClose", json!({"textDocument": td(uri)}));

    // Semantic tokens: full, then a delta after an edit, and a range.
    let uri = "file:///nonexistent/e/Dockerfile";
    open_fixture(c, uri, "FROM a\nENV X=1\nRUN <<EOF\necho ${X} é\nEOF\n$0");
    let full = c.request("textDocument/semanticTokens/full", json!({"textDocument": td(uri)}));
    let data = full["data"].as_array().unwrap().clone();
    assert_eq!(data.len() % 5, 0);
    assert!(data.len() >= 5 * 8);
    c.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": 2}, "contentChanges": [
            {"range": {"start": {"line": 5, "character": 0}, "end": {"line": 5, "character": 0}}, "text": "USER x\n"}
        ]}),
    );
    let delta = c.request(
        "textDocument/semanticTokens/full/delta",
        json!({"textDocument": td(uri), "previousResultId": full["resultId"]}),
    );
    let edits = delta["edits"].as_array().expect("a delta");
    assert_eq!(edits.len(), 1);
    assert_eq!(edits[0]["start"], data.len());
    let range = c.request(
        "textDocument/semanticTokens/range",
        json!({"textDocument": td(uri), "range": {"start": {"line": 3, "character": 0}, "end": {"line": 4, "character": 0}}}),
    );
    // `echo `, `${X}`, ` é`: three tokens on the heredoc line.
    assert_eq!(range["data"].as_array().unwrap().len(), 15);
    c.notify("textDocument/didClose", json!({"textDocument": td(uri)}));

    // Formatting: document, range, on-type.
    let uri = "file:///nonexistent/f/Dockerfile";
    let (text, _) = open_fixture(c, uri, "from  alpine$0\nrun a \\\n&& b\n");
    let edits = c.request(
        "textDocument/formatting",
        json!({"textDocument": td(uri), "options": {"tabSize": 4, "insertSpaces": true}}),
    );
    assert_eq!(
        apply_edits(&text, edits.as_array().unwrap()),
        "FROM alpine\nRUN a \\\n    && b\n"
    );
    let edits = c.request(
        "textDocument/rangeFormatting",
        json!({"textDocument": td(uri), "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 3}},
               "options": {"tabSize": 4, "insertSpaces": true}}),
    );
    assert_eq!(
        apply_edits(&text, edits.as_array().unwrap()),
        "FROM alpine\nrun a \\\n&& b\n",
        "only the first line"
    );
    let edits = c.request(
        "textDocument/onTypeFormatting",
        json!({"textDocument": td(uri), "position": {"line": 2, "character": 0}, "ch": "\n",
               "options": {"tabSize": 4, "insertSpaces": true}}),
    );
    assert_eq!(
        apply_edits(&text, edits.as_array().unwrap()),
        "from  alpine\nRUN a \\\n    && b\n"
    );
    // Refactors: split and convert.
    let acts = c.request(
        "textDocument/codeAction",
        json!({"textDocument": td(uri), "range": {"start": {"line": 1, "character": 1}, "end": {"line": 1, "character": 1}}, "context": {"diagnostics": []}}),
    );
    let titles = strs(&acts, "title");
    assert!(titles.iter().any(|t| t.starts_with("Split RUN")), "{titles:?}");
    assert!(titles.iter().any(|t| t.starts_with("Convert RUN")), "{titles:?}");
    c.notify("textDocument/didClose", json!({"textDocument": td(uri)}));

    // Inlay hints.
    let uri = "file:///nonexistent/g/Dockerfile";
    open_fixture(c, uri, "ARG V=3.20\nFROM alpine:$V\n$0");
    let hints = c.request(
        "textDocument/inlayHint",
        json!({"textDocument": td(uri), "range": {"start": {"line": 0, "character": 0}, "end": {"line": 2, "character": 0}}}),
    );
    assert_eq!(hints[0]["label"], "=3.20");
    assert_eq!(hints[0]["position"], json!({"line": 1, "character": 14}));
    c.notify("textDocument/didClose", json!({"textDocument": td(uri)}));

    // Code lens and the plan command on a file on disk.
    let file = dir.join("Dockerfile");
    std::fs::write(&file, "FROM scratch\nCOPY a /a\n").unwrap();
    std::fs::write(dir.join("a"), "a").unwrap();
    let uri = format!("file://{}", file.display());
    c.open(&uri, "FROM scratch\nCOPY a /a\n");
    let lenses = c.request("textDocument/codeLens", json!({"textDocument": td(&uri)}));
    assert_eq!(lenses[0]["command"]["command"], "slipway.plan");
    let plan = c.call(
        "workspace/executeCommand",
        json!({"command": "slipway.plan", "arguments": [uri]}),
    );
    // Without a store the command says so; with one it returns the steps.
    match plan.get("result") {
        Some(steps) if !steps.is_null() => assert!(steps.as_array().unwrap().iter().all(|s| s["cached"].is_boolean())),
        _ => assert!(plan["error"]["message"].as_str().unwrap().contains("store"), "{plan}"),
    }
    let unknown = c.call("workspace/executeCommand", json!({"command": "nope", "arguments": []}));
    assert!(unknown["error"]["message"]
        .as_str()
        .unwrap()
        .contains("unknown command"));
}
