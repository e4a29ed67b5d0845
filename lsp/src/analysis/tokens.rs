//! Semantic tokens: every classified range of the text, one line each, in order,
//! never overlapping. Ranges are painted onto the text in order of precedence
//! (an instruction's words, then variables and stage names on top), so a
//! variable inside a word or a heredoc body splits the word around it.

use super::{Analysis, Target};
use slipway_parser::model::Base;
use slipway_parser::syntax::{Args, Instruction, Keyword, Span};

/// Token types, in legend order.
pub const TYPES: &[&str] = &[
    "keyword",
    "comment",
    "variable",
    "parameter",
    "string",
    "number",
    "operator",
    "namespace",
    "type",
    "macro",
    "property",
];
/// Token modifiers, in legend order (bit i).
pub const MODIFIERS: &[&str] = &["declaration", "readonly", "defaultLibrary"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Type {
    Keyword = 0,
    Comment,
    Variable,
    Parameter,
    String,
    Number,
    Operator,
    Namespace,
    Type,
    Macro,
    Property,
}

pub const DECLARATION: u32 = 1;
pub const READONLY: u32 = 2;
pub const DEFAULT_LIBRARY: u32 = 4;

/// A token: byte range on one line, type and modifier bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Token {
    pub start: usize,
    pub end: usize,
    pub kind: Type,
    pub modifiers: u32,
}

struct Canvas {
    ids: Vec<u32>,
    styles: Vec<(Type, u32)>,
}

impl Canvas {
    fn paint(&mut self, span: &Span, kind: Type, modifiers: u32) {
        let end = span.end.min(self.ids.len());
        if span.start >= end {
            return;
        }
        self.styles.push((kind, modifiers));
        let id = self.styles.len() as u32;
        self.ids[span.start..end].fill(id);
    }
}

/// All tokens of the document, in order.
pub fn tokens(a: &Analysis) -> Vec<Token> {
    let text = &a.text;
    let mut c = Canvas {
        ids: vec![0; text.len()],
        styles: Vec::new(),
    };
    for d in &a.file.directives {
        c.paint(&d.span, Type::Macro, 0);
    }
    for cm in &a.file.comments {
        c.paint(&cm.span, Type::Comment, 0);
    }
    for (i, inst) in a.file.instructions.iter().enumerate() {
        instruction(a, i, inst, &mut c);
        if let Args::Onbuild(inner) = &inst.args {
            instruction(a, i, inner, &mut c);
        }
    }
    for o in a.occurrences() {
        match o.target {
            Target::Stage(_) => c.paint(&o.span, Type::Namespace, if o.def { DECLARATION } else { 0 }),
            Target::Var(_) => c.paint(&o.full, Type::Variable, if o.def { DECLARATION } else { 0 }),
            Target::Free(_) => c.paint(&o.full, Type::Variable, DEFAULT_LIBRARY),
        }
    }
    // Runs of one id, cut at line ends.
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let id = c.ids[i];
        if id == 0 || bytes[i] == b'\n' || bytes[i] == b'\r' {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && c.ids[i] == id && bytes[i] != b'\n' && bytes[i] != b'\r' {
            i += 1;
        }
        let (kind, modifiers) = c.styles[id as usize - 1];
        out.push(Token {
            start,
            end: i,
            kind,
            modifiers,
        });
    }
    out
}

