//! `to_proto` / `from_proto`: analysis data (byte offsets) ↔ LSP types (positions
//! in the negotiated encoding). The only place besides `server` that knows LSP types.

use crate::analysis::{self, complete, outline, tokens};
use crate::outbox::Frame;
use crate::text::{Encoding, LineIndex, Pos};
use slipway_parser::syntax::Span;
use tower_lsp_server::ls_types as lsp;

/// A text with its line index and the session's encoding.
pub struct Conv<'a> {
    pub text: &'a str,
    pub index: &'a LineIndex,
    pub enc: Encoding,
}

impl Conv<'_> {
    pub fn position(&self, offset: usize) -> lsp::Position {
        let p = self.index.position(self.text, offset, self.enc);
        lsp::Position::new(p.line, p.character)
    }

    pub fn range(&self, span: &Span) -> lsp::Range {
        lsp::Range::new(self.position(span.start), self.position(span.end))
    }

    pub fn offset(&self, p: lsp::Position) -> usize {
        self.index.offset(
            self.text,
            Pos {
                line: p.line,
                character: p.character,
            },
            self.enc,
        )
    }

    pub fn span(&self, r: lsp::Range) -> Span {
        let (a, b) = (self.offset(r.start), self.offset(r.end));
        a.min(b)..a.max(b)
    }

    pub fn edit(&self, span: &Span, text: &str) -> lsp::TextEdit {
        lsp::TextEdit::new(self.range(span), text.to_string())
    }
}

/// Where shellcheck's findings are explained, by code (`SC2086`).
const SHELLCHECK_WIKI: &str = "https://www.shellcheck.net/wiki/";

pub fn severity(s: slipway_parser::Severity) -> lsp::DiagnosticSeverity {
    match s {
        slipway_parser::Severity::Error => lsp::DiagnosticSeverity::ERROR,
        slipway_parser::Severity::Warning => lsp::DiagnosticSeverity::WARNING,
        slipway_parser::Severity::Advice => lsp::DiagnosticSeverity::INFORMATION,
    }
}

/// Where a finding is explained: its rule's page, or shellcheck's wiki page for its code.
enum DocUrl {
    Rule(&'static str),
    Shellcheck(&'static str),
}

impl DocUrl {
    fn of(code: &'static str) -> Option<DocUrl> {
        match slipway_parser::rules::find(code) {
            Some(r) => Some(DocUrl::Rule(r.url)),
            None => code.strip_prefix("shellcheck::").map(DocUrl::Shellcheck),
        }
    }
}

impl std::fmt::Display for DocUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DocUrl::Rule(url) => f.write_str(url),
            DocUrl::Shellcheck(code) => write!(f, "{SHELLCHECK_WIKI}{code}"),
        }
    }
}

/// A finding's message as editors show it: the help on a line of its own.
struct Message<'a>(&'a slipway_parser::Diagnostic);

impl std::fmt::Display for Message<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.message)?;
        match &self.0.help {
            Some(help) => write!(f, "\nhelp: {help}"),
            None => Ok(()),
        }
    }
}

/// What reported a finding.
fn source(code: &str) -> &'static str {
    if code.starts_with("shellcheck::") {
        "shellcheck"
    } else {
        "slipway"
    }
}

pub fn diagnostic(c: &Conv<'_>, uri: &lsp::Uri, d: &slipway_parser::Diagnostic) -> lsp::Diagnostic {
    let url = DocUrl::of(d.code).and_then(|u| u.to_string().parse().ok());
    let related: Vec<lsp::DiagnosticRelatedInformation> = d
        .related
        .iter()
        .map(|(span, label)| lsp::DiagnosticRelatedInformation {
            location: lsp::Location::new(uri.clone(), c.range(span)),
            message: label.clone(),
        })
        .collect();
    lsp::Diagnostic {
        range: c.range(&d.span),
        severity: Some(severity(d.severity)),
        code: Some(lsp::NumberOrString::String(d.code.to_string())),
        code_description: url.map(|href| lsp::CodeDescription { href }),
        source: Some(source(d.code).to_string()),
        message: Message(d).to_string(),
        related_information: (!related.is_empty()).then_some(related),
        tags: None,
        data: None,
    }
}

