//! The tower-lsp glue. Notifications mutate the document store synchronously;
//! requests take the current version's analysis (computed once per version, on
//! first use) and call the plain functions of [`crate::analysis`].
//!
//! Diagnostics: after each change a task waits `diagnosticsDelayMs` (0 by default)
//! and publishes the parser/model/lint findings if no newer version arrived
//! meanwhile (bursts of edits are coalesced); shellcheck runs once the document
//! has been quiet for `shellcheckDelayMs`, and its findings are carried across
//! edits (shifted, or dropped where the edit touched them) until it runs again.

use crate::analysis::{self, actions, complete, format, hover, outline, tokens, Analysis, Leftover, StepStatus, World};
use crate::config::{self, Settings};
use crate::outbox::Outbox;
use crate::proto::{self, Conv};
use crate::text::{Encoding, LineIndex};
use slipway_parser::{CheckOptions, Diagnostic};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer};

/// The command that runs a dry-run plan of a document (`slipway plan`).
pub const PLAN_COMMAND: &str = "slipway.plan";

struct Doc {
    version: i32,
    text: String,
    index: LineIndex,
    path: Option<PathBuf>,
    options: Arc<CheckOptions>,
    analysis: Option<Arc<Analysis>>,
    /// Since `analysis` went stale: the last analysis and the edits made to its text since,
    /// as one edit (see [`Pending`]); the next analysis parses again only there.
    base: Option<(Arc<Analysis>, Pending)>,
    /// What is left of the analysis the current one replaced: dropped once the new
    /// diagnostics are out (freeing a big analysis takes a while).
    stale: Option<Leftover>,
    /// shellcheck's findings (suppressions applied), shifted through edits since they were made.
    scripts: Vec<Diagnostic>,
    /// shellcheck's findings per script of the last version checked: the next check runs it
    /// only on the scripts that changed.
    shellcheck: Arc<std::sync::Mutex<slipway_planner::shellcheck::Cache>>,
    tokens: Option<(String, Vec<u32>)>,
    steps: Vec<StepStatus>,
}

/// Edits since an analysis, merged into one: the base text's bytes `start..old_end` are
/// the current text's `start..new_end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pending {
    start: usize,
    old_end: usize,
    new_end: usize,
}

impl Pending {
    /// One edit of the current text: its bytes `span` replaced by `inserted` bytes.
    fn new(span: &std::ops::Range<usize>, inserted: usize) -> Pending {
        Pending {
            start: span.start,
            old_end: span.end,
            new_end: span.start + inserted,
        }
    }

    /// These edits followed by one more (`span` of the text after them, `inserted` bytes).
    fn then(self, span: &std::ops::Range<usize>, inserted: usize) -> Pending {
        // Bytes before `start` are the same in both texts; bytes from `new_end` on are
        // the base's from `old_end` on.
        let end = self.new_end.max(span.end);
        Pending {
            start: self.start.min(span.start),
            old_end: end - self.new_end + self.old_end,
            new_end: end + inserted - span.len(),
        }
    }
}

impl Doc {
    fn analysis(&mut self) -> Arc<Analysis> {
        if self.analysis.is_none() {
            // A bug in the analysis must cost one answer, not the server: an empty
            // analysis stands in (the panic is reported on stderr by the hook).
            let text = self.text.clone();
            let options = self.options.clone();
            let base = self.base.take();
            let (a, stale) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || match base {
                Some((previous, p)) => {
                    let (a, stale) =
                        Analysis::after_edit(text, previous, p.start..p.old_end, p.new_end - p.start, &options);
                    (a, Some(stale))
                }
                None => (Analysis::new(text, &options), None),
            }))
            .unwrap_or_else(|_| (Analysis::new(String::new(), &CheckOptions::default()), None));
            self.stale = stale;
            self.analysis = Some(Arc::new(a));
        }
        self.analysis.clone().expect("just computed")
    }

    /// Applies one change: a range and its replacement, or the whole text.
    fn apply(&mut self, change: TextDocumentContentChangeEvent, enc: Encoding) {
        match change.range {
            None => {
                self.text = change.text;
                self.index = LineIndex::new(&self.text);
                self.scripts.clear();
                self.base = None;
                self.analysis = None;
            }
            Some(range) => {
                let span = Conv {
                    text: &self.text,
                    index: &self.index,
                    enc,
                }
                .span(range);
                self.text.replace_range(span.clone(), &change.text);
                self.index.replace(span.clone(), &change.text);
                shift(&mut self.scripts, &span, change.text.len());
                let inserted = change.text.len();
                self.base = match (self.analysis.take(), self.base.take()) {
                    (Some(a), _) => Some((a, Pending::new(&span, inserted))),
                    (None, Some((a, p))) => Some((a, p.then(&span, inserted))),
                    (None, None) => None,
                };
            }
        }
    }
}

