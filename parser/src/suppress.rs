//! Suppression and severity configuration: which diagnostics a user asked
//! not to see, and how loud the rest should be.
//!
//! Four mechanisms, applied by [`apply`] after every check has run:
//!
//! - BuildKit's `# check=skip=…;error=…;experimental=…` parser directive, read
//!   exactly as BuildKit's `linter.ParseLintOptions` reads it, and its
//!   per-instruction form: a `# check=` comment directly above an instruction
//!   (BuildKit's `WithMergedConfigFromComments`). `skip` and `error` affect only
//!   BuildKit's build checks; experimental rules are dropped unless enabled.
//! - hadolint's pragmas: `# hadolint ignore=DL3008,SC2086` on the line(s)
//!   directly above an instruction, `# hadolint global ignore=…` anywhere.
//! - The same with `# slipway ignore=…` / `# slipway global ignore=…`.
//! - [`Config`]: codes to ignore and severity overrides (`.slipway.toml`, flags).
//!
//! A code in any of these lists may be a diagnostic code
//! (`slipway::flag::unknown`), a BuildKit rule name (`StageNameCasing`), the
//! hadolint code a rule maps to (`DL3008`) or a shellcheck code (`SC2086`, which
//! matches `shellcheck::SC2086`). Parse errors (what BuildKit's parser rejects)
//! are never suppressed.

use crate::diagnostics::{codes, did_you_mean, Diagnostic, Phase, Severity};
use crate::rules::{self, Rule};
use crate::syntax::{Dockerfile, Instruction, Span};

/// What the user configured (`.slipway.toml`, command-line flags).
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Codes never to report (diagnostic codes, BuildKit names, hadolint or shellcheck codes).
    pub ignore: Vec<String>,
    /// Severity overrides by code (same kinds of code as `ignore`); the last match wins.
    pub severity: Vec<(String, Severity)>,
    /// Experimental rules to enable (rule names, or `all`), on top of `# check=experimental=`.
    pub experimental: Vec<String>,
    /// Replaces the file's `# check=` directive, as BuildKit's
    /// `BUILDKIT_DOCKERFILE_CHECK` build argument does.
    pub check: Option<String>,
    /// Registries whose images are trusted (for the rules that check base images).
    pub trusted_registries: Vec<String>,
    /// hadolint's `label-schema`: labels every image should have, with the kind of value.
    pub label_schema: Vec<(String, LabelType)>,
    /// hadolint's `strict-labels`: labels outside the schema are reported (DL3050).
    pub strict_labels: bool,
    /// hadolint's `disable-ignore-pragma`: `# hadolint …ignore=` comments have no effect.
    pub disable_ignore_pragma: bool,
}

/// The kind of value a label of the label schema holds (hadolint's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LabelType {
    /// Anything non-empty.
    Text,
    Url,
    SemVer,
    /// A git commit hash: 7 or 40 lowercase hex digits.
    Hash,
    Rfc3339,
    /// An SPDX license identifier.
    Spdx,
    Email,
}

impl LabelType {
    /// hadolint's name for it (`text`, `url`, `semver`, `hash`, `rfc3339`, `spdx`, `email`).
    pub fn parse(name: &str) -> Option<LabelType> {
        Some(match name.to_ascii_lowercase().as_str() {
            "text" => LabelType::Text,
            "url" => LabelType::Url,
            "semver" => LabelType::SemVer,
            "hash" => LabelType::Hash,
            "rfc3339" => LabelType::Rfc3339,
            "spdx" => LabelType::Spdx,
            "email" => LabelType::Email,
            _ => return None,
        })
    }
}

/// BuildKit's lint configuration: the parsed value of a `# check=` directive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckDirective {
    pub skip_all: bool,
    /// Rule names to skip (BuildKit compares them case-sensitively).
    pub skip: Vec<String>,
    /// `error=true`: build-check warnings fail the build.
    pub error: bool,
    pub experimental_all: bool,
    pub experimental: Vec<String>,
}

/// Why a `# check=` value is invalid: BuildKit's message and the byte range of
/// the offending part within the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckDirectiveError {
    pub message: String,
    pub range: Span,
}

