//! Structure and navigation: document symbols (stages → instructions),
//! definition/references/rename, folding and selection ranges, inlay hints,
//! signature help and per-step code lenses.

use super::docs;
use super::{arg_words, Analysis, Target, World};
use slipway_parser::model::Base;
use slipway_parser::syntax::{Keyword, Span};

/// What a symbol is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SymbolKind {
    Stage,
    Instruction,
    Arg,
    Env,
}

/// A document symbol.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
    pub detail: String,
    pub kind: SymbolKind,
    pub span: Span,
    pub selection: Span,
    pub children: Vec<Symbol>,
}

/// Stages with their instructions; global ARGs at the top level.
pub fn symbols(a: &Analysis) -> Vec<Symbol> {
    let mut out = Vec::new();
    let mut stage_syms: Vec<Option<usize>> = vec![None; a.model.stages.len()];
    for (i, inst) in a.file.instructions.iter().enumerate() {
        let child = instruction_symbol(a, i);
        match a.model.stage_of.get(i).copied().flatten() {
            Some(s) if a.model.stages[s].from == i => {
                let st = &a.model.stages[s];
                let name = st.name.clone().unwrap_or_else(|| format!("stage {}", st.index));
                let detail = match &st.base {
                    Base::Scratch => "scratch".to_string(),
                    Base::Stage(b) => format!("from stage {}", a.model.stages[*b].name.clone().unwrap_or_default()),
                    Base::Image(img) => img.clone(),
                };
                stage_syms[s] = Some(out.len());
                out.push(Symbol {
                    name,
                    detail,
                    kind: SymbolKind::Stage,
                    span: inst.span.clone(),
                    selection: st.name_span.clone().unwrap_or(inst.name_span.clone()),
                    children: vec![child],
                });
            }
            Some(s) => {
                if let Some(at) = stage_syms[s] {
                    let sym = &mut out[at];
                    sym.span.end = sym.span.end.max(inst.span.end);
                    sym.children.push(child);
                }
            }
            None => out.push(child),
        }
    }
    out
}

fn instruction_symbol(a: &Analysis, i: usize) -> Symbol {
    let inst = &a.file.instructions[i];
    let kind = match inst.keyword {
        Some(Keyword::Arg) => SymbolKind::Arg,
        Some(Keyword::Env) => SymbolKind::Env,
        _ => SymbolKind::Instruction,
    };
    let mut detail: String = inst
        .original
        .trim_start()
        .get(inst.name.len()..)
        .unwrap_or_default()
        .trim()
        .to_string();
    if detail.len() > 60 {
        let mut cut = 57;
        while !detail.is_char_boundary(cut) {
            cut -= 1;
        }
        detail.truncate(cut);
        detail.push('…');
    }
    Symbol {
        name: inst.name.to_ascii_uppercase(),
        detail,
        kind,
        span: inst.span.clone(),
        selection: inst.name_span.clone(),
        children: Vec::new(),
    }
}

/// Workspace symbols of one document: stages and ARG/ENV definitions whose name contains `query`.
pub fn workspace_symbols(a: &Analysis, query: &str) -> Vec<(String, SymbolKind, Span)> {
    let q = query.to_ascii_lowercase();
    let mut out = Vec::new();
    for st in &a.model.stages {
        if let (Some(n), Some(span)) = (&st.name, &st.name_span) {
            if n.contains(&q) {
                out.push((n.clone(), SymbolKind::Stage, span.clone()));
            }
        }
    }
    for v in &a.model.vars {
        if v.name.to_ascii_lowercase().contains(&q) {
            let kind = if v.kind == slipway_parser::model::VarKind::Env {
                SymbolKind::Env
            } else {
                SymbolKind::Arg
            };
            out.push((v.name.clone(), kind, v.span.clone()));
        }
    }
    out
}