/// Moves diagnostics after an edit of `span` (replaced by `len` bytes); drops those it touched.
fn shift(diags: &mut Vec<Diagnostic>, span: &std::ops::Range<usize>, len: usize) {
    let delta = len as isize - span.len() as isize;
    let moved = |s: &std::ops::Range<usize>| -> Option<std::ops::Range<usize>> {
        if s.end <= span.start && !(s.is_empty() && s.start == span.start) {
            Some(s.clone())
        } else if s.start >= span.end {
            Some((s.start as isize + delta) as usize..(s.end as isize + delta) as usize)
        } else {
            None
        }
    };
    diags.retain_mut(|d| match moved(&d.span) {
        Some(s) => {
            d.span = s;
            d.related.retain_mut(|(r, _)| match moved(r) {
                Some(m) => {
                    *r = m;
                    true
                }
                None => false,
            });
            d.fixes.clear();
            true
        }
        None => false,
    });
}

#[derive(Default)]
struct State {
    docs: HashMap<Uri, Doc>,
    encoding: Encoding,
    settings: Settings,
    snippets: bool,
    code_lens_refresh: bool,
    /// The client pulls diagnostics (`textDocument/diagnostic`), so none are pushed: a
    /// client doing both would show every finding twice.
    pull_diagnostics: bool,
    /// The client can be told to pull again (`workspace/diagnostic/refresh`), e.g. once
    /// shellcheck has answered.
    diagnostic_refresh: bool,
    next_result: u64,
    /// Image names in the store and when they were read.
    images: Option<(Instant, Arc<Vec<String>>)>,
    /// Whether shellcheck is installed (looked up once, not on every keystroke).
    shellcheck: Option<bool>,
    /// Why the initialization options were not usable, told to the user once initialized.
    settings_error: Option<String>,
}

/// The server. Cheap to clone (shared state), so tasks can hold one.
#[derive(Clone)]
pub struct Backend {
    client: Client,
    state: Arc<Mutex<State>>,
    /// Where publications of diagnostics go: written by the server itself, not through
    /// tower-lsp's client (see [`crate::outbox`]).
    outbox: Outbox,
}

impl Backend {
    pub(crate) fn new(client: Client, outbox: Outbox) -> Backend {
        Backend {
            client,
            state: Arc::new(Mutex::new(State::default())),
            outbox,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic in a handler must not take the server down with a poisoned lock.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on a document's current analysis with its text converter.
    fn with_doc<T>(&self, uri: &Uri, f: impl FnOnce(&Analysis, &Conv<'_>, &mut Doc) -> T) -> Option<T> {
        let mut st = self.lock();
        let enc = st.encoding;
        let doc = st.docs.get_mut(uri)?;
        let a = doc.analysis();
        // The analysis holds this version's text; the index is lent out for the call.
        let index = std::mem::take(&mut doc.index);
        let c = Conv {
            text: &a.text,
            index: &index,
            enc,
        };
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&a, &c, &mut *doc)));
        doc.index = index;
        out.ok()
    }

    fn options_for(&self, path: Option<&std::path::Path>, settings: &Settings) -> (CheckOptions, Vec<String>) {
        let (config, errors) = config::check_config(path, settings);
        (
            CheckOptions {
                build_args: settings
                    .build_args
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
                target: settings.target.clone(),
                config,
                ..CheckOptions::default()
            },
            errors,
        )
    }

    /// Publishes the fast diagnostics of `version` unless a newer version arrived.
    async fn publish(&self, uri: Uri, version: i32) {
        let written = {
            let mut st = self.lock();
            let enc = st.encoding;
            let Some(doc) = st.docs.get_mut(&uri) else { return };
            if doc.version != version {
                return;
            }
            let a = doc.analysis();
            let c = Conv {
                text: &doc.text,
                index: &doc.index,
                enc,
            };
            let diags = a.diagnostics.iter().chain(&doc.scripts);
            self.outbox
                .send(proto::publish_frame(&c, uri.as_str(), Some(version), diags))
        };
        // Free once the message is out: freeing a big analysis takes a while, and the
        // event loop would not get back to the writer meanwhile.
        written.await;
        let stale = self.lock().docs.get_mut(&uri).and_then(|d| d.stale.take());
        drop(stale);
    }