/// Parses a `# check=` value as BuildKit's `linter.ParseLintOptions` does:
/// at most three `;`-separated parts (a fourth stays inside the third), each
/// `key=value` with `skip`, `error` or `experimental` as key.
pub fn parse_check(value: &str) -> Result<CheckDirective, CheckDirectiveError> {
    let mut out = CheckDirective::default();
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Ok(out);
    }
    let base = value.len() - value.trim_start().len();
    let mut start = 0;
    for (i, part) in trimmed.splitn(3, ';').enumerate() {
        if i > 0 {
            start += 1;
        }
        let range = base + start..base + start + part.len();
        start += part.len();
        let Some((k, v)) = part.split_once('=') else {
            return Err(CheckDirectiveError {
                message: format!("invalid check option {part:?}"),
                range,
            });
        };
        match k.trim() {
            "skip" => {
                let v = v.trim();
                if v == "all" {
                    out.skip_all = true;
                } else {
                    out.skip = v.split(',').map(|r| r.trim().to_string()).collect();
                }
            }
            "experimental" => {
                let v = v.trim();
                if v == "all" {
                    out.experimental_all = true;
                } else {
                    out.experimental = v.split(',').map(|r| r.trim().to_string()).collect();
                }
            }
            "error" => match parse_go_bool(v.trim()) {
                Some(b) => out.error = b,
                None => {
                    return Err(CheckDirectiveError {
                        message: format!(
                            "failed to parse check option {part:?}: strconv.ParseBool: parsing {:?}: invalid syntax",
                            v.trim()
                        ),
                        range,
                    })
                }
            },
            k => {
                return Err(CheckDirectiveError {
                    message: format!("invalid check option {k:?}"),
                    range,
                });
            }
        }
    }
    Ok(out)
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

impl CheckDirective {
    /// BuildKit's `WithMergedConfig`: skips and experimental rules add up; `error` stays.
    fn merged(&self, other: &CheckDirective) -> CheckDirective {
        let mut out = self.clone();
        out.skip_all |= other.skip_all;
        out.experimental_all |= other.experimental_all;
        out.skip.extend(other.skip.iter().cloned());
        out.experimental.extend(other.experimental.iter().cloned());
        out
    }

    /// Whether BuildKit would report `rule` under this configuration.
    fn reports(&self, rule: &Rule) -> bool {
        if rule.experimental {
            self.experimental_all || self.experimental.iter().any(|r| r == rule.code)
        } else {
            !(self.skip_all || self.skip.iter().any(|r| r == rule.code))
        }
    }
}

/// BuildKit's `WithMergedConfigFromComments`: the first comment above an
/// instruction that reads as a `check=` directive (value cut at the first
/// space) is merged in; an invalid one changes nothing.
fn comment_check(comments: &[String]) -> Option<CheckDirective> {
    for comment in comments {
        let Some((name, value)) = directive_in_comment(comment) else {
            continue;
        };
        if name != "check" {
            continue;
        }
        let value = value.split(' ').next().unwrap_or_default();
        return parse_check(value).ok();
    }
    None
}

/// `^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` on a comment's text, with the name
/// lowercased and required to be a known directive.
fn directive_in_comment(comment: &str) -> Option<(String, &str)> {
    let is_ws = |c: char| matches!(c, '\t' | '\n' | '\u{c}' | '\r' | ' ');
    let text = comment.trim_start();
    if !text.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let name_len = text.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(text.len());
    let name = text[..name_len].to_ascii_lowercase();
    let rest = text[name_len..].trim_start_matches(is_ws).strip_prefix('=')?;
    let value = rest.trim_start_matches(is_ws).trim_end_matches(is_ws);
    if value.is_empty() || !matches!(name.as_str(), "syntax" | "escape" | "check") {
        return None;
    }
    Some((name, value))
}

/// Where an ignore pragma applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// `# hadolint ignore=…`: the instruction below.
    Inline,
    /// `# hadolint stage ignore=…`: from here to the next FROM.
    Stage,
    /// `# hadolint global ignore=…`: the whole file.
    Global,
}

