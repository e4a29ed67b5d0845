//! Diagnostics: a code, a message, a primary span, secondary spans and a help line.
//!
//! One plain struct rather than an enum per module: diagnostics travel to the
//! CLI (miette's renderer), to JSON and to the language server, and every
//! consumer wants the same fields. Codes live in [`codes`] so each is written once.

use crate::syntax::Span;
use std::fmt;

/// How bad it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Advice,
    Warning,
    Error,
}

/// Who would reject the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// BuildKit's parser rejects the file (`docker build` fails before anything runs).
    Parse,
    /// The parser accepts it, but converting the instructions for a build fails.
    Build,
    /// Accepted by BuildKit; a warning or advice from slipway.
    Lint,
}

/// A problem found in a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Diagnostic {
    pub code: &'static str,
    pub severity: Severity,
    pub phase: Phase,
    pub message: String,
    /// The exact bytes at fault.
    pub span: Span,
    /// What the primary span shows.
    pub label: String,
    /// Related places (the first definition of a duplicate, the opening of an unterminated heredoc).
    pub related: Vec<(Span, String)>,
    /// How to fix it.
    pub help: Option<String>,
    /// Machine-applicable fixes (`slipway check --fix`, editor quick fixes).
    pub fixes: Vec<Fix>,
}

/// A fix: a description and text edits, applied together.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Fix {
    pub description: String,
    pub edits: Vec<Edit>,
}

/// Replace the bytes of `span` with `text` (an empty span inserts).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Edit {
    pub span: Span,
    pub text: String,
}

impl Diagnostic {
    pub fn error(code: &'static str, phase: Phase, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            code,
            severity: Severity::Error,
            phase,
            message: message.into(),
            span,
            label: String::new(),
            related: Vec::new(),
            help: None,
            fixes: Vec::new(),
        }
    }

    pub fn warning(code: &'static str, span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, Phase::Lint, span, message)
        }
    }

    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = label.into();
        self
    }

    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    pub fn with_fix(mut self, description: impl Into<String>, edits: Vec<Edit>) -> Self {
        self.fixes.push(Fix {
            description: description.into(),
            edits,
        });
        self
    }

    pub fn with_related(mut self, span: Span, label: impl Into<String>) -> Self {
        self.related.push((span, label.into()));
        self
    }

    /// Whether BuildKit's parser would reject the file because of this.
    pub fn rejects_parse(&self) -> bool {
        self.severity == Severity::Error && self.phase == Phase::Parse
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Diagnostic {}

impl miette::Diagnostic for Diagnostic {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.code))
    }

    fn severity(&self) -> Option<miette::Severity> {
        Some(match self.severity {
            Severity::Advice => miette::Severity::Advice,
            Severity::Warning => miette::Severity::Warning,
            Severity::Error => miette::Severity::Error,
        })
    }

    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.help.as_ref().map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
    }

    fn labels(&self) -> Option<Box<dyn Iterator<Item = miette::LabeledSpan> + '_>> {
        let primary = miette::LabeledSpan::new_primary_with_span(
            (!self.label.is_empty()).then(|| self.label.clone()),
            self.span.clone(),
        );
        let related = self
            .related
            .iter()
            .map(|(span, label)| miette::LabeledSpan::new_with_span(Some(label.clone()), span.clone()));
        Some(Box::new(std::iter::once(primary).chain(related)))
    }
}