    /// After a change: fast diagnostics now (coalesced), shellcheck once quiet.
    fn changed(&self, uri: Uri, version: i32) {
        let (delay, sc_delay, shellcheck, pull) = {
            let mut st = self.lock();
            let installed = *st
                .shellcheck
                .get_or_insert_with(|| slipway_planner::shellcheck::available().is_some());
            (
                st.settings.diagnostics_delay_ms,
                st.settings.shellcheck_delay_ms,
                st.settings.shellcheck && installed,
                st.pull_diagnostics,
            )
        };
        // A pulling client asks after each change by itself.
        if !pull {
            let me = self.clone();
            let u = uri.clone();
            tokio::spawn(async move {
                if delay > 0 {
                    tokio::time::sleep(Duration::from_millis(delay)).await;
                } else {
                    tokio::task::yield_now().await;
                }
                me.publish(u, version).await;
            });
        }
        if shellcheck {
            let me = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(sc_delay)).await;
                me.run_shellcheck(uri, version).await;
            });
        }
    }

    async fn run_shellcheck(&self, uri: Uri, version: i32) {
        let (a, options, cache) = {
            let mut st = self.lock();
            let Some(doc) = st.docs.get_mut(&uri) else { return };
            if doc.version != version {
                return;
            }
            (doc.analysis(), doc.options.clone(), doc.shellcheck.clone())
        };
        let found = tokio::task::spawn_blocking(move || {
            use slipway_planner::shellcheck;
            let Some(config) = shellcheck::Config::detect() else {
                return Vec::new();
            };
            let input = shellcheck::Input {
                text: &a.text,
                file: &a.file,
                model: &a.model,
            };
            let found = shellcheck::check_with(input, &config, &mut cache.lock().unwrap_or_else(|e| e.into_inner()));
            slipway_parser::suppress::apply(&a.text, &a.file, found, &options.config)
        })
        .await
        .unwrap_or_default();
        {
            let mut st = self.lock();
            let Some(doc) = st.docs.get_mut(&uri) else { return };
            if doc.version != version {
                return;
            }
            doc.scripts = found;
        }
        self.deliver(uri, version).await;
    }

    /// New findings for `version` that came without an edit (shellcheck, settings):
    /// published, or a pulling client is asked to pull again.
    async fn deliver(&self, uri: Uri, version: i32) {
        let (pull, refresh) = {
            let st = self.lock();
            (st.pull_diagnostics, st.diagnostic_refresh)
        };
        match (pull, refresh) {
            (false, _) => self.publish(uri, version).await,
            (true, true) => {
                let _ = self.client.workspace_diagnostic_refresh().await;
            }
            // It pulls again after its next change.
            (true, false) => {}
        }
    }

    /// A dry-run plan of the file on disk: cache status per step, for code lenses and hovers.
    fn plan_steps(path: &std::path::Path, settings: &Settings) -> std::result::Result<Vec<StepStatus>, String> {
        let root = slipway_store::default_root();
        if !root.join("index.json").exists() {
            return Err(format!("no image store at {}", root.display()));
        }
        let store = slipway_store::Store::open(root).map_err(|e| e.to_string())?;
        let request = slipway_planner::request::Request {
            dockerfile: Some(path.to_path_buf()),
            context: path.parent().map(PathBuf::from).unwrap_or_else(|| PathBuf::from(".")),
            target: settings.target.clone(),
            build_args: settings
                .build_args
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            ..Default::default()
        };
        match slipway_planner::request::plan_request(&request, &store) {
            Ok(p) => Ok(p
                .plan
                .steps
                .iter()
                .map(|s| StepStatus {
                    line: s.line,
                    cached: s.status == slipway_planner::plan::Status::Hit,
                    reasons: s.reasons.clone(),
                })
                .collect()),
            Err(slipway_planner::request::Failure::Io(e)) => Err(e.to_string()),
            Err(slipway_planner::request::Failure::Invalid { diagnostics, .. }) => Err(format!(
                "the Dockerfile has errors: {}",
                diagnostics.first().map(|d| d.message.as_str()).unwrap_or("")
            )),
        }
    }

    /// Refreshes a document's plan in the background (on open and save).
    fn refresh_plan(&self, uri: Uri) {
        let (path, settings) = {
            let st = self.lock();
            let Some(doc) = st.docs.get(&uri) else { return };
            if !st.settings.code_lens {
                return;
            }
            let Some(p) = doc.path.clone().filter(|p| p.is_file()) else {
                return;
            };
            (p, st.settings.clone())
        };
        let me = self.clone();
        tokio::spawn(async move {
            let steps = tokio::task::spawn_blocking(move || Self::plan_steps(&path, &settings))
                .await
                .ok()
                .and_then(|r| r.ok())
                .unwrap_or_default();
            let refresh = {
                let mut st = me.lock();
                let refresh = st.code_lens_refresh;
                match st.docs.get_mut(&uri) {
                    Some(doc) => doc.steps = steps,
                    None => return,
                }
                refresh
            };
            if refresh {
                let _ = me.client.code_lens_refresh().await;
            }
        });
    }

    fn image_names(&self) -> Arc<Vec<String>> {
        let mut st = self.lock();
        if let Some((at, names)) = &st.images {
            if at.elapsed() < Duration::from_secs(5) {
                return names.clone();
            }
        }
        let names = Arc::new(store_images());
        st.images = Some((Instant::now(), names.clone()));
        names
    }
}

/// Familiar names of the images in the local store (none without a store).
fn store_images() -> Vec<String> {
    let root = slipway_store::default_root();
    if !root.join("index.json").exists() {
        return Vec::new();
    }
    let Ok(store) = slipway_store::Store::open(root) else {
        return Vec::new();
    };
    store
        .refs()
        .unwrap_or_default()
        .into_iter()
        .map(|(n, _)| slipway_store::image::familiar_name(&n).to_string())
        .collect()
}