fn instruction(a: &Analysis, i: usize, inst: &Instruction, c: &mut Canvas) {
    c.paint(&inst.name_span, Type::Keyword, 0);
    for f in &inst.flags {
        c.paint(&(f.span.start..f.name_span.end), Type::Parameter, 0);
        if let Some(v) = &f.value_span {
            c.paint(v, Type::String, 0);
            if f.name == "mount" {
                if let Some(value) = a.text.get(v.clone()) {
                    let mut at = v.start;
                    for field in value.split(',') {
                        if let Some(eq) = field.find('=') {
                            c.paint(&(at..at + eq), Type::Property, 0);
                        }
                        at += field.len() + 1;
                    }
                }
            }
        }
    }
    for h in &inst.heredocs {
        c.paint(&h.marker_span, Type::Operator, 0);
        c.paint(&h.content_span, Type::String, 0);
        c.paint(&h.terminator_span, Type::Operator, 0);
    }
    match &inst.args {
        Args::Json(words) => {
            for w in words {
                c.paint(&w.span, Type::String, 0);
            }
        }
        Args::Words(words) => match inst.keyword {
            Some(Keyword::From) => {
                if let Some(s) = a.model.stage_of.get(i).copied().flatten() {
                    let st = &a.model.stages[s];
                    let kind = if matches!(st.base, Base::Stage(_)) {
                        Type::Namespace
                    } else {
                        Type::Type
                    };
                    c.paint(&st.base_span, kind, 0);
                }
                if words.len() == 3 && words[1].text.eq_ignore_ascii_case("as") {
                    c.paint(&words[1].span, Type::Keyword, 0);
                }
            }
            Some(Keyword::Expose) => {
                for w in words {
                    c.paint(&w.span, Type::Number, 0);
                }
            }
            Some(Keyword::Arg) => {
                for w in words {
                    if let Some(eq) = w.text.find('=') {
                        let at = w.span.start + eq;
                        if a.text.get(at..at + 1) == Some("=") {
                            c.paint(&(at..at + 1), Type::Operator, 0);
                            c.paint(&(at + 1..w.span.end), Type::String, 0);
                        }
                    }
                }
            }
            _ => {
                for w in words {
                    c.paint(&w.span, Type::String, 0);
                }
            }
        },
        Args::KeyValues(kvs) => {
            for kv in kvs {
                let kind = if inst.keyword == Some(Keyword::Label) {
                    Type::Property
                } else {
                    Type::Variable
                };
                c.paint(&kv.key.span, kind, DECLARATION);
                c.paint(&kv.value.span, Type::String, 0);
                if kv.equals && kv.key.span.end < kv.value.span.start {
                    c.paint(&(kv.key.span.end..kv.key.span.end + 1), Type::Operator, 0);
                }
            }
        }
        Args::Shell(w) => {
            if matches!(
                inst.keyword,
                Some(Keyword::Workdir | Keyword::User | Keyword::Stopsignal | Keyword::Maintainer)
            ) {
                c.paint(&w.span, Type::String, 0);
            }
        }
        Args::Healthcheck { kind, cmd } => {
            c.paint(&kind.span, Type::Keyword, 0);
            if let Args::Json(words) = &**cmd {
                for w in words {
                    c.paint(&w.span, Type::String, 0);
                }
            }
        }
        Args::Empty | Args::Ignored | Args::Onbuild(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::analyze;
    use super::*;

    fn show(text: &str) -> Vec<String> {
        let a = analyze(text);
        tokens(&a)
            .iter()
            .map(|t| {
                let m = if t.modifiers & DECLARATION != 0 { "+decl" } else { "" };
                format!("{:?}{m} {}", t.kind, &text[t.start..t.end])
            })
            .collect()
    }

    #[test]
    fn tokens_classify_words_and_split_around_variables() {
        let got = show("# syntax=docker/dockerfile:1\nARG V=1\nFROM alpine:$V AS build\nENV PATH=/opt/${V}/bin\n");
        assert_eq!(
            got,
            [
                "Macro # syntax=docker/dockerfile:1",
                "Keyword ARG",
                "Variable+decl V",
                "Operator =",
                "String 1",
                "Keyword FROM",
                "Type alpine:",
                "Variable $V",
                "Keyword AS",
                "Namespace+decl build",
                "Keyword ENV",
                "Variable+decl PATH",
                "Operator =",
                "String /opt/",
                "Variable ${V}",
                "String /bin",
            ]
        );
    }

    #[test]
    fn heredoc_bodies_are_tokens_per_line_with_variables() {
        let got = show("FROM a\nENV X=1\nRUN <<EOF\necho $X\nls\nEOF\n");
        assert_eq!(
            got,
            [
                "Keyword FROM",
                "Type a",
                "Keyword ENV",
                "Variable+decl X",
                "Operator =",
                "String 1",
                "Keyword RUN",
                "Operator <<EOF",
                "String echo ",
                "Variable $X",
                "String ls",
                "Operator EOF",
            ]
        );
    }

    #[test]
    fn tokens_never_overlap_and_stay_on_one_line() {
        let text = "FROM a\nRUN --mount=type=cache,target=/x \\\n  echo \"é $HOME\" 🚀\nCOPY --from=0 [\"a\", \"b\"]\nEXPOSE 80/tcp\n";
        let a = analyze(text);
        let t = tokens(&a);
        for w in t.windows(2) {
            assert!(w[0].end <= w[1].start);
        }
        for x in &t {
            assert!(!text[x.start..x.end].contains('\n'));
            assert!(text.is_char_boundary(x.start) && text.is_char_boundary(x.end));
        }
        assert!(show(text).contains(&"Property type".to_string()));
    }
}