/// The definition(s) of what is under the cursor.
pub fn definition(a: &Analysis, offset: usize) -> Vec<Span> {
    let Some(o) = a.occurrence_at(offset) else {
        return Vec::new();
    };
    match &o.target {
        Target::Stage(s) => a.model.stages[*s].name_span.clone().into_iter().collect(),
        Target::Var(d) => vec![a.model.vars[*d].span.clone()],
        Target::Free(_) => Vec::new(),
    }
}

/// Every reference to what is under the cursor: (name span, is a definition).
pub fn references(a: &Analysis, offset: usize, include_declaration: bool) -> Vec<(Span, bool)> {
    let Some(o) = a.occurrence_at(offset) else {
        return Vec::new();
    };
    a.occurrences_of(&o.target)
        .filter(|x| include_declaration || !x.def)
        .map(|x| (x.span.clone(), x.def))
        .collect()
}

/// Why a rename is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenameError(pub String);

/// The span that a rename at `offset` would replace, and its current text.
pub fn prepare_rename(a: &Analysis, offset: usize) -> Result<Span, RenameError> {
    let o = a
        .occurrence_at(offset)
        .ok_or_else(|| RenameError("nothing to rename here: place the cursor on a stage or variable name".into()))?;
    if let Target::Free(n) = &o.target {
        return Err(RenameError(format!(
            "{n} is not defined in this Dockerfile, so it cannot be renamed here"
        )));
    }
    Ok(o.span.clone())
}

/// The edits of renaming what is under the cursor to `new_name`.
pub fn rename(a: &Analysis, offset: usize, new_name: &str) -> Result<Vec<(Span, String)>, RenameError> {
    prepare_rename(a, offset)?;
    let o = a.occurrence_at(offset).expect("prepare_rename found it");
    let valid = match o.target {
        Target::Stage(_) => {
            let mut c = new_name.chars();
            c.next().is_some_and(|c| c.is_ascii_lowercase())
                && c.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
        }
        _ => {
            let mut c = new_name.chars();
            c.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && c.all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
    };
    if !valid {
        let hint = match o.target {
            Target::Stage(_) => "stage names are lowercase letters, digits, '-', '_' and '.', starting with a letter",
            _ => "variable names are letters, digits and '_', not starting with a digit",
        };
        return Err(RenameError(format!("invalid name {new_name:?}: {hint}")));
    }
    if let Target::Stage(s) = o.target {
        if a.model
            .stages
            .iter()
            .any(|st| st.index != s && st.name.as_deref() == Some(new_name))
        {
            return Err(RenameError(format!("a stage named {new_name} already exists")));
        }
    }
    Ok(a.occurrences_of(&o.target)
        .map(|x| (x.span.clone(), new_name.to_string()))
        .collect())
}

/// A folding range: first and last line (0-based) and whether it is a comment block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fold {
    pub start_line: usize,
    pub end_line: usize,
    pub comment: bool,
}

/// Stages, multi-line instructions, heredoc bodies and comment blocks.
pub fn folding(a: &Analysis) -> Vec<Fold> {
    let mut out = Vec::new();
    for st in &a.model.stages {
        let from = &a.file.instructions[st.from];
        let last = st
            .instructions
            .last()
            .map_or(from.end_line, |&i| a.file.instructions[i].end_line);
        if last > from.start_line {
            out.push(Fold {
                start_line: from.start_line - 1,
                end_line: last - 1,
                comment: false,
            });
        }
    }
    for inst in &a.file.instructions {
        if inst.end_line > inst.start_line {
            out.push(Fold {
                start_line: inst.start_line - 1,
                end_line: inst.end_line - 1,
                comment: false,
            });
        }
        for h in &inst.heredocs {
            let (s, e) = (
                a.line_of(h.marker_span.start),
                a.line_of(h.content_span.end.saturating_sub(1)),
            );
            if e > s {
                out.push(Fold {
                    start_line: s - 1,
                    end_line: e - 1,
                    comment: false,
                });
            }
        }
    }
    let mut block: Option<(usize, usize)> = None;
    for c in &a.file.comments {
        let line = a.line_of(c.span.start);
        block = match block {
            Some((s, e)) if e + 1 == line => Some((s, line)),
            Some((s, e)) => {
                if e > s {
                    out.push(Fold {
                        start_line: s - 1,
                        end_line: e - 1,
                        comment: true,
                    });
                }
                Some((line, line))
            }
            None => Some((line, line)),
        };
    }
    if let Some((s, e)) = block.filter(|(s, e)| e > s) {
        out.push(Fold {
            start_line: s - 1,
            end_line: e - 1,
            comment: true,
        });
    }
    out.sort_by_key(|f| (f.start_line, std::cmp::Reverse(f.end_line)));
    out.dedup_by(|a, b| a.start_line == b.start_line);
    out
}