/// Facts about `name` from the local store.
pub fn store_image(name: &str) -> Option<analysis::ImageInfo> {
    let root = slipway_store::default_root();
    if !root.join("index.json").exists() {
        return None;
    }
    let store = slipway_store::Store::open(root).ok()?;
    let full = slipway_store::image::normalize_name(name).ok()?;
    let desc = store.get_ref(&full).ok()??;
    let manifest: slipway_store::image::Manifest = serde_json::from_slice(&store.get_blob(&desc.digest).ok()?).ok()?;
    let config: slipway_store::image::ImageConfig =
        serde_json::from_slice(&store.get_blob(&manifest.config.digest).ok()?).ok()?;
    Some(analysis::ImageInfo {
        reference: full,
        digest: desc.digest.as_str().to_string(),
        size: manifest.layers.iter().map(|l| l.size).sum(),
        layers: manifest.layers.len(),
        platform: match &config.variant {
            Some(v) => format!("{}/{}/{v}", config.os, config.architecture),
            None => format!("{}/{}", config.os, config.architecture),
        },
        created: config.created.clone(),
        env: config.config.env.clone(),
        entrypoint: config.config.entrypoint.clone(),
        cmd: config.config.cmd.clone(),
    })
}

fn invalid(message: impl Into<String>) -> Error {
    Error::invalid_params(message.into())
}

