//! Word expansion as BuildKit's shell lexer does it (placeholder; being written).

use std::collections::BTreeSet;

/// Where variables come from during expansion.
pub trait Env {
    fn get(&self, key: &str) -> Option<&str>;
    fn keys(&self) -> Vec<String>;
}

/// An empty environment.
pub struct NoEnv;

impl Env for NoEnv {
    fn get(&self, _key: &str) -> Option<&str> {
        None
    }
    fn keys(&self) -> Vec<String> {
        Vec::new()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, miette::Diagnostic)]
#[error("{message}")]
#[diagnostic(code(slipway::expand))]
pub struct ExpandError {
    pub message: String,
    pub offset: usize,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    pub result: String,
    pub words: Vec<String>,
    pub matched: BTreeSet<String>,
    pub unmatched: BTreeSet<String>,
}

#[derive(Debug, Clone, Copy)]
pub struct Lexer {
    pub escape: char,
    pub raw_quotes: bool,
    pub raw_escapes: bool,
    pub skip_unset_env: bool,
    pub skip_process_quotes: bool,
}

impl Lexer {
    pub fn new(escape: char) -> Lexer {
        Lexer { escape, raw_quotes: false, raw_escapes: false, skip_unset_env: false, skip_process_quotes: false }
    }
    pub fn process_word(&self, word: &str, _env: &dyn Env) -> Result<String, ExpandError> {
        Ok(word.to_string())
    }
    pub fn process_words(&self, word: &str, _env: &dyn Env) -> Result<Vec<String>, ExpandError> {
        Ok(word.split_whitespace().map(str::to_string).collect())
    }
    pub fn process_word_with_matches(&self, word: &str, _env: &dyn Env) -> Result<Expansion, ExpandError> {
        Ok(Expansion { result: word.to_string(), ..Default::default() })
    }
}
