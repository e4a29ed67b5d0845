//! Word expansion for later stages: the shell lexer applied to a word of an
//! instruction, with errors pointing into the Dockerfile.

use crate::diagnostics::{codes, Diagnostic, Phase};
use crate::shell::{Env, Lexer};
use crate::syntax::Word;

/// Expands `word` (`$VAR`, `${VAR:-default}`, quotes, escapes) of the parsed
/// `source` with `env`, using the file's escape character. An error points at
/// the failing `${` or quote when the word is a verbatim slice of the source,
/// and at the whole word otherwise (a word joined across continuation lines).
pub fn expand(source: &str, word: &Word, escape: char, env: &dyn Env) -> Result<String, Box<Diagnostic>> {
    Lexer::new(escape).process_word(&word.text, env).map_err(|e| {
        let verbatim = source.get(word.span.clone()) == Some(word.text.as_str());
        let span = if verbatim && e.offset < word.text.len() {
            word.span.start + e.offset..word.span.end
        } else {
            word.span.clone()
        };
        let d = Diagnostic::error(codes::EXPANSION, Phase::Build, span, e.message.clone())
            .with_label("cannot expand this")
            .with_related(word.span.clone(), "in this word")
            .with_help(
                e.kind
                    .help()
                    .unwrap_or("close every quote and `${`; escape a literal `$` as `\\$`"),
            );
        Box::new(d)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shell::MapEnv;

    #[test]
    fn expands_and_points_errors_at_the_construct() {
        let text = "FROM a\nENV X=${NAME:-anon} Y=${BROKEN\n";
        let parsed = crate::parse(text);
        let crate::Args::KeyValues(kvs) = &parsed.file.instructions[1].args else {
            panic!()
        };
        let env = MapEnv::from_pairs([("NAME", "slipway")]);
        assert_eq!(expand(text, &kvs[0].value, '\\', &env).unwrap(), "slipway");
        let err = expand(text, &kvs[1].value, '\\', &env).unwrap_err();
        assert_eq!(&text[err.span.clone()], "${BROKEN");
    }
}