fn world<'a>(steps: &'a [StepStatus], images: &'a [String]) -> World<'a> {
    World {
        image: &store_image,
        steps,
        images,
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let caps = &params.capabilities;
        let offered = caps
            .general
            .as_ref()
            .and_then(|g| g.position_encodings.clone())
            .unwrap_or_default();
        let (encoding, kind) = if offered.contains(&PositionEncodingKind::UTF8) {
            (Encoding::Utf8, PositionEncodingKind::UTF8)
        } else if offered.contains(&PositionEncodingKind::UTF32) {
            (Encoding::Utf32, PositionEncodingKind::UTF32)
        } else {
            (Encoding::Utf16, PositionEncodingKind::UTF16)
        };
        let snippets = caps
            .text_document
            .as_ref()
            .and_then(|t| t.completion.as_ref())
            .and_then(|c| c.completion_item.as_ref())
            .and_then(|i| i.snippet_support)
            .unwrap_or(false);
        let code_lens_refresh = caps
            .workspace
            .as_ref()
            .and_then(|w| w.code_lens.as_ref())
            .and_then(|c| c.refresh_support)
            .unwrap_or(false);
        let pull_diagnostics = caps.text_document.as_ref().is_some_and(|t| t.diagnostic.is_some());
        let diagnostic_refresh = caps
            .workspace
            .as_ref()
            .and_then(|w| w.diagnostics.as_ref())
            .and_then(|d| d.refresh_support)
            .unwrap_or(false);
        // Malformed options must not keep the server from starting: defaults, and a message.
        let (settings, settings_error) = match params.initialization_options.as_ref().map(Settings::from_json) {
            Some(Ok(s)) => (s, None),
            Some(Err(e)) => (Settings::default(), Some(e)),
            None => (Settings::default(), None),
        };
        {
            let mut st = self.lock();
            st.encoding = encoding;
            st.snippets = snippets;
            st.code_lens_refresh = code_lens_refresh;
            st.pull_diagnostics = pull_diagnostics;
            st.diagnostic_refresh = diagnostic_refresh;
            st.settings = settings;
            st.settings_error = settings_error;
        }
        let legend = proto::legend();
        Ok(InitializeResult {
            server_info: Some(ServerInfo {
                name: "slipway".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            capabilities: ServerCapabilities {
                position_encoding: Some(kind),
                text_document_sync: Some(TextDocumentSyncCapability::Options(TextDocumentSyncOptions {
                    open_close: Some(true),
                    change: Some(TextDocumentSyncKind::INCREMENTAL),
                    save: Some(TextDocumentSyncSaveOptions::Supported(true)),
                    ..Default::default()
                })),
                hover_provider: Some(HoverProviderCapability::Simple(true)),
                completion_provider: Some(CompletionOptions {
                    trigger_characters: Some(["-", "=", "$", "{", ",", " ", "#"].map(String::from).to_vec()),
                    ..Default::default()
                }),
                signature_help_provider: Some(SignatureHelpOptions {
                    trigger_characters: Some(vec![" ".into(), "=".into()]),
                    ..Default::default()
                }),
                definition_provider: Some(OneOf::Left(true)),
                references_provider: Some(OneOf::Left(true)),
                document_highlight_provider: Some(OneOf::Left(true)),
                document_symbol_provider: Some(OneOf::Left(true)),
                workspace_symbol_provider: Some(OneOf::Left(true)),
                code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
                    code_action_kinds: Some(vec![CodeActionKind::QUICKFIX, CodeActionKind::REFACTOR_REWRITE]),
                    ..Default::default()
                })),
                code_lens_provider: Some(CodeLensOptions {
                    resolve_provider: Some(false),
                }),
                document_formatting_provider: Some(OneOf::Left(true)),
                document_range_formatting_provider: Some(OneOf::Left(true)),
                document_on_type_formatting_provider: Some(DocumentOnTypeFormattingOptions {
                    first_trigger_character: "\n".into(),
                    more_trigger_character: None,
                }),
                rename_provider: Some(OneOf::Right(RenameOptions {
                    prepare_provider: Some(true),
                    work_done_progress_options: Default::default(),
                })),
                folding_range_provider: Some(FoldingRangeProviderCapability::Simple(true)),
                selection_range_provider: Some(SelectionRangeProviderCapability::Simple(true)),
                semantic_tokens_provider: Some(SemanticTokensServerCapabilities::SemanticTokensOptions(
                    SemanticTokensOptions {
                        legend,
                        range: Some(true),
                        full: Some(SemanticTokensFullOptions::Delta { delta: Some(true) }),
                        work_done_progress_options: Default::default(),
                    },
                )),
                inlay_hint_provider: Some(OneOf::Left(true)),
                diagnostic_provider: Some(DiagnosticServerCapabilities::Options(DiagnosticOptions {
                    identifier: Some("slipway".into()),
                    inter_file_dependencies: false,
                    workspace_diagnostics: false,
                    work_done_progress_options: Default::default(),
                })),
                execute_command_provider: Some(ExecuteCommandOptions {
                    commands: vec![PLAN_COMMAND.into()],
                    work_done_progress_options: Default::default(),
                }),
                ..Default::default()
            },
            ..Default::default()
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        let error = self.lock().settings_error.take();
        if let Some(e) = error {
            self.client
                .show_message(MessageType::ERROR, format!("{e}; using the default settings"))
                .await;
        }
    }

    async fn shutdown(&self) -> Result<()> {
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let td = params.text_document;
        let path = td.uri.to_file_path().map(|p| p.into_owned());
        let settings = self.lock().settings.clone();
        let (options, errors) = self.options_for(path.as_deref(), &settings);
        {
            let mut st = self.lock();
            st.docs.insert(
                td.uri.clone(),
                Doc {
                    version: td.version,
                    index: LineIndex::new(&td.text),
                    text: td.text,
                    path,
                    options: Arc::new(options),
                    analysis: None,
                    base: None,
                    stale: None,
                    scripts: Vec::new(),
                    shellcheck: Default::default(),
                    tokens: None,
                    steps: Vec::new(),
                },
            );
        }
        for e in errors {
            self.client.show_message(MessageType::WARNING, e).await;
        }
        self.changed(td.uri.clone(), td.version);
        self.refresh_plan(td.uri);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let uri = params.text_document.uri;
        let version = params.text_document.version;
        {
            let mut st = self.lock();
            let enc = st.encoding;
            let Some(doc) = st.docs.get_mut(&uri) else { return };
            // Versions only go forward; a stale change is dropped.
            if version < doc.version {
                return;
            }
            for change in params.content_changes {
                doc.apply(change, enc);
            }
            doc.version = version;
        }
        self.changed(uri, version);
    }

    async fn did_save(&self, params: DidSaveTextDocumentParams) {
        self.refresh_plan(params.text_document.uri);
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        let uri = params.text_document.uri;
        self.lock().docs.remove(&uri);
        self.outbox.send(proto::clear_frame(uri.as_str())).await;
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        let settings = match Settings::from_json(&params.settings) {
            Ok(s) => s,
            Err(e) => {
                self.client.show_message(MessageType::ERROR, e).await;
                return;
            }
        };
        let docs: Vec<(Uri, Option<PathBuf>, i32)> = {
            let mut st = self.lock();
            st.settings = settings.clone();
            st.docs
                .iter()
                .map(|(u, d)| (u.clone(), d.path.clone(), d.version))
                .collect()
        };
        for (uri, path, version) in docs {
            let (options, errors) = self.options_for(path.as_deref(), &settings);
            if let Some(doc) = self.lock().docs.get_mut(&uri) {
                doc.options = Arc::new(options);
                doc.analysis = None;
                // The model and checks of the last analysis were made with the old options.
                doc.base = None;
                doc.scripts.clear();
            }
            for e in errors {
                self.client.show_message(MessageType::WARNING, e).await;
            }
            self.changed(uri.clone(), version);
            if self.lock().pull_diagnostics {
                self.deliver(uri, version).await;
            }
        }
    }

    async fn diagnostic(&self, params: DocumentDiagnosticParams) -> Result<DocumentDiagnosticReportResult> {
        let uri = params.text_document.uri;
        let items = self
            .with_doc(&uri, |a, c, doc| {
                a.diagnostics
                    .iter()
                    .chain(&doc.scripts)
                    .map(|d| proto::diagnostic(c, &uri, d))
                    .collect::<Vec<_>>()
            })
            .ok_or_else(|| invalid("document not open"))?;
        Ok(DocumentDiagnosticReportResult::Report(DocumentDiagnosticReport::Full(
            RelatedFullDocumentDiagnosticReport {
                related_documents: None,
                full_document_diagnostic_report: FullDocumentDiagnosticReport { result_id: None, items },
            },
        )))
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        let p = params.text_document_position_params;
        Ok(self
            .with_doc(&p.text_document.uri, |a, c, doc| {
                let at = c.offset(p.position);
                hover::hover(a, at, &world(&doc.steps, &[])).map(|h| proto::hover(c, &h))
            })
            .flatten())
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        let p = params.text_document_position;
        let needs_images = self
            .with_doc(&p.text_document.uri, |a, c, _| {
                let at = c.offset(p.position);
                let line_start = a.text[..at].rfind('\n').map_or(0, |i| i + 1);
                a.text[line_start..at]
                    .trim_start()
                    .to_ascii_uppercase()
                    .starts_with("FROM")
            })
            .unwrap_or(false);
        let images = if needs_images {
            self.image_names()
        } else {
            Arc::new(Vec::new())
        };
        let snippets = self.lock().snippets;
        Ok(self.with_doc(&p.text_document.uri, |a, c, doc| {
            let at = c.offset(p.position);
            let items = complete::complete(a, at, &world(&doc.steps, &images));
            CompletionResponse::Array(items.iter().map(|i| proto::completion(c, i, snippets)).collect())
        }))
    }

    async fn signature_help(&self, params: SignatureHelpParams) -> Result<Option<SignatureHelp>> {
        let p = params.text_document_position_params;
        Ok(self
            .with_doc(&p.text_document.uri, |a, c, _| {
                let s = outline::signature(a, c.offset(p.position))?;
                let params = s
                    .parameters
                    .iter()
                    .map(|(span, doc)| ParameterInformation {
                        label: ParameterLabel::LabelOffsets([
                            s.label[..span.start].encode_utf16().count() as u32,
                            s.label[..span.end].encode_utf16().count() as u32,
                        ]),
                        documentation: (!doc.is_empty()).then(|| Documentation::String(doc.clone())),
                    })
                    .collect();
                Some(SignatureHelp {
                    signatures: vec![SignatureInformation {
                        label: s.label.clone(),
                        documentation: Some(Documentation::String(s.documentation.clone())),
                        parameters: Some(params),
                        active_parameter: s.active.map(|x| x as u32),
                    }],
                    active_signature: Some(0),
                    active_parameter: s.active.map(|x| x as u32),
                })
            })
            .flatten())
    }

    async fn goto_definition(&self, params: GotoDefinitionParams) -> Result<Option<GotoDefinitionResponse>> {
        let p = params.text_document_position_params;
        let uri = p.text_document.uri.clone();
        Ok(self
            .with_doc(&uri, |a, c, _| {
                let defs = outline::definition(a, c.offset(p.position));
                (!defs.is_empty()).then(|| {
                    GotoDefinitionResponse::Array(defs.iter().map(|s| Location::new(uri.clone(), c.range(s))).collect())
                })
            })
            .flatten())
    }

    async fn references(&self, params: ReferenceParams) -> Result<Option<Vec<Location>>> {
        let p = params.text_document_position;
        let uri = p.text_document.uri.clone();
        let include = params.context.include_declaration;
        Ok(self.with_doc(&uri, |a, c, _| {
            outline::references(a, c.offset(p.position), include)
                .iter()
                .map(|(s, _)| Location::new(uri.clone(), c.range(s)))
                .collect()
        }))
    }

    async fn document_highlight(&self, params: DocumentHighlightParams) -> Result<Option<Vec<DocumentHighlight>>> {
        let p = params.text_document_position_params;
        Ok(self.with_doc(&p.text_document.uri, |a, c, _| {
            outline::references(a, c.offset(p.position), true)
                .iter()
                .map(|(s, def)| DocumentHighlight {
                    range: c.range(s),
                    kind: Some(if *def {
                        DocumentHighlightKind::WRITE
                    } else {
                        DocumentHighlightKind::READ
                    }),
                })
                .collect()
        }))
    }

    async fn prepare_rename(&self, params: TextDocumentPositionParams) -> Result<Option<PrepareRenameResponse>> {
        match self.with_doc(&params.text_document.uri, |a, c, _| {
            outline::prepare_rename(a, c.offset(params.position)).map(|s| PrepareRenameResponse::Range(c.range(&s)))
        }) {
            None => Ok(None),
            Some(Ok(r)) => Ok(Some(r)),
            Some(Err(e)) => Err(invalid(e.0)),
        }
    }

    async fn rename(&self, params: RenameParams) -> Result<Option<WorkspaceEdit>> {
        let p = params.text_document_position;
        let uri = p.text_document.uri.clone();
        match self.with_doc(&uri, |a, c, _| {
            outline::rename(a, c.offset(p.position), &params.new_name)
                .map(|edits| edits.iter().map(|(s, t)| c.edit(s, t)).collect::<Vec<_>>())
        }) {
            None => Ok(None),
            Some(Ok(edits)) => Ok(Some(WorkspaceEdit {
                changes: Some(HashMap::from([(uri, edits)])),
                ..Default::default()
            })),
            Some(Err(e)) => Err(invalid(e.0)),
        }
    }

    async fn document_symbol(&self, params: DocumentSymbolParams) -> Result<Option<DocumentSymbolResponse>> {
        Ok(self.with_doc(&params.text_document.uri, |a, c, _| {
            DocumentSymbolResponse::Nested(outline::symbols(a).iter().map(|s| proto::symbol(c, s)).collect())
        }))
    }

    async fn symbol(&self, params: WorkspaceSymbolParams) -> Result<Option<WorkspaceSymbolResponse>> {
        let uris: Vec<Uri> = self.lock().docs.keys().cloned().collect();
        let mut out = Vec::new();
        for uri in uris {
            let found = self.with_doc(&uri, |a, c, _| {
                outline::workspace_symbols(a, &params.query)
                    .into_iter()
                    .map(|(name, kind, span)| WorkspaceSymbol {
                        name,
                        kind: proto::symbol_kind(kind),
                        tags: None,
                        container_name: None,
                        location: OneOf::Left(Location::new(uri.clone(), c.range(&span))),
                        data: None,
                    })
                    .collect::<Vec<_>>()
            });
            out.extend(found.unwrap_or_default());
        }
        Ok(Some(WorkspaceSymbolResponse::Nested(out)))
    }

    async fn semantic_tokens_full(&self, params: SemanticTokensParams) -> Result<Option<SemanticTokensResult>> {
        let uri = params.text_document.uri;
        let id = {
            let mut st = self.lock();
            st.next_result += 1;
            st.next_result.to_string()
        };
        Ok(self.with_doc(&uri, |a, c, doc| {
            let data = proto::encode_tokens(c, &tokens::tokens(a), None);
            let result = SemanticTokens {
                result_id: Some(id.clone()),
                data: proto::to_semantic_tokens(&data),
            };
            doc.tokens = Some((id, data));
            SemanticTokensResult::Tokens(result)
        }))
    }

    async fn semantic_tokens_full_delta(
        &self,
        params: SemanticTokensDeltaParams,
    ) -> Result<Option<SemanticTokensFullDeltaResult>> {
        let uri = params.text_document.uri;
        let id = {
            let mut st = self.lock();
            st.next_result += 1;
            st.next_result.to_string()
        };
        Ok(self.with_doc(&uri, |a, c, doc| {
            let data = proto::encode_tokens(c, &tokens::tokens(a), None);
            let result = match &doc.tokens {
                Some((prev, old)) if *prev == params.previous_result_id => {
                    SemanticTokensFullDeltaResult::TokensDelta(SemanticTokensDelta {
                        result_id: Some(id.clone()),
                        edits: proto::token_delta(old, &data),
                    })
                }
                _ => SemanticTokensFullDeltaResult::Tokens(SemanticTokens {
                    result_id: Some(id.clone()),
                    data: proto::to_semantic_tokens(&data),
                }),
            };
            doc.tokens = Some((id, data));
            result
        }))
    }

    async fn semantic_tokens_range(
        &self,
        params: SemanticTokensRangeParams,
    ) -> Result<Option<SemanticTokensRangeResult>> {
        Ok(self.with_doc(&params.text_document.uri, |a, c, _| {
            let span = c.span(params.range);
            let data = proto::encode_tokens(c, &tokens::tokens(a), Some(&span));
            SemanticTokensRangeResult::Tokens(SemanticTokens {
                result_id: None,
                data: proto::to_semantic_tokens(&data),
            })
        }))
    }

    async fn folding_range(&self, params: FoldingRangeParams) -> Result<Option<Vec<FoldingRange>>> {
        Ok(self.with_doc(&params.text_document.uri, |a, _, _| {
            outline::folding(a)
                .iter()
                .map(|f| FoldingRange {
                    start_line: f.start_line as u32,
                    end_line: f.end_line as u32,
                    kind: Some(if f.comment {
                        FoldingRangeKind::Comment
                    } else {
                        FoldingRangeKind::Region
                    }),
                    ..Default::default()
                })
                .collect()
        }))
    }

    async fn selection_range(&self, params: SelectionRangeParams) -> Result<Option<Vec<SelectionRange>>> {
        Ok(self.with_doc(&params.text_document.uri, |a, c, _| {
            params
                .positions
                .iter()
                .map(|p| {
                    let spans = outline::selection(a, c.offset(*p));
                    let mut parent: Option<Box<SelectionRange>> = None;
                    for s in spans.iter().rev() {
                        parent = Some(Box::new(SelectionRange {
                            range: c.range(s),
                            parent,
                        }));
                    }
                    parent.map(|b| *b).unwrap_or(SelectionRange {
                        range: Range::new(*p, *p),
                        parent: None,
                    })
                })
                .collect()
        }))
    }

    async fn formatting(&self, params: DocumentFormattingParams) -> Result<Option<Vec<TextEdit>>> {
        Ok(self.with_doc(&params.text_document.uri, |a, c, _| {
            format::format(a).iter().map(|(s, t)| c.edit(s, t)).collect()
        }))
    }

    async fn range_formatting(&self, params: DocumentRangeFormattingParams) -> Result<Option<Vec<TextEdit>>> {
        Ok(self.with_doc(&params.text_document.uri, |a, c, _| {
            format::format_range(a, c.span(params.range))
                .iter()
                .map(|(s, t)| c.edit(s, t))
                .collect()
        }))
    }

    async fn on_type_formatting(&self, params: DocumentOnTypeFormattingParams) -> Result<Option<Vec<TextEdit>>> {
        let p = params.text_document_position;
        Ok(self.with_doc(&p.text_document.uri, |a, c, _| {
            // The line just ended and the new one.
            let at = c.offset(p.position);
            let prev = a.text[..at.saturating_sub(1)].rfind('\n').map_or(0, |i| i + 1);
            let end = a.text[at..].find('\n').map_or(a.text.len(), |i| at + i);
            format::format_range(a, prev..end)
                .iter()
                .map(|(s, t)| c.edit(s, t))
                .collect()
        }))
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let uri = params.text_document.uri.clone();
        Ok(self.with_doc(&uri, |a, c, doc| {
            let span = c.span(params.range);
            let all: Vec<Diagnostic> = a.diagnostics.iter().chain(&doc.scripts).cloned().collect();
            actions::actions(a, span, &all)
                .into_iter()
                .map(|act| {
                    let edits = act.edits.iter().map(|(s, t)| c.edit(s, t)).collect();
                    CodeActionOrCommand::CodeAction(CodeAction {
                        title: act.title,
                        kind: Some(match act.kind {
                            actions::ActionKind::QuickFix => CodeActionKind::QUICKFIX,
                            actions::ActionKind::Rewrite => CodeActionKind::REFACTOR_REWRITE,
                        }),
                        diagnostics: act.diagnostic.map(|d| vec![proto::diagnostic(c, &uri, &d)]),
                        edit: Some(WorkspaceEdit {
                            changes: Some(HashMap::from([(uri.clone(), edits)])),
                            ..Default::default()
                        }),
                        is_preferred: act.preferred.then_some(true),
                        ..Default::default()
                    })
                })
                .collect()
        }))
    }

    async fn inlay_hint(&self, params: InlayHintParams) -> Result<Option<Vec<InlayHint>>> {
        Ok(self.with_doc(&params.text_document.uri, |a, c, doc| {
            let span = c.span(params.range);
            outline::inlay_hints(a, span, &world(&doc.steps, &[]))
                .into_iter()
                .map(|h| InlayHint {
                    position: c.position(h.offset),
                    label: InlayHintLabel::String(h.label),
                    kind: Some(InlayHintKind::TYPE),
                    text_edits: None,
                    tooltip: h.tooltip.map(InlayHintTooltip::String),
                    padding_left: Some(false),
                    padding_right: Some(false),
                    data: None,
                })
                .collect()
        }))
    }

    async fn code_lens(&self, params: CodeLensParams) -> Result<Option<Vec<CodeLens>>> {
        let uri = params.text_document.uri;
        Ok(self.with_doc(&uri, |a, c, doc| {
            let args = Some(vec![serde_json::json!(uri.as_str())]);
            let mut lenses = vec![CodeLens {
                range: Range::new(Position::new(0, 0), Position::new(0, 0)),
                command: Some(Command::new("slipway plan".into(), PLAN_COMMAND.into(), args.clone())),
                data: None,
            }];
            lenses.extend(
                outline::lenses(a, &world(&doc.steps, &[]))
                    .into_iter()
                    .map(|l| CodeLens {
                        range: c.range(&l.span),
                        command: Some(Command::new(l.title, PLAN_COMMAND.into(), args.clone())),
                        data: None,
                    }),
            );
            lenses
        }))
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<LSPAny>> {
        if params.command != PLAN_COMMAND {
            return Err(invalid(format!(
                "unknown command {} (the server offers {PLAN_COMMAND})",
                params.command
            )));
        }
        let uri: Uri = params
            .arguments
            .first()
            .and_then(|v| v.as_str())
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| invalid(format!("{PLAN_COMMAND} takes the document's URI as its argument")))?;
        let (path, settings) = {
            let st = self.lock();
            let path = st
                .docs
                .get(&uri)
                .and_then(|d| d.path.clone())
                .or_else(|| uri.to_file_path().map(|p| p.into_owned()));
            (path, st.settings.clone())
        };
        let path = path.ok_or_else(|| invalid("the document is not a file on disk; save it first"))?;
        let p = path.clone();
        let result = tokio::task::spawn_blocking(move || Self::plan_steps(&p, &settings))
            .await
            .map_err(|e| Error::invalid_params(e.to_string()))?;
        match result {
            Ok(steps) => {
                let hits = steps.iter().filter(|s| s.cached).count();
                let summary = format!(
                    "slipway plan {}: {} steps, {hits} cached, {} to rebuild",
                    path.display(),
                    steps.len(),
                    steps.len() - hits
                );
                self.client.show_message(MessageType::INFO, summary).await;
                let json = serde_json::json!(steps
                    .iter()
                    .map(|s| serde_json::json!({"line": s.line, "cached": s.cached, "reasons": s.reasons}))
                    .collect::<Vec<_>>());
                if let Some(doc) = self.lock().docs.get_mut(&uri) {
                    doc.steps = steps;
                }
                Ok(Some(json))
            }
            Err(e) => {
                self.client
                    .show_message(MessageType::ERROR, format!("slipway plan: {e}"))
                    .await;
                Err(invalid(e))
            }
        }
    }
}