/// A `# hadolint [global|stage] ignore=A,B` or `# slipway [global|stage] ignore=A,B`
/// comment: its scope, whether it is hadolint's, and the codes.
pub(crate) fn pragma(comment: &str) -> Option<(Scope, bool, Vec<&str>)> {
    let mut rest = comment.trim_start();
    let tool_len = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
    let hadolint = rest[..tool_len].eq_ignore_ascii_case("hadolint");
    if !(hadolint || rest[..tool_len].eq_ignore_ascii_case("slipway")) {
        return None;
    }
    rest = rest[tool_len..].trim_start();
    let mut scope = Scope::Inline;
    for (word, s) in [("global", Scope::Global), ("stage", Scope::Stage)] {
        if let Some(r) = rest.strip_prefix(word) {
            if r.starts_with(char::is_whitespace) {
                scope = s;
                rest = r.trim_start();
                break;
            }
        }
    }
    rest = rest
        .strip_prefix("ignore")?
        .trim_start()
        .strip_prefix('=')?
        .trim_start();
    let is_code = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.');
    let mut codes = Vec::new();
    loop {
        let len = rest.find(|c: char| !is_code(c)).unwrap_or(rest.len());
        if len == 0 {
            break;
        }
        codes.push(&rest[..len]);
        match rest[len..].trim_start().strip_prefix(',') {
            Some(r) => rest = r.trim_start(),
            None => break,
        }
    }
    (!codes.is_empty()).then_some((scope, hadolint, codes))
}

/// Whether a user-written `entry` names diagnostic `code` (whose rule, if
/// registered, is `rule`).
fn names(entry: &str, code: &str, rule: Option<&Rule>) -> bool {
    entry.eq_ignore_ascii_case(code)
        || code.strip_prefix("shellcheck::").is_some_and(|sc| sc.eq_ignore_ascii_case(entry))
        || rule.and_then(|r| r.hadolint).is_some_and(|h| h.eq_ignore_ascii_case(entry))
        // A hadolint rule that a BuildKit check or a build error covers.
        || crate::lint::HADOLINT_ALIASES
            .iter()
            .chain(crate::lint::HADOLINT_ERRORS)
            .any(|(h, c)| *c == code && h.eq_ignore_ascii_case(entry))
}

/// The registered rule a diagnostic code belongs to.
fn rule_of(code: &str) -> Option<&'static Rule> {
    rules::all().find(|r| r.code == code)
}

/// The instruction whose span holds `offset` (instructions are in source order).
fn instruction_at(file: &Dockerfile, offset: usize) -> Option<usize> {
    let i = file.instructions.partition_point(|inst| inst.span.start <= offset);
    let i = i.checked_sub(1)?;
    (offset <= file.instructions[i].span.end).then_some(i)
}

/// The comments on the lines directly above an instruction (no empty line between).
fn comments_above<'f>(text: &str, file: &'f Dockerfile, inst: &Instruction) -> Vec<&'f str> {
    let end = file.comments.partition_point(|c| c.span.end <= inst.span.start);
    let mut out = Vec::new();
    let mut next = inst.span.start;
    for c in file.comments[..end].iter().rev() {
        // Exactly one line break and nothing but blanks between them. (Stop at the second
        // line break: the comment before may be thousands of lines up.)
        let gap = text.get(c.span.end..next).unwrap_or("x");
        let mut breaks = 0;
        let adjacent = gap.chars().all(|ch| {
            breaks += usize::from(ch == '\n');
            breaks <= 1 && ch.is_whitespace()
        });
        if !adjacent || breaks != 1 {
            break;
        }
        out.push(c.text.as_str());
        next = c.span.start;
    }
    out.reverse();
    out
}

/// What applies to the diagnostics of one instruction.
#[derive(Default)]
struct Local<'f> {
    check: Option<CheckDirective>,
    ignore: Vec<&'f str>,
}