/// Nested ranges around `offset`, innermost first: word, flag or argument, instruction,
/// stage, file.
pub fn selection(a: &Analysis, offset: usize) -> Vec<Span> {
    let mut out: Vec<Span> = Vec::new();
    let mut add = |s: Span| {
        if s.start <= offset
            && offset <= s.end
            && out
                .last()
                .is_none_or(|l: &Span| s.start <= l.start && l.end <= s.end && s != *l)
        {
            out.push(s);
        }
    };
    if let Some(o) = a.occurrence_at(offset) {
        add(o.span.clone());
        add(o.full.clone());
    }
    if let Some(i) = a.instruction_at(offset) {
        let inst = &a.file.instructions[i];
        let eff = inst.effective();
        for f in &eff.flags {
            if let Some(v) = &f.value_span {
                add(v.clone());
            }
            add(f.span.clone());
        }
        for w in arg_words(inst) {
            add(w.span.clone());
        }
        add(inst.name_span.clone());
        let mut line_span = inst.span.clone();
        while line_span.end > line_span.start && a.text.as_bytes()[line_span.end - 1] == b'\n' {
            line_span.end -= 1;
        }
        add(line_span);
        add(inst.span.clone());
        if let Some(s) = a.model.stage_of.get(i).copied().flatten() {
            let st = &a.model.stages[s];
            let start = a.file.instructions[st.from].span.start;
            let end = st
                .instructions
                .last()
                .map_or(inst.span.end, |&l| a.file.instructions[l].span.end);
            add(start..end);
        }
    }
    add(0..a.text.len());
    out
}

/// An inlay hint: where, and its label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hint {
    pub offset: usize,
    pub label: String,
    pub tooltip: Option<String>,
}

/// Values of ARG/ENV uses, and the digest a base image's tag resolves to in the store.
pub fn inlay_hints(a: &Analysis, range: Span, world: &World<'_>) -> Vec<Hint> {
    let mut out = Vec::new();
    for o in a.occurrences() {
        if o.def || o.full.end < range.start || o.full.start > range.end {
            continue;
        }
        if let Target::Var(d) = o.target {
            let v = &a.model.vars[d];
            if let Some(val) = &v.value {
                let mut shown: String = val.chars().take(40).collect();
                if shown.len() < val.len() {
                    shown.push('…');
                }
                out.push(Hint {
                    offset: o.full.end,
                    label: format!("={shown}"),
                    tooltip: Some(format!("{} = {val} (line {})", v.name, a.line_of(v.span.start))),
                });
            }
        }
    }
    for st in &a.model.stages {
        if st.base_span.end < range.start || st.base_span.start > range.end {
            continue;
        }
        if let Base::Image(name) = &st.base {
            if name.contains('@') {
                continue;
            }
            if let Some(info) = (world.image)(name) {
                let short = info.digest.get(..19).unwrap_or(&info.digest).to_string();
                out.push(Hint {
                    offset: st.base_span.end,
                    label: format!("@{short}…"),
                    tooltip: Some(format!("{} resolves to {}", info.reference, info.digest)),
                });
            }
        }
    }
    out.sort_by_key(|h| h.offset);
    out
}

