//! Completion: what may be typed at a position, from the syntax around it.

use super::docs;
use super::{Analysis, World};
use slipway_parser::flags::{flags_of, FlagKind};
use slipway_parser::model::{Base, PREDEFINED_ARGS};
use slipway_parser::syntax::{Keyword, Span};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemKind {
    Keyword,
    Flag,
    Value,
    Variable,
    Stage,
    Image,
    Directive,
    Rule,
    Property,
}

/// A completion candidate: what replaces `replace` (plain text, and a snippet if there is one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub label: String,
    pub kind: ItemKind,
    pub detail: Option<String>,
    pub doc: Option<String>,
    pub insert: String,
    pub snippet: Option<String>,
    pub replace: Span,
}

fn item(label: impl Into<String>, kind: ItemKind, replace: &Span) -> Item {
    let label = label.into();
    Item {
        insert: label.clone(),
        label,
        kind,
        detail: None,
        doc: None,
        snippet: None,
        replace: replace.clone(),
    }
}

pub fn complete(a: &Analysis, offset: usize, world: &World<'_>) -> Vec<Item> {
    let text = &a.text;
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map_or(0, |i| i + 1);
    let prefix = &text[line_start..offset];
    let word_start = prefix
        .char_indices()
        .rfind(|(_, c)| c.is_whitespace())
        .map_or(line_start, |(i, c)| line_start + i + c.len_utf8());
    let word = &text[word_start..offset];
    let word_span = word_start..offset;
    let first_inst = a.file.instructions.first().map_or(usize::MAX, |i| i.span.start);

    // Parser directives and `# check=` values at the top of the file.
    if prefix.trim_start().starts_with('#') {
        return if offset <= first_inst {
            directive(a, prefix, line_start)
        } else {
            Vec::new()
        };
    }
    let inst_i = a.instruction_at(offset).filter(|&i| {
        let inst = &a.file.instructions[i];
        // The cursor is in the instruction's name (or before it): complete the name instead.
        offset > inst.name_span.end
    });
    let Some(i) = inst_i else {
        if !prefix[..word_start - line_start].trim().is_empty() {
            return Vec::new();
        }
        return instructions(
            a,
            offset,
            &word_span,
            a.file
                .instructions
                .iter()
                .any(|x| x.keyword == Some(Keyword::From) && x.span.start < word_start),
        );
    };
    let outer = &a.file.instructions[i];
    let inst = if outer.effective().name_span.end < offset {
        outer.effective()
    } else {
        outer
    };
    if let Args::Onbuild(inner) = &outer.args {
        if inner.name_span.start <= offset && offset <= inner.name_span.end {
            let mut items = instructions(a, offset, &word_span, true);
            items.retain(|it| !matches!(it.label.as_str(), "ONBUILD" | "FROM" | "MAINTAINER"));
            return items;
        }
    }
    let Some(kw) = inst.keyword else { return Vec::new() };

    // Variables after `$` and `${`.
    if let Some(dollar) = word.rfind('$') {
        let rest = &word[dollar + 1..];
        let name = rest.strip_prefix('{').unwrap_or(rest);
        if name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            let replace = offset - name.len()..offset;
            return variables(a, i, kw == Keyword::From, &replace, rest.starts_with('{'));
        }
    }
    // Flags and their values.
    if let Some(flag) = word.strip_prefix("--") {
        let in_flags = inst.flags.iter().all(|f| f.span.start <= word_start)
            && super::arg_words(inst).iter().all(|w| w.span.start >= word_start);
        if !in_flags {
            return Vec::new();
        }
        return match flag.split_once('=') {
            None => flags_of(kw)
                .iter()
                .map(|s| {
                    let mut it = item(format!("--{}", s.name), ItemKind::Flag, &word_span);
                    it.detail = Some(s.doc.to_string());
                    if s.kind != FlagKind::Bool {
                        it.insert = format!("--{}=", s.name);
                    }
                    it
                })
                .collect(),
            Some((name, value)) => {
                let value_start = offset - value.len();
                if name == "mount" {
                    mount(a, i, value, value_start, offset)
                } else if name == "from" {
                    stages_before(a, i, &(value_start..offset))
                } else {
                    docs::flag_values(name)
                        .iter()
                        .map(|v| item(*v, ItemKind::Value, &(value_start..offset)))
                        .collect()
                }
            }
        };
    }
    if word.starts_with('-') {
        return flags_of(kw)
            .iter()
            .map(|s| {
                let mut it = item(format!("--{}", s.name), ItemKind::Flag, &word_span);
                it.detail = Some(s.doc.to_string());
                it
            })
            .collect();
    }
    // Position among the arguments (flags excluded).
    let before = super::arg_words(inst)
        .iter()
        .filter(|w| w.span.end < word_start)
        .count();
    match kw {
        Keyword::From => match before {
            0 => {
                let mut items: Vec<Item> = world
                    .images
                    .iter()
                    .map(|n| {
                        let mut it = item(n.clone(), ItemKind::Image, &word_span);
                        it.detail = Some("image in the local store".into());
                        it
                    })
                    .collect();
                items.extend(stages_before(a, i, &word_span));
                items.push(item("scratch", ItemKind::Keyword, &word_span));
                items
            }
            1 => {
                let mut it = item("AS", ItemKind::Keyword, &word_span);
                it.insert = "AS ".into();
                vec![it]
            }
            _ => Vec::new(),
        },
        Keyword::Healthcheck if before == 0 => ["CMD", "NONE"]
            .iter()
            .map(|k| item(*k, ItemKind::Keyword, &word_span))
            .collect(),
        _ => Vec::new(),
    }
}