/// A `textDocument/publishDiagnostics` notification, framed, written straight from the
/// analysis's diagnostics: the bytes tower-lsp would send for [`diagnostic`]'s values
/// (its `serde_json::Value` orders keys alphabetically, and so do these structs), without
/// building those values or that tree.
pub fn publish_frame<'d>(
    c: &Conv<'_>,
    uri: &str,
    version: Option<i32>,
    diags: impl IntoIterator<Item = &'d slipway_parser::Diagnostic>,
) -> Frame {
    let diagnostics: Vec<wire::Diagnostic<'_>> = diags.into_iter().map(|d| wire::diagnostic(c, uri, d)).collect();
    // About 700 bytes a diagnostic.
    let hint = 128 + diagnostics.len() * 768;
    let msg = wire::Notification {
        jsonrpc: "2.0",
        method: "textDocument/publishDiagnostics",
        params: wire::PublishParams {
            diagnostics,
            uri,
            version,
        },
    };
    Frame::json(&msg, hint).expect("diagnostics serialize")
}

/// A publication of no diagnostics (unversioned), for a closed document.
pub fn clear_frame(uri: &str) -> Frame {
    let c = Conv {
        text: "",
        index: &LineIndex::default(),
        enc: Encoding::default(),
    };
    publish_frame(&c, uri, None, [])
}

/// The body tower-lsp's client sends for a publication of [`diagnostic`]'s values (through a
/// `serde_json::Value`): what [`publish_frame`] must equal, and what it is timed against.
pub fn tower_lsp_publication(
    c: &Conv<'_>,
    uri: &str,
    version: Option<i32>,
    diags: &[slipway_parser::Diagnostic],
) -> Vec<u8> {
    let uri: lsp::Uri = uri.parse().unwrap();
    let diags = diags.iter().map(|d| diagnostic(c, &uri, d)).collect();
    let params = lsp::PublishDiagnosticsParams::new(uri, diags, version);
    let request = tower_lsp_server::jsonrpc::Request::build("textDocument/publishDiagnostics")
        .params(serde_json::to_value(params).unwrap())
        .finish();
    serde_json::to_vec(&request).unwrap()
}

/// The JSON of a publication of diagnostics, borrowed from the analysis. Fields are
/// declared in alphabetical order (see [`publish_frame`]).
mod wire {
    use super::{Conv, DocUrl, Message};
    use serde::{Serialize, Serializer};

    #[derive(Serialize)]
    pub struct Notification<'a> {
        pub jsonrpc: &'static str,
        pub method: &'static str,
        pub params: PublishParams<'a>,
    }

    #[derive(Serialize)]
    pub struct PublishParams<'a> {
        pub diagnostics: Vec<Diagnostic<'a>>,
        pub uri: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        pub version: Option<i32>,
    }

    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    pub struct Diagnostic<'a> {
        code: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        code_description: Option<CodeDescription>,
        #[serde(serialize_with = "display")]
        message: Message<'a>,
        range: Range,
        #[serde(skip_serializing_if = "Vec::is_empty")]
        related_information: Vec<Related<'a>>,
        severity: super::lsp::DiagnosticSeverity,
        source: &'static str,
    }

    #[derive(Serialize)]
    struct CodeDescription {
        #[serde(serialize_with = "display")]
        href: DocUrl,
    }

    fn display<S: Serializer>(x: &impl std::fmt::Display, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(x)
    }

    #[derive(Serialize)]
    struct Range {
        end: Position,
        start: Position,
    }

    #[derive(Serialize)]
    struct Position {
        character: u32,
        line: u32,
    }

    #[derive(Serialize)]
    struct Related<'a> {
        location: Location<'a>,
        message: &'a str,
    }

    #[derive(Serialize)]
    struct Location<'a> {
        range: Range,
        uri: &'a str,
    }

    fn range(c: &Conv<'_>, span: &slipway_parser::syntax::Span) -> Range {
        let r = c.range(span);
        let pos = |p: super::lsp::Position| Position {
            character: p.character,
            line: p.line,
        };
        Range {
            end: pos(r.end),
            start: pos(r.start),
        }
    }

    pub fn diagnostic<'a>(c: &Conv<'_>, uri: &'a str, d: &'a slipway_parser::Diagnostic) -> Diagnostic<'a> {
        Diagnostic {
            code: d.code,
            code_description: DocUrl::of(d.code).map(|href| CodeDescription { href }),
            message: Message(d),
            range: range(c, &d.span),
            related_information: d
                .related
                .iter()
                .map(|(span, label)| Related {
                    location: Location {
                        range: range(c, span),
                        uri,
                    },
                    message: label,
                })
                .collect(),
            severity: super::severity(d.severity),
            source: super::source(d.code),
        }
    }
}