/// Drops suppressed diagnostics and applies severity overrides; adds a
/// diagnostic for an invalid `# check=` directive.
pub fn apply(text: &str, file: &Dockerfile, diags: Vec<Diagnostic>, config: &Config) -> Vec<Diagnostic> {
    let mut out = Vec::with_capacity(diags.len());

    // The file-level `# check=` (or its replacement from the configuration).
    let directive = file.directives.iter().find(|d| d.name == "check");
    let check = match (&config.check, directive) {
        (Some(value), _) => {
            match parse_check(value) {
                Ok(c) => c,
                Err(e) => {
                    out.push(
                    Diagnostic::error(
                        codes::INVALID_CHECK,
                        Phase::Build,
                        0..0,
                        format!("failed to parse check options: {}", e.message),
                    )
                    .with_label("from the BUILDKIT_DOCKERFILE_CHECK build argument")
                    .with_help("use `skip=Rule1,Rule2|all`, `error=true|false` and `experimental=Rule|all`, separated by `;`"),
                );
                    CheckDirective::default()
                }
            }
        }
        (None, Some(d)) => {
            match parse_check(&d.value) {
                Ok(c) => {
                    unknown_rules(text, d, &c, &mut out);
                    c
                }
                Err(e) => {
                    let span = if text.get(d.value_span.clone()) == Some(d.value.as_str()) {
                        d.value_span.start + e.range.start..d.value_span.start + e.range.end
                    } else {
                        d.value_span.clone()
                    };
                    out.push(
                    Diagnostic::error(
                        codes::INVALID_CHECK,
                        Phase::Build,
                        span,
                        format!("failed to parse check options: {}", e.message),
                    )
                    .with_label("not a check option")
                    .with_help("use `skip=Rule1,Rule2|all`, `error=true|false` and `experimental=Rule|all`, separated by `;`"),
                );
                    CheckDirective::default()
                }
            }
        }
        (None, None) => CheckDirective::default(),
    };
    let experimental_all = config.experimental.iter().any(|e| e == "all");
    let experimental_enabled =
        |rule: &Rule| experimental_all || config.experimental.iter().any(|e| e.eq_ignore_ascii_case(rule.code));

    // hadolint's `disable-ignore-pragma` turns hadolint's pragmas off (slipway's stay).
    let disabled = config.disable_ignore_pragma;
    fn active(c: &str, disabled: bool) -> Option<(Scope, bool, Vec<&str>)> {
        pragma(c).filter(|(_, hadolint, _)| !(*hadolint && disabled))
    }
    // File-wide pragmas, stage pragmas (offset from which they apply, to the next FROM),
    // and per-instruction ones computed on demand.
    let global: Vec<&str> = file
        .comments
        .iter()
        .filter_map(|c| active(&c.text, disabled))
        .filter(|(scope, _, _)| *scope == Scope::Global)
        .flat_map(|(_, _, codes)| codes)
        .collect();
    let stage: Vec<(usize, usize, Vec<&str>)> = file
        .comments
        .iter()
        .filter_map(|c| {
            let (scope, _, codes) = active(&c.text, disabled)?;
            (scope == Scope::Stage).then_some((c.span.start, codes))
        })
        .map(|(at, codes)| {
            let end = file
                .instructions
                .iter()
                .filter(|i| i.span.start > at && i.keyword == Some(crate::syntax::Keyword::From))
                .nth(usize::from(stage_pragma_above_from(text, file, at)))
                .map_or(usize::MAX, |i| i.span.start);
            (at, end, codes)
        })
        .collect();
    let mut locals: Vec<Option<Local<'_>>> = file.instructions.iter().map(|_| None).collect();
    let nothing = Local::default();

    for mut d in diags {
        if d.phase == Phase::Parse {
            out.push(d);
            continue;
        }
        let rule = rule_of(d.code);
        let local = match instruction_at(file, d.span.start) {
            Some(i) => &*locals[i].get_or_insert_with(|| {
                let inst = &file.instructions[i];
                Local {
                    check: comment_check(&inst.comments),
                    ignore: comments_above(text, file, inst)
                        .into_iter()
                        .filter_map(|c| active(c, disabled))
                        .filter(|(scope, _, _)| *scope == Scope::Inline)
                        .flat_map(|(_, _, codes)| codes)
                        .collect(),
                }
            }),
            None => &nothing,
        };
        if let Some(rule) = rule {
            let effective = match &local.check {
                Some(c) => check.merged(c),
                None => check.clone(),
            };
            let reported = if rule.experimental {
                effective.reports(rule) || experimental_enabled(rule)
            } else {
                !rule.buildkit || effective.reports(rule)
            };
            if !reported {
                continue;
            }
            if rule.buildkit && check.error && d.severity == Severity::Warning {
                d.severity = Severity::Error;
            }
        }
        // A rule that is off by default reports only when the configuration gives it a severity.
        if rule.is_some_and(|r| r.off_by_default) && !config.severity.iter().any(|(e, _)| names(e, d.code, rule)) {
            continue;
        }
        let ignored = |e: &&str| names(e, d.code, rule);
        if global.iter().any(ignored)
            || local.ignore.iter().any(ignored)
            || stage
                .iter()
                .any(|(from, to, codes)| (*from..*to).contains(&d.span.start) && codes.iter().any(ignored))
            || config.ignore.iter().any(|e| names(e, d.code, rule))
        {
            continue;
        }
        if let Some((_, severity)) = config.severity.iter().rev().find(|(e, _)| names(e, d.code, rule)) {
            d.severity = *severity;
        }
        out.push(d);
    }
    out
}

