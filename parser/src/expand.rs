//! Word expansion for later stages: the shell lexer applied to a word of an
//! instruction, with errors pointing into the Dockerfile.

use crate::diagnostics::{codes, Diagnostic, Phase};
use crate::shell::{Env, Lexer};
use crate::syntax::Word;

/// Expands `word` (`$VAR`, `${VAR:-default}`, quotes, escapes) with `env`,
/// using the file's escape character. Errors carry the word's span.
pub fn expand(word: &Word, escape: char, env: &dyn Env) -> Result<String, Box<Diagnostic>> {
    Lexer::new(escape).process_word(&word.text, env).map_err(|e| {
        // The word text is its source slice in all but exotic cases; clamp to be safe.
        let at = (word.span.start + e.offset).min(word.span.end);
        let d = Diagnostic::error(
            codes::EXPANSION,
            Phase::Build,
            at..word.span.end.max(at),
            e.message.clone(),
        )
        .with_label("cannot expand this")
        .with_related(word.span.clone(), "in this word")
        .with_help("close every quote and `${`; escape a literal `$` as `\\$`");
        Box::new(d)
    })
}