pub fn completion(c: &Conv<'_>, it: &complete::Item, snippets: bool) -> lsp::CompletionItem {
    use complete::ItemKind as K;
    let kind = match it.kind {
        K::Keyword => lsp::CompletionItemKind::KEYWORD,
        K::Flag => lsp::CompletionItemKind::PROPERTY,
        K::Property => lsp::CompletionItemKind::FIELD,
        K::Value => lsp::CompletionItemKind::VALUE,
        K::Variable => lsp::CompletionItemKind::VARIABLE,
        K::Stage => lsp::CompletionItemKind::MODULE,
        K::Image => lsp::CompletionItemKind::REFERENCE,
        K::Directive => lsp::CompletionItemKind::KEYWORD,
        K::Rule => lsp::CompletionItemKind::ENUM_MEMBER,
    };
    let (new_text, format) = match (&it.snippet, snippets) {
        (Some(s), true) => (s.clone(), lsp::InsertTextFormat::SNIPPET),
        _ => (it.insert.clone(), lsp::InsertTextFormat::PLAIN_TEXT),
    };
    lsp::CompletionItem {
        label: it.label.clone(),
        kind: Some(kind),
        detail: it.detail.clone(),
        documentation: it.doc.clone().map(|d| {
            lsp::Documentation::MarkupContent(lsp::MarkupContent {
                kind: lsp::MarkupKind::Markdown,
                value: d,
            })
        }),
        insert_text_format: Some(format),
        text_edit: Some(lsp::CompletionTextEdit::Edit(lsp::TextEdit::new(
            c.range(&it.replace),
            new_text,
        ))),
        ..Default::default()
    }
}

#[allow(deprecated)] // DocumentSymbol::deprecated must be set to construct it.
pub fn symbol(c: &Conv<'_>, s: &outline::Symbol) -> lsp::DocumentSymbol {
    lsp::DocumentSymbol {
        name: s.name.clone(),
        detail: (!s.detail.is_empty()).then(|| s.detail.clone()),
        kind: symbol_kind(s.kind),
        tags: None,
        deprecated: None,
        range: c.range(&s.span),
        selection_range: c.range(&s.selection),
        children: (!s.children.is_empty()).then(|| s.children.iter().map(|x| symbol(c, x)).collect()),
    }
}

pub fn symbol_kind(k: outline::SymbolKind) -> lsp::SymbolKind {
    match k {
        outline::SymbolKind::Stage => lsp::SymbolKind::NAMESPACE,
        outline::SymbolKind::Instruction => lsp::SymbolKind::FUNCTION,
        outline::SymbolKind::Arg => lsp::SymbolKind::VARIABLE,
        outline::SymbolKind::Env => lsp::SymbolKind::CONSTANT,
    }
}

pub fn legend() -> lsp::SemanticTokensLegend {
    lsp::SemanticTokensLegend {
        token_types: tokens::TYPES.iter().map(|t| lsp::SemanticTokenType::new(t)).collect(),
        token_modifiers: tokens::MODIFIERS
            .iter()
            .map(|m| lsp::SemanticTokenModifier::new(m))
            .collect(),
    }
}