use slipway_parser::syntax::Args;

fn instructions(a: &Analysis, _offset: usize, replace: &Span, after_from: bool) -> Vec<Item> {
    let lower = a
        .file
        .instructions
        .iter()
        .filter(|x| x.keyword.is_some() && x.name_span.end < replace.start)
        .all(|x| x.name.chars().all(|c| c.is_ascii_lowercase()))
        && a.file
            .instructions
            .iter()
            .any(|x| x.keyword.is_some() && x.name_span.end < replace.start);
    docs::INSTRUCTIONS
        .iter()
        .filter(|d| after_from || matches!(d.keyword, Keyword::From | Keyword::Arg))
        .map(|d| {
            let name = if lower {
                d.keyword.as_str().to_ascii_lowercase()
            } else {
                d.keyword.as_str().to_string()
            };
            let mut it = item(name.clone(), ItemKind::Keyword, replace);
            it.insert = format!("{name} ");
            it.detail = Some(d.syntax[0].to_string());
            it.doc = Some(d.summary.to_string());
            it.snippet = Some(if lower {
                format!("{name}{}", &d.snippet[d.keyword.as_str().len()..])
            } else {
                d.snippet.to_string()
            });
            it
        })
        .collect()
}

fn directive(a: &Analysis, prefix: &str, line_start: usize) -> Vec<Item> {
    let offset = line_start + prefix.len();
    let body = prefix.trim_start().trim_start_matches('#').trim_start();
    let body_start = offset - body.len();
    let Some((name, value)) = body.split_once('=') else {
        return docs::DIRECTIVES
            .iter()
            .filter(|(n, _)| {
                !a.file
                    .directives
                    .iter()
                    .any(|d| d.name == *n && d.span.start < line_start)
            })
            .map(|(n, doc)| {
                let mut it = item(format!("{n}="), ItemKind::Directive, &(body_start..offset));
                it.doc = Some(doc.to_string());
                it
            })
            .collect();
    };
    let value_start = offset - value.len();
    match name.trim().to_ascii_lowercase().as_str() {
        "syntax" => ["docker/dockerfile:1", "docker/dockerfile:1-labs"]
            .iter()
            .map(|v| item(*v, ItemKind::Value, &(value_start..offset)))
            .collect(),
        "escape" => ["\\", "`"]
            .iter()
            .map(|v| item(*v, ItemKind::Value, &(value_start..offset)))
            .collect(),
        "check" => {
            let part = value.rsplit(';').next().unwrap_or_default();
            let part_start = offset - part.len();
            match part.split_once('=') {
                None => ["skip=", "error=true", "experimental="]
                    .iter()
                    .map(|v| item(*v, ItemKind::Value, &(part_start..offset)))
                    .collect(),
                Some((key, list)) => {
                    let last = list.rsplit(',').next().unwrap_or_default();
                    let r = offset - last.len()..offset;
                    match key.trim() {
                        "error" => ["true", "false"]
                            .iter()
                            .map(|v| item(*v, ItemKind::Value, &r))
                            .collect(),
                        "skip" | "experimental" => {
                            let mut v: Vec<Item> = slipway_parser::rules::all()
                                .filter(|rule| rule.buildkit && (key.trim() == "skip" || rule.experimental))
                                .map(|rule| {
                                    let mut it = item(rule.code, ItemKind::Rule, &r);
                                    it.doc = Some(format!("{} ({})", rule.description, rule.url));
                                    it
                                })
                                .collect();
                            v.push(item("all", ItemKind::Value, &r));
                            v
                        }
                        _ => Vec::new(),
                    }
                }
            }
        }
        _ => Vec::new(),
    }
}