/// Diagnostic codes, one per distinct mistake.
pub mod codes {
    // Parser directives.
    pub const DUPLICATE_DIRECTIVE: &str = "slipway::directive::duplicate";
    pub const INVALID_ESCAPE: &str = "slipway::directive::invalid-escape";
    pub const MISPLACED_DIRECTIVE: &str = "slipway::directive::misplaced";
    pub const UNKNOWN_DIRECTIVE: &str = "slipway::directive::unknown";
    pub const INVALID_CHECK: &str = "slipway::directive::invalid-check";
    pub const UNKNOWN_CHECK_RULE: &str = "slipway::directive::unknown-check-rule";
    // File and line structure.
    pub const NO_INSTRUCTIONS: &str = "slipway::syntax::no-instructions";
    pub const LINE_TOO_LONG: &str = "slipway::syntax::line-too-long";
    /// BuildKit reports this as the build check NoEmptyContinuation.
    pub const EMPTY_CONTINUATION: &str = "NoEmptyContinuation";
    pub const CONTINUATION_AT_EOF: &str = "slipway::syntax::continuation-at-eof";
    pub const UNKNOWN_INSTRUCTION: &str = "slipway::syntax::unknown-instruction";
    // Arguments.
    pub const JSON_NOT_STRINGS: &str = "slipway::syntax::json-not-strings";
    pub const JSON_FALLBACK: &str = "slipway::syntax::json-fallback";
    pub const KEY_VALUE_MISSING_VALUE: &str = "slipway::syntax::missing-value";
    pub const KEY_VALUE_MISSING_EQUALS: &str = "slipway::syntax::missing-equals";
    pub const MISSING_ARGUMENTS: &str = "slipway::syntax::missing-arguments";
    pub const TOO_MANY_ARGUMENTS: &str = "slipway::syntax::too-many-arguments";
    // Heredocs.
    pub const UNTERMINATED_HEREDOC: &str = "slipway::heredoc::unterminated";
    pub const INVALID_HEREDOC: &str = "slipway::heredoc::invalid";
    pub const HEREDOC_NOT_ALLOWED: &str = "slipway::heredoc::not-allowed";
    // Flags.
    pub const UNKNOWN_FLAG: &str = "slipway::flag::unknown";
    pub const FLAG_MISSING_VALUE: &str = "slipway::flag::missing-value";
    pub const FLAG_UNEXPECTED_VALUE: &str = "slipway::flag::unexpected-value";
    pub const FLAG_INVALID_VALUE: &str = "slipway::flag::invalid-value";
    pub const FLAG_DUPLICATE: &str = "slipway::flag::duplicate";
    // ONBUILD.
    pub const ONBUILD_CHAIN: &str = "slipway::onbuild::chain";
    pub const ONBUILD_FORBIDDEN: &str = "slipway::onbuild::forbidden";
    pub const ONBUILD_EMPTY: &str = "slipway::onbuild::empty";
    // The semantic model.
    pub const NO_STAGE: &str = "slipway::stage::no-stage";
    pub const INVALID_STAGE_NAME: &str = "slipway::stage::invalid-name";
    pub const STAGE_ORDER: &str = "slipway::stage::order";
    pub const UNKNOWN_TARGET: &str = "slipway::stage::unknown-target";
    pub const CIRCULAR_DEPENDENCY: &str = "slipway::stage::circular-dependency";
    pub const BLANK_BASE: &str = "slipway::stage::blank-base";
    pub const FROM_VARIABLE: &str = "slipway::flag::from-variable";
    pub const HEREDOC_MISUSE: &str = "slipway::heredoc::misuse";
    // Word expansion.
    pub const EXPANSION: &str = "slipway::expand::error";
}

/// The closest candidate to `word` by edit distance, if close enough to be a
/// plausible misspelling ("did you mean ...?").
pub fn did_you_mean<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    // Called once per unknown word, so no allocation: names longer than this get no suggestion.
    const MAX: usize = 40;
    let mut a = ['\0'; MAX];
    let mut la = 0;
    for c in word.chars() {
        if la == MAX {
            return None;
        }
        a[la] = c.to_ascii_lowercase();
        la += 1;
    }
    let limit = match la {
        0..=2 => 1,
        3..=5 => 2,
        _ => 3,
    };
    let mut best: Option<(usize, &'a str)> = None;
    for cand in candidates {
        let mut b = ['\0'; MAX];
        let mut lb = 0;
        for c in cand.chars() {
            if lb == MAX {
                break;
            }
            b[lb] = c.to_ascii_lowercase();
            lb += 1;
        }
        if la.abs_diff(lb) > limit {
            continue;
        }
        let d = edit_distance(&a[..la], &b[..lb]);
        if d <= limit && best.is_none_or(|(bd, _)| d < bd) {
            best = Some((d, cand));
        }
    }
    best.map(|(_, c)| c)
}

/// Damerau-Levenshtein (optimal string alignment) distance over at most 40 chars, on the stack.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    let w = b.len() + 1;
    let (mut prev2, mut prev, mut cur) = ([0usize; 41], [0usize; 41], [0usize; 41]);
    for (j, cell) in prev.iter_mut().enumerate().take(w) {
        *cell = j;
    }
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..w {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(prev2[j - 2] + 1);
            }
            cur[j] = v;
        }
        prev2 = prev;
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_pick_the_closest_candidate() {
        let kws = ["FROM", "RUN", "COPY", "WORKDIR", "ENTRYPOINT"];
        assert_eq!(did_you_mean("FORM", kws), Some("FROM"));
        assert_eq!(did_you_mean("cpoy", kws), Some("COPY"));
        assert_eq!(did_you_mean("WORKDIT", kws), Some("WORKDIR"));
        assert_eq!(did_you_mean("apt-get", kws), None);
        assert_eq!(did_you_mean("", kws), None);
        assert_eq!(did_you_mean(&"x".repeat(100), kws), None);
        assert_eq!(did_you_mean("RNU", kws), Some("RUN"));
    }
}