/// Tokens in LSP's relative encoding (5 integers each), restricted to `range` if given.
pub fn encode_tokens(c: &Conv<'_>, toks: &[tokens::Token], range: Option<&Span>) -> Vec<u32> {
    let mut out = Vec::with_capacity(toks.len() * 5);
    let (mut prev_line, mut prev_char) = (0u32, 0u32);
    let mut line = 0usize;
    let mut line_start = 0usize;
    let mut line_ascii = true;
    let mut line_known = false;
    for t in toks {
        if let Some(r) = range {
            if t.end <= r.start || t.start >= r.end {
                continue;
            }
        }
        if !line_known || t.start >= c.index.line_start(line + 1) {
            line = c.index.line_of(t.start);
            line_start = c.index.line_start(line);
            line_ascii = c.text[c.index.line_range(c.text, line)].is_ascii();
            line_known = true;
        }
        let (ch, len) = if line_ascii || c.enc == Encoding::Utf8 {
            ((t.start - line_start) as u32, (t.end - t.start) as u32)
        } else {
            (
                crate::text::units(&c.text[line_start..t.start], c.enc) as u32,
                crate::text::units(&c.text[t.start..t.end], c.enc) as u32,
            )
        };
        let l = line as u32;
        let delta_line = l - prev_line;
        let delta_start = if delta_line == 0 { ch - prev_char } else { ch };
        out.extend_from_slice(&[delta_line, delta_start, len, t.kind as u32, t.modifiers]);
        prev_line = l;
        prev_char = ch;
    }
    out
}

/// The smallest single edit that turns `old` into `new` (token data, in integers).
pub fn token_delta(old: &[u32], new: &[u32]) -> Vec<lsp::SemanticTokensEdit> {
    // Compare whole tokens (5 integers) so an edit never splits one.
    let prefix = old.chunks(5).zip(new.chunks(5)).take_while(|(a, b)| a == b).count() * 5;
    let max_suffix = (old.len() - prefix).min(new.len() - prefix) / 5;
    let suffix = old
        .rchunks(5)
        .zip(new.rchunks(5))
        .take(max_suffix)
        .take_while(|(a, b)| a == b)
        .count()
        * 5;
    if prefix == old.len() && prefix == new.len() {
        return Vec::new();
    }
    let data = new[prefix..new.len() - suffix].to_vec();
    vec![lsp::SemanticTokensEdit {
        start: prefix as u32,
        delete_count: (old.len() - prefix - suffix) as u32,
        data: (!data.is_empty()).then(|| {
            data.chunks(5)
                .map(|t| lsp::SemanticToken {
                    delta_line: t[0],
                    delta_start: t[1],
                    length: t[2],
                    token_type: t[3],
                    token_modifiers_bitset: t[4],
                })
                .collect()
        }),
    }]
}

pub fn to_semantic_tokens(data: &[u32]) -> Vec<lsp::SemanticToken> {
    data.chunks(5)
        .map(|t| lsp::SemanticToken {
            delta_line: t[0],
            delta_start: t[1],
            length: t[2],
            token_type: t[3],
            token_modifiers_bitset: t[4],
        })
        .collect()
}