/// Signature help: the instruction's syntax forms and the active parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    pub label: String,
    pub documentation: String,
    /// Byte ranges of the parameters in `label`.
    pub parameters: Vec<(Span, String)>,
    pub active: Option<usize>,
}

pub fn signature(a: &Analysis, offset: usize) -> Option<Signature> {
    let i = a.instruction_at(offset).or_else(|| {
        // Just after the instruction's name at the end of the text.
        let last = a.file.instructions.len().checked_sub(1)?;
        (a.file.instructions[last].span.end == offset).then_some(last)
    })?;
    let inst = a.file.instructions[i].effective();
    let kw = inst.keyword?;
    if offset < inst.name_span.end {
        return None;
    }
    let doc = docs::instruction(kw);
    let label = doc.syntax[0].to_string();
    // Parameters: every bracketed or <...> group after the keyword.
    let mut parameters = Vec::new();
    let bytes = label.as_bytes();
    let mut j = kw.as_str().len();
    while j < bytes.len() {
        match bytes[j] {
            b'[' | b'<' => {
                let close = if bytes[j] == b'[' { b']' } else { b'>' };
                let mut depth = 0;
                let mut k = j;
                while k < bytes.len() {
                    if bytes[k] == bytes[j] {
                        depth += 1;
                    } else if bytes[k] == close {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    k += 1;
                }
                let mut end = (k + 1).min(bytes.len());
                if label[end..].starts_with("...") {
                    end += 3;
                }
                let p = &label[j..end];
                let doc = p
                    .strip_prefix("[--")
                    .and_then(|f| f.split(['=', ']']).next())
                    .and_then(|f| slipway_parser::flags::flags_of(kw).iter().find(|s| s.name == f))
                    .map_or(String::new(), |s| s.doc.to_string());
                parameters.push((j..end, doc));
                j = end;
            }
            _ => j += 1,
        }
    }
    // Active: the flag under the cursor, else the argument position.
    let flag_params: Vec<usize> = (0..parameters.len())
        .filter(|&p| label[parameters[p].0.clone()].starts_with("[--"))
        .collect();
    let mut active = None;
    for f in &inst.flags {
        if f.span.start <= offset && offset <= f.span.end {
            active = flag_params
                .iter()
                .copied()
                .find(|&p| label[parameters[p].0.clone()].starts_with(&format!("[--{}", f.name)));
        }
    }
    if active.is_none() {
        let words = arg_words(inst);
        let before = words.iter().filter(|w| w.span.end < offset).count();
        let first_arg = flag_params.last().map_or(0, |&p| p + 1);
        if first_arg < parameters.len() {
            active = Some((first_arg + before).min(parameters.len() - 1));
        }
    }
    Some(Signature {
        label,
        documentation: doc.summary.to_string(),
        parameters,
        active,
    })
}

/// A code lens: the instruction's span and its title.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lens {
    pub span: Span,
    pub title: String,
}