fn variables(a: &Analysis, i: usize, in_from: bool, replace: &Span, braced: bool) -> Vec<Item> {
    let mut names: Vec<(String, Option<String>, &'static str)> = Vec::new();
    let stage = if in_from {
        None
    } else {
        a.model.stage_of.get(i).copied().flatten()
    };
    let mut scope: Vec<(Option<usize>, usize)> = vec![(stage, i)];
    if let Some(mut s) = stage {
        for _ in 0..a.model.stages.len() {
            match a.model.stages[s].base {
                Base::Stage(b) if b < s => {
                    scope.push((Some(b), usize::MAX));
                    s = b;
                }
                _ => break,
            }
        }
    }
    for (st, before) in scope {
        for v in a.model.vars.iter().rev() {
            if v.stage == st && v.instruction < before && !names.iter().any(|(n, _, _)| *n == v.name) {
                let kind = match v.kind {
                    slipway_parser::model::VarKind::Env => "ENV",
                    _ => "ARG",
                };
                names.push((v.name.clone(), v.value.clone(), kind));
            }
        }
    }
    if in_from || stage.is_none() {
        for p in PREDEFINED_ARGS {
            if !names.iter().any(|(n, _, _)| n == p) {
                names.push((p.to_string(), None, "predefined ARG"));
            }
        }
    }
    names
        .into_iter()
        .map(|(n, v, kind)| {
            let mut it = item(n.clone(), ItemKind::Variable, replace);
            it.detail = Some(match v {
                Some(v) => format!("{kind} = {v}"),
                None => kind.to_string(),
            });
            if braced {
                it.insert = n.clone();
                it.snippet = Some(format!("{n}}}"));
            }
            it
        })
        .collect()
}

fn stages_before(a: &Analysis, i: usize, replace: &Span) -> Vec<Item> {
    let current = a
        .model
        .stage_of
        .get(i)
        .copied()
        .flatten()
        .unwrap_or(a.model.stages.len());
    a.model
        .stages
        .iter()
        .filter(|s| s.index < current)
        .filter_map(|s| {
            let name = s.name.clone()?;
            let mut it = item(name, ItemKind::Stage, replace);
            it.detail = Some(format!(
                "stage {} (line {})",
                s.index, a.file.instructions[s.from].start_line
            ));
            Some(it)
        })
        .collect()
}

fn mount(a: &Analysis, i: usize, value: &str, value_start: usize, offset: usize) -> Vec<Item> {
    let field = value.rsplit(',').next().unwrap_or_default();
    let field_start = offset - field.len();
    match field.split_once('=') {
        None => docs::MOUNT_KEYS
            .iter()
            .map(|(k, applies, doc)| {
                let mut it = item(*k, ItemKind::Property, &(field_start..offset));
                it.insert = format!("{k}=");
                it.detail = Some(format!("--mount key ({applies})"));
                it.doc = Some(doc.to_string());
                it
            })
            .collect(),
        Some((key, v)) => {
            let r = offset - v.len()..offset;
            let _ = value_start;
            if key == "from" {
                return stages_before(a, i, &r);
            }
            docs::mount_values(key)
                .iter()
                .map(|x| item(*x, ItemKind::Value, &r))
                .collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixture::{analyze, cursor};
    use super::*;

    fn labels(fixture: &str) -> Vec<String> {
        labels_with(fixture, &World::none())
    }

    fn labels_with(fixture: &str, world: &World<'_>) -> Vec<String> {
        let (text, at) = cursor(fixture);
        let a = analyze(&text);
        complete(&a, at, world).into_iter().map(|i| i.label).collect()
    }

    #[test]
    fn only_from_and_arg_before_the_first_from() {
        assert_eq!(labels("$0"), ["ARG", "FROM"]);
        assert_eq!(labels("ARG X=1\nF$0"), ["ARG", "FROM"]);
        let after = labels("FROM a\nR$0");
        assert_eq!(after.len(), 18);
        assert!(after.contains(&"RUN".to_string()));
        // Lowercase files get lowercase instructions.
        assert!(labels("from a\nrun x\n$0").contains(&"copy".to_string()));
    }

    #[test]
    fn flags_and_values() {
        assert_eq!(
            labels("FROM a\nCOPY --$0"),
            ["--chown", "--from", "--chmod", "--link", "--exclude", "--parents"]
        );
        assert_eq!(labels("FROM a AS b\nFROM c\nCOPY --from=$0"), ["b"]);
        assert_eq!(labels("FROM a\nRUN --network=$0"), ["default", "none", "host"]);
        assert!(labels("FROM a\nRUN --mount=$0").contains(&"type".to_string()));
        assert_eq!(
            labels("FROM a\nRUN --mount=type=$0"),
            ["bind", "cache", "tmpfs", "secret", "ssh"]
        );
        assert_eq!(
            labels("FROM a\nRUN --mount=type=cache,sharing=$0"),
            ["shared", "private", "locked"]
        );
        assert_eq!(labels("FROM a AS src\nFROM b\nRUN --mount=type=bind,from=$0"), ["src"]);
    }

    #[test]
    fn variables_in_scope() {
        assert_eq!(labels("ARG V=1\nFROM a\nARG W\nENV E=2\nRUN echo $$0"), ["E", "W"]);
        assert_eq!(labels("FROM a\nENV E=2\nRUN echo ${$0"), ["E"]);
        let from = labels("ARG V=1\nFROM a:$$0");
        assert_eq!(from[0], "V");
        assert!(from.contains(&"TARGETARCH".to_string()));
        assert_eq!(labels("FROM a AS base\nENV B=1\nFROM base\nRUN $$0"), ["B"]);
    }

    #[test]
    fn from_images_stages_and_as() {
        let images = ["alpine:3.20".to_string()];
        let world = World {
            images: &images,
            ..World::none()
        };
        assert_eq!(
            labels_with("FROM a AS b\nFROM $0", &world),
            ["alpine:3.20", "b", "scratch"]
        );
        assert_eq!(labels("FROM alpine $0"), ["AS"]);
    }

    #[test]
    fn directives_and_check_rules() {
        assert_eq!(labels("# $0"), ["syntax=", "escape=", "check="]);
        assert_eq!(labels("# check=$0"), ["skip=", "error=true", "experimental="]);
        let rules = labels("# check=skip=JSONArgsRecommended,$0");
        assert!(rules.contains(&"StageNameCasing".to_string()));
        assert!(labels("FROM a\n# $0").is_empty());
    }
}