pub fn hover(c: &Conv<'_>, h: &analysis::hover::HoverInfo) -> lsp::Hover {
    lsp::Hover {
        contents: lsp::HoverContents::Markup(lsp::MarkupContent {
            kind: lsp::MarkupKind::Markdown,
            value: h.markdown.clone(),
        }),
        range: Some(c.range(&h.span)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publications_written_directly_are_the_bytes_tower_lsp_sends() {
        let text =
            "from debian:bookworm AS é\nFROM scratch AS é\nRUN echo \"🚀\" && cd /x\nEXPOSE 80/xyz\nMAINTAINER me\n";
        let a = crate::analysis::Analysis::new(text.to_string(), &Default::default());
        let mut diags = a.diagnostics.clone();
        // One of shellcheck's (its wiki page), one with help and places of its own and
        // characters to escape, one without a rule.
        let mut sc = slipway_parser::Diagnostic::warning("shellcheck::SC2164", 40..48, "use cd ... || exit");
        sc.severity = slipway_parser::Severity::Advice;
        diags.push(sc);
        diags.push(
            slipway_parser::Diagnostic::warning("StageNameCasing", 0..4, "a \"quoted\"\tname\u{1}")
                .with_help("line one\nline two é")
                .with_related(30..34, "here 🚀")
                .with_related(0..0, ""),
        );
        diags.push(slipway_parser::Diagnostic::error(
            "slipway::no::such::rule",
            slipway_parser::Phase::Parse,
            text.len()..text.len() + 5,
            "past the end",
        ));
        for needed in ["shellcheck::", "StageNameCasing"] {
            assert!(diags.iter().any(|d| d.code.starts_with(needed)));
        }
        assert!(a.diagnostics.len() >= 3, "{:?}", a.diagnostics);
        let index = LineIndex::new(text);
        let uri = "file:///tmp/a%20b/Dockerfile";
        for enc in [Encoding::Utf8, Encoding::Utf16, Encoding::Utf32] {
            let c = Conv {
                text,
                index: &index,
                enc,
            };
            for version in [Some(7), None] {
                let ours = publish_frame(&c, uri, version, &diags);
                let theirs = tower_lsp_publication(&c, uri, version, &diags);
                assert_eq!(
                    String::from_utf8_lossy(ours.body()),
                    String::from_utf8_lossy(&theirs),
                    "{enc:?} {version:?}"
                );
                let head = format!("Content-Length: {}\r\n\r\n", theirs.len());
                assert_eq!(ours.bytes(), [head.as_bytes(), &theirs].concat());
            }
        }
        let c = Conv {
            text,
            index: &index,
            enc: Encoding::Utf16,
        };
        assert_eq!(
            publish_frame(&c, uri, None, []).body(),
            &tower_lsp_publication(&c, uri, None, &[])[..]
        );
    }

    #[test]
    fn every_rule_url_is_a_uri_of_the_same_text() {
        // Publications write a rule's URL as it is; tower-lsp's path parsed it first.
        for r in slipway_parser::rules::all() {
            let uri: lsp::Uri = r.url.parse().unwrap_or_else(|e| panic!("{}: {e:?}", r.code));
            assert_eq!(uri.as_str(), r.url);
            assert_eq!(
                slipway_parser::rules::find(r.code).map(|f| f.url),
                Some(r.url),
                "{}",
                r.code
            );
        }
    }

    #[test]
    fn token_deltas_rebuild_the_new_data() {
        let old: Vec<u32> = (0..40).collect();
        let mut new = old.clone();
        new.splice(10..15, [9, 9, 9, 9, 9, 8, 8, 8, 8, 8]);
        let edits = token_delta(&old, &new);
        assert_eq!(edits.len(), 1);
        let e = &edits[0];
        let mut rebuilt = old.clone();
        let data: Vec<u32> = e
            .data
            .iter()
            .flatten()
            .flat_map(|t| {
                [
                    t.delta_line,
                    t.delta_start,
                    t.length,
                    t.token_type,
                    t.token_modifiers_bitset,
                ]
            })
            .collect();
        rebuilt.splice(e.start as usize..(e.start + e.delete_count) as usize, data);
        assert_eq!(rebuilt, new);
        assert!(token_delta(&old, &old).is_empty());
    }

    #[test]
    fn tokens_count_utf16_on_non_ascii_lines() {
        let text = "FROM a\nENV X=\"🚀\" Y=$X\n";
        let a = crate::analysis::Analysis::new(text.to_string(), &Default::default());
        let index = LineIndex::new(text);
        let c = Conv {
            text,
            index: &index,
            enc: Encoding::Utf16,
        };
        let data = encode_tokens(&c, &tokens::tokens(&a), None);
        // The last token is `$X`: UTF-16 column 13 on line 1 ("ENV X=\"🚀\" Y=" is 13 units).
        let toks = to_semantic_tokens(&data);
        let mut line = 0;
        let mut col = 0;
        for t in &toks {
            if t.delta_line > 0 {
                line += t.delta_line;
                col = t.delta_start;
            } else {
                col += t.delta_start;
            }
        }
        assert_eq!((line, col, toks.last().unwrap().length), (1, 13, 2));
    }
}