/// Whether the comment at `at` sits directly above a FROM (then a stage pragma covers that
/// stage, up to the FROM after it).
fn stage_pragma_above_from(text: &str, file: &Dockerfile, at: usize) -> bool {
    let next = file.instructions.partition_point(|i| i.span.start <= at);
    file.instructions.get(next).is_some_and(|i| {
        i.keyword == Some(crate::syntax::Keyword::From)
            && text.get(at..i.span.start).is_some_and(|gap| {
                gap.lines()
                    .skip(1)
                    .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
            })
    })
}

/// Names in `skip=`/`experimental=` that are no BuildKit rule: BuildKit ignores
/// them silently, which hides typos.
fn unknown_rules(text: &str, d: &crate::syntax::Directive, check: &CheckDirective, out: &mut Vec<Diagnostic>) {
    let names = rules::BUILDKIT.iter().map(|r| r.code);
    for name in check.skip.iter().chain(&check.experimental) {
        if name.is_empty() || rules::BUILDKIT.iter().any(|r| r.code == name) {
            continue;
        }
        let span = if text.get(d.value_span.clone()) == Some(d.value.as_str()) {
            find_word(&d.value, name).map_or(d.value_span.clone(), |r| {
                d.value_span.start + r.start..d.value_span.start + r.end
            })
        } else {
            d.value_span.clone()
        };
        let mut diag = Diagnostic::warning(codes::UNKNOWN_CHECK_RULE, span, format!("unknown build check `{name}`"))
            .with_label("BuildKit has no check of this name, so this changes nothing");
        diag = match (rules::find(name), did_you_mean(name, names.clone())) {
            (Some(rule), _) if !rule.buildkit => diag.with_help(format!(
                "`# check=` only governs BuildKit's checks; use `# slipway ignore={name}` above an instruction, or `# slipway global ignore={name}`"
            )),
            (_, Some(s)) => diag.with_help(format!("did you mean `{s}`? (rule names are case-sensitive)")),
            (_, None) => diag.with_help("see https://docs.docker.com/go/dockerfile/rule/ for the names of BuildKit's checks"),
        };
        out.push(diag);
    }
}