/// One lens per planned step: "cached" or "rebuilds: <first reason>".
pub fn lenses(a: &Analysis, world: &World<'_>) -> Vec<Lens> {
    let mut out = Vec::new();
    for inst in &a.file.instructions {
        if let Some(step) = world.steps.iter().find(|s| s.line == inst.start_line) {
            let title = if step.cached {
                "cached".to_string()
            } else {
                match step.reasons.first() {
                    Some(r) => format!("rebuilds: {r}"),
                    None => "rebuilds".to_string(),
                }
            };
            out.push(Lens {
                span: inst.name_span.clone(),
                title,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{analyze, cursor};
    use super::*;

    #[test]
    fn symbols_nest_instructions_under_stages() {
        let a = analyze("ARG V=1\nFROM alpine AS build\nRUN make\nFROM scratch\nCOPY --from=build /a /b\n");
        let s = symbols(&a);
        let shape: Vec<String> = s
            .iter()
            .map(|x| {
                format!(
                    "{}[{}]",
                    x.name,
                    x.children.iter().map(|c| c.name.as_str()).collect::<Vec<_>>().join(",")
                )
            })
            .collect();
        assert_eq!(shape, ["ARG[]", "build[FROM,RUN]", "stage 1[FROM,COPY]"]);
    }

    #[test]
    fn rename_stage_and_variable() {
        let (text, at) = cursor("FROM a AS build\nFROM b\nCOPY --from=bu$0ild /x /y\n");
        let a = analyze(&text);
        let edits = rename(&a, at, "compile").unwrap();
        assert_eq!(edits.len(), 2);
        let mut out = text.clone();
        for (span, t) in edits.iter().rev() {
            out.replace_range(span.clone(), t);
        }
        assert_eq!(out, "FROM a AS compile\nFROM b\nCOPY --from=compile /x /y\n");
        assert!(rename(&a, at, "Bad Name").unwrap_err().0.contains("invalid name"));
        let (text, at) = cursor("FROM a\nARG V=1\nRUN echo ${V} $V$0\n");
        let a = analyze(&text);
        let edits = rename(&a, at, "VERSION").unwrap();
        let mut out = text.clone();
        for (span, t) in edits.iter().rev() {
            out.replace_range(span.clone(), t);
        }
        assert_eq!(out, "FROM a\nARG VERSION=1\nRUN echo ${VERSION} $VERSION\n");
        let (text, at) = cursor("FROM a\nRUN echo $HO$0ME\n");
        assert!(rename(&analyze(&text), at, "X").is_err());
    }

    #[test]
    fn definition_jumps_to_the_name() {
        let (text, at) = cursor("FROM a AS build\nFROM build$0\n");
        let a = analyze(&text);
        assert_eq!(definition(&a, at), vec![std::ops::Range { start: 10, end: 15 }]);
    }

    #[test]
    fn folding_covers_stages_continuations_heredocs_and_comments() {
        let a = analyze("# a\n# b\nFROM a\nRUN x \\\n  y\nRUN <<EOF\necho\nEOF\nFROM b\n");
        let f: Vec<(usize, usize, bool)> = folding(&a)
            .iter()
            .map(|f| (f.start_line, f.end_line, f.comment))
            .collect();
        assert_eq!(f, [(0, 1, true), (2, 7, false), (3, 4, false), (5, 7, false)]);
    }

    #[test]
    fn selection_grows_outwards() {
        let (text, at) = cursor("FROM a\nCOPY --from=a /s$0rc /dst\n");
        let a = analyze(&text);
        let s: Vec<&str> = selection(&a, at).iter().map(|s| &text[s.clone()]).collect();
        assert_eq!(s[0], "/src");
        assert_eq!(s[1], "COPY --from=a /src /dst");
        assert_eq!(*s.last().unwrap(), text.as_str());
    }

    #[test]
    fn signature_tracks_flags_and_arguments() {
        let (text, at) = cursor("FROM a\nCOPY --chown=1 src $0\n");
        let a = analyze(&text);
        let s = signature(&a, at).unwrap();
        let active = &s.label[s.parameters[s.active.unwrap()].0.clone()];
        assert_eq!(active, "<dest>");
        let (text, at) = cursor("FROM a\nCOPY --ch$0own=1 src dst\n");
        let a = analyze(&text);
        let s = signature(&a, at).unwrap();
        assert!(s.label[s.parameters[s.active.unwrap()].0.clone()].starts_with("[--chown"));
    }

    #[test]
    fn inlay_hints_show_values() {
        let a = analyze("ARG V=3.20\nFROM alpine:$V\nENV P=/opt\nRUN ls $P\n");
        let h: Vec<String> = inlay_hints(&a, 0..a.text.len(), &World::none())
            .into_iter()
            .map(|h| h.label)
            .collect();
        assert_eq!(h, ["=3.20", "=/opt"]);
    }
}