/// The range of `word` in `s` as a whole comma-separated item.
fn find_word(s: &str, word: &str) -> Option<Span> {
    let mut from = 0;
    while let Some(i) = s[from..].find(word) {
        let start = from + i;
        let end = start + word.len();
        let before = s[..start].trim_end_matches([' ', '\t']);
        let after = s[end..].trim_start_matches([' ', '\t']);
        if (before.is_empty() || before.ends_with([',', '='])) && (after.is_empty() || after.starts_with([',', ';'])) {
            return Some(start..end);
        }
        from = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostics::codes::UNKNOWN_FLAG;

    /// Parses `text`, adds `extra` diagnostics (code, byte offset of `at`), applies `config`.
    fn run(text: &str, extra: &[(&'static str, &str)], config: &Config) -> Vec<(&'static str, Severity)> {
        let parsed = crate::parse(text);
        let mut diags = parsed.diagnostics.clone();
        for (code, at) in extra {
            let start = text.find(at).expect("anchor in text");
            let rule = rule_of(code);
            let mut d = Diagnostic::warning(code, start..start + at.len(), "test");
            if let Some(r) = rule {
                d.severity = r.severity;
            }
            diags.push(d);
        }
        apply(text, &parsed.file, diags, config)
            .into_iter()
            .map(|d| (d.code, d.severity))
            .collect()
    }

    const W: Severity = Severity::Warning;
    const E: Severity = Severity::Error;

    #[test]
    fn check_options_parse_as_buildkit_does() {
        assert_eq!(parse_check("").unwrap(), CheckDirective::default());
        let c = parse_check(" skip = A, B ;error=True;experimental=all").unwrap();
        assert_eq!(c.skip, ["A", "B"]);
        assert!(c.error && c.experimental_all && !c.skip_all);
        assert!(parse_check("skip=all").unwrap().skip_all);
        // At most three parts: a fourth stays inside the third.
        let c = parse_check("error=1;skip=A;experimental=X;skip=all").unwrap();
        assert_eq!(c.experimental, ["X;skip=all"]);
        assert!(!c.skip_all);
        let e = parse_check("skip=A;bogus").unwrap_err();
        assert_eq!(e.message, "invalid check option \"bogus\"");
        assert_eq!(e.range, 7..12);
        let e = parse_check("foo=bar").unwrap_err();
        assert_eq!(e.message, "invalid check option \"foo\"");
        let e = parse_check("error=maybe").unwrap_err();
        assert_eq!(
            e.message,
            "failed to parse check option \"error=maybe\": strconv.ParseBool: parsing \"maybe\": invalid syntax"
        );
    }

    #[test]
    fn check_skip_drops_named_build_checks_only() {
        let text = "# check=skip=StageNameCasing\nFROM a AS Build\nCOPY --form=x a b\n";
        let got = run(
            text,
            &[
                ("StageNameCasing", "Build"),
                ("FromAsCasing", "AS"),
                ("DL3008-like", "COPY"),
            ],
            &Config::default(),
        );
        assert!(!got.iter().any(|(c, _)| *c == "StageNameCasing"));
        assert!(got.contains(&("FromAsCasing", W)));
        assert!(got.contains(&(UNKNOWN_FLAG, E)));
        assert!(got.contains(&("DL3008-like", W)));
    }

    #[test]
    fn check_skip_all_and_case_sensitive_names() {
        let text = "# check=skip=all\nFROM a AS Build\n";
        let got = run(
            text,
            &[("StageNameCasing", "Build"), ("slipway::other", "FROM")],
            &Config::default(),
        );
        assert_eq!(got, [("slipway::other", W)]);
        // BuildKit compares rule names exactly; a misspelt one skips nothing and is reported.
        let text = "# check=skip=stagenamecasing\nFROM a AS Build\n";
        let got = run(text, &[("StageNameCasing", "Build")], &Config::default());
        assert_eq!(got, [(codes::UNKNOWN_CHECK_RULE, W), ("StageNameCasing", W)]);
    }

    #[test]
    fn check_error_true_makes_build_check_warnings_errors() {
        let text = "# check=error=true\nFROM a AS Build\n";
        let got = run(
            text,
            &[("StageNameCasing", "Build"), ("slipway::other", "FROM")],
            &Config::default(),
        );
        assert_eq!(got, [("StageNameCasing", E), ("slipway::other", W)]);
        let text = "# check=skip=StageNameCasing;error=true\nFROM a AS Build\n";
        assert_eq!(run(text, &[("StageNameCasing", "Build")], &Config::default()), []);
    }

    #[test]
    fn experimental_rules_need_enabling() {
        let text = "FROM a\n# x\nARG X\n";
        let extra = [("InvalidDefinitionDescription", "ARG")];
        assert_eq!(run(text, &extra, &Config::default()), []);
        let on = "# check=experimental=InvalidDefinitionDescription\nFROM a\n# x\nARG X\n";
        assert_eq!(run(on, &extra, &Config::default()).len(), 1);
        let all = "# check=experimental=all\nFROM a\n# x\nARG X\n";
        assert_eq!(run(all, &extra, &Config::default()).len(), 1);
        // skip=all does not touch experimental rules (BuildKit checks them apart).
        let both = "# check=skip=all;experimental=all\nFROM a\n# x\nARG X\n";
        assert_eq!(run(both, &extra, &Config::default()).len(), 1);
        let config = Config {
            experimental: vec!["all".into()],
            ..Config::default()
        };
        assert_eq!(run(text, &extra, &config).len(), 1);
    }

    #[test]
    fn invalid_check_directive_is_reported_on_its_value() {
        let text = "# check=skip=A;bogus\nFROM a AS Build\n";
        let parsed = crate::parse(text);
        let diags = vec![Diagnostic::warning("StageNameCasing", 31..36, "x")];
        let out = apply(text, &parsed.file, diags, &Config::default());
        assert_eq!(out[0].code, codes::INVALID_CHECK);
        assert_eq!(&text[out[0].span.clone()], "bogus");
        assert_eq!(
            out[0].message,
            "failed to parse check options: invalid check option \"bogus\""
        );
        // The directive is then not applied at all.
        assert_eq!(out[1].code, "StageNameCasing");
    }

    #[test]
    fn check_from_build_argument_replaces_the_directive() {
        let text = "# check=skip=StageNameCasing\nFROM a AS Build\n";
        let config = Config {
            check: Some("skip=FromAsCasing".into()),
            ..Config::default()
        };
        let got = run(text, &[("StageNameCasing", "Build"), ("FromAsCasing", "AS")], &config);
        assert_eq!(got, [("StageNameCasing", W)]);
    }

    #[test]
    fn check_comment_above_an_instruction_is_local() {
        let text = "FROM a\n# check=skip=MaintainerDeprecated // allowed here\nMAINTAINER x\nMAINTAINER y\n";
        let got = run(
            text,
            &[
                ("MaintainerDeprecated", "MAINTAINER x"),
                ("MaintainerDeprecated", "MAINTAINER y"),
            ],
            &Config::default(),
        );
        assert_eq!(got.iter().filter(|(c, _)| *c == "MaintainerDeprecated").count(), 1);
    }

    #[test]
    fn hadolint_ignore_applies_to_the_next_instruction() {
        let text = "FROM a\n# hadolint ignore=slipway::flag::unknown, SC2086\nCOPY --form=x a b\nCOPY --form=y a b\n";
        let got = run(
            text,
            &[
                ("shellcheck::SC2086", "COPY --form=x"),
                ("shellcheck::SC2154", "COPY --form=x"),
            ],
            &Config::default(),
        );
        assert_eq!(got, [(UNKNOWN_FLAG, E), ("shellcheck::SC2154", W)]);
    }

    #[test]
    fn pragma_needs_to_be_directly_above() {
        let text = "FROM a\n# slipway ignore=slipway::flag::unknown\n\nCOPY --form=x a b\n";
        assert_eq!(run(text, &[], &Config::default()), [(UNKNOWN_FLAG, E)]);
        // A block of comments right above counts, and the instruction's continuation lines too.
        let text = "FROM a\n# slipway ignore=slipway::flag::unknown\n# why: legacy\nCOPY \\\n  --form=x a b\n";
        let parsed = crate::parse(text);
        assert_eq!(run(text, &[], &Config::default()), []);
        assert!(!parsed.diagnostics.is_empty());
    }

    #[test]
    fn global_ignore_applies_everywhere() {
        let text =
            "FROM a\nCOPY --form=x a b\n# hadolint global ignore=DL9999,slipway::flag::unknown\nCOPY --form=y a b\n";
        assert_eq!(run(text, &[], &Config::default()), []);
        let text = "FROM a\nCOPY --form=x a b\n# slipway global ignore=slipway::flag::unknown\n";
        assert_eq!(run(text, &[], &Config::default()), []);
    }

    #[test]
    fn hadolint_codes_name_the_rules_they_map_to() {
        let rule = rules::find("DL3008").expect("DL3008 is registered");
        assert!(!rule.buildkit);
        let text = "FROM a\n# hadolint ignore=DL3008\nRUN x\nRUN y\n";
        let got = run(text, &[(rule.code, "RUN x"), (rule.code, "RUN y")], &Config::default());
        assert_eq!(got, [(rule.code, rule.severity)]);
        // `# check=skip=` governs BuildKit's checks only, and says so.
        let text = "# check=skip=DL3008\nFROM a\nRUN x\n";
        let parsed = crate::parse(text);
        let out = apply(text, &parsed.file, vec![], &Config::default());
        assert_eq!(out[0].code, codes::UNKNOWN_CHECK_RULE);
        assert_eq!(&text[out[0].span.clone()], "DL3008");
        assert!(out[0].help.as_deref().unwrap().contains("# slipway ignore=DL3008"));
    }

    #[test]
    fn names_match_codes_hadolint_and_shellcheck() {
        let r = Rule {
            hadolint: Some("DL3008"),
            ..rules::BUILDKIT[0]
        };
        assert!(names("DL3008", "slipway::lint::apt-pin", Some(&r)));
        assert!(names("dl3008", "slipway::lint::apt-pin", Some(&r)));
        assert!(!names("DL3009", "slipway::lint::apt-pin", Some(&r)));
        assert!(names("SC2086", "shellcheck::SC2086", None));
        assert!(names("shellcheck::SC2086", "shellcheck::SC2086", None));
        assert!(names("stagenamecasing", "StageNameCasing", None));
        // hadolint's DL4000 is BuildKit's MaintainerDeprecated.
        assert!(names("DL4000", "MaintainerDeprecated", rule_of("MaintainerDeprecated")));
        assert!(!names("DL4000", "StageNameCasing", rule_of("StageNameCasing")));
    }

    #[test]
    fn pragmas_parse_like_hadolint() {
        assert_eq!(
            pragma("hadolint ignore=DL3008,DL3009"),
            Some((Scope::Inline, true, vec!["DL3008", "DL3009"]))
        );
        assert_eq!(
            pragma("hadolint ignore = DL3008 , SC2086 because"),
            Some((Scope::Inline, true, vec!["DL3008", "SC2086"]))
        );
        assert_eq!(
            pragma("hadolint global ignore=DL3008"),
            Some((Scope::Global, true, vec!["DL3008"]))
        );
        assert_eq!(
            pragma("hadolint stage ignore=DL3008"),
            Some((Scope::Stage, true, vec!["DL3008"]))
        );
        assert_eq!(
            pragma("slipway ignore=slipway::flag::unknown"),
            Some((Scope::Inline, false, vec!["slipway::flag::unknown"]))
        );
        assert_eq!(pragma("hadolint ignore="), None);
        assert_eq!(pragma("hadolintignore=DL3008"), None);
        assert_eq!(pragma("just a comment"), None);
    }

    #[test]
    fn config_ignore_and_severity() {
        let text = "FROM a AS Build\nCOPY --form=x a b\n";
        let config = Config {
            ignore: vec!["StageNameCasing".into()],
            ..Config::default()
        };
        assert_eq!(run(text, &[("StageNameCasing", "Build")], &config), [(UNKNOWN_FLAG, E)]);
        let config = Config {
            severity: vec![
                ("slipway::flag::unknown".into(), Severity::Advice),
                ("StageNameCasing".into(), E),
            ],
            ..Config::default()
        };
        assert_eq!(
            run(text, &[("StageNameCasing", "Build")], &config),
            [(UNKNOWN_FLAG, Severity::Advice), ("StageNameCasing", E)]
        );
    }

    #[test]
    fn parse_errors_are_never_suppressed() {
        let text = "# hadolint global ignore=slipway::syntax::missing-value\nFROM a\nENV ONLYNAME\n";
        let config = Config {
            ignore: vec!["slipway::syntax::missing-value".into()],
            severity: vec![("slipway::syntax::missing-value".into(), Severity::Advice)],
            ..Config::default()
        };
        assert_eq!(run(text, &[], &config), [("slipway::syntax::missing-value", E)]);
    }
}
