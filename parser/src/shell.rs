//! Word expansion as BuildKit's Dockerfile shell lexer does it.
//!
//! A Dockerfile word such as `"${NAME:-x}"/bin` goes through a small,
//! shell-like expansion before it is used: quotes are removed, escapes are
//! resolved and variable references are substituted from the build
//! environment. This module reproduces the behaviour of BuildKit's lexer
//! (`frontend/dockerfile/shell/lex.go`) including its quirks, so that a word
//! expands here exactly as it would in a `docker build`.
//!
//! Supported forms: `$name`, `${name}`, `${name:-word}`, `${name-word}`,
//! `${name:+word}`, `${name+word}`, `${name:?message}`, `${name?message}`,
//! `${name#pattern}`, `${name##pattern}`, `${name%pattern}`,
//! `${name%%pattern}`, `${name/pattern/replacement}` and
//! `${name//pattern/replacement}`, where a pattern may use the shell
//! wildcards `*` and `?`. Single quotes keep everything literal, double
//! quotes keep everything but `$` expansions and escapes literal, and the
//! escape character (`\` by default, or a backtick) escapes the next
//! character.
//!
//! Behaviour that is easy to miss, all of it BuildKit's:
//!
//! * `*` and `?` in patterns never match a newline (they are regular
//!   expression `.` underneath), and `${a//p/r}` expands `$0`, `${0}` and `$$`
//!   in the replacement (as Go's `Regexp.ReplaceAllString` does), while
//!   `${a/p/r}` inserts the replacement verbatim.
//! * [`Lexer::process_words`] splits into words with one buffer shared by every
//!   nesting level, so text gathered before a `${name<modifier>...}` in the
//!   same word is dropped from the word list (not from the result string).
//! * With `skip_unset_env`, `${a//p/r}` of an unset `a` is kept as `${a/p/r}`.
//! * A byte-order mark at the very start of a word (or of a pattern) is
//!   skipped.
//!
//! Unlike BuildKit, expansion is bounded: `${` may nest at most
//! [`MAX_NESTING`] levels deep and pattern matching may do at most
//! [`MAX_PATTERN_STEPS`] steps; beyond that expansion fails with
//! [`ExpandErrorKind::LimitExceeded`] instead of exhausting the stack or
//! running for a very long time.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

/// How deeply `${...}` constructs may nest inside each other.
pub const MAX_NESTING: usize = 100;

/// How many steps pattern matching (`#`, `%`, `/` modifiers) may take for one
/// word before expansion gives up.
pub const MAX_PATTERN_STEPS: u64 = 1 << 27;

/// Substitute for a character that is not there (end of input), as Go
/// prints `string(rune(-1))`.
const NO_CHAR: char = '\u{FFFD}';

// ---------------------------------------------------------------------------
// Environments
// ---------------------------------------------------------------------------

/// Where variables come from during expansion.
pub trait Env {
    /// The value of `key`, or `None` when it is not set (a set but empty
    /// variable is `Some("")`).
    fn get(&self, key: &str) -> Option<&str>;
    /// The names of all variables that are set.
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

impl<T: Env + ?Sized> Env for &T {
    fn get(&self, key: &str) -> Option<&str> {
        (**self).get(key)
    }
    fn keys(&self) -> Vec<String> {
        (**self).keys()
    }
}

impl Env for HashMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        HashMap::get(self, key).map(String::as_str)
    }
    fn keys(&self) -> Vec<String> {
        HashMap::keys(self).cloned().collect()
    }
}

impl Env for BTreeMap<String, String> {
    fn get(&self, key: &str) -> Option<&str> {
        BTreeMap::get(self, key).map(String::as_str)
    }
    fn keys(&self) -> Vec<String> {
        BTreeMap::keys(self).cloned().collect()
    }
}

/// The form of an environment variable name used for comparisons.
///
/// Unix compares names as they are; Windows (`case_insensitive`) compares
/// them upper-cased, one character at a time (like Go's `strings.ToUpper`,
/// characters whose upper case is longer than one character are kept).
pub fn normalize_env_key(key: &str, case_insensitive: bool) -> Cow<'_, str> {
    if !case_insensitive {
        return Cow::Borrowed(key);
    }
    if key.is_ascii() {
        if key.bytes().any(|b| b.is_ascii_lowercase()) {
            return Cow::Owned(key.to_ascii_uppercase());
        }
        return Cow::Borrowed(key);
    }
    Cow::Owned(
        key.chars()
            .map(|c| {
                let mut upper = c.to_uppercase();
                match (upper.next(), upper.next()) {
                    (Some(u), None) => u,
                    _ => c,
                }
            })
            .collect(),
    )
}

/// A simple environment of name/value pairs.
///
/// Later values for a name replace earlier ones. With case-insensitive keys
/// (as on Windows) `path` and `PATH` name the same variable.
#[derive(Debug, Clone, Default)]
pub struct MapEnv {
    case_insensitive: bool,
    /// Name (latest spelling), value and when it was last set, in the
    /// order names were first set.
    entries: Vec<(String, String, u64)>,
    /// Normalized name to index in `entries`.
    index: HashMap<String, usize>,
    sets: u64,
}

impl MapEnv {
    /// An empty environment with case-sensitive names (Unix).
    pub fn new() -> MapEnv {
        MapEnv::default()
    }

    /// An empty environment with case-insensitive names (Windows).
    pub fn case_insensitive() -> MapEnv {
        MapEnv {
            case_insensitive: true,
            ..MapEnv::default()
        }
    }

    /// Switches name comparison; names that become equal collapse into one
    /// (the later value wins).
    pub fn with_case_insensitive_keys(self, case_insensitive: bool) -> MapEnv {
        let mut out = MapEnv {
            case_insensitive,
            ..MapEnv::default()
        };
        let mut entries = self.entries;
        entries.sort_by_key(|&(_, _, when)| when);
        out.extend(entries.into_iter().map(|(k, v, _)| (k, v)));
        out
    }

    /// Whether names compare case-insensitively.
    pub fn is_case_insensitive(&self) -> bool {
        self.case_insensitive
    }

    /// Builds a case-sensitive environment from name/value pairs.
    pub fn from_pairs<I, K, V>(pairs: I) -> MapEnv
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        pairs.into_iter().collect()
    }

    /// Builds a case-sensitive environment from `NAME=value` strings, like
    /// BuildKit's `EnvsFromSlice`: an entry without `=` sets an empty value.
    pub fn from_slice<I, S>(entries: I) -> MapEnv
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut env = MapEnv::new();
        for entry in entries {
            let entry = entry.as_ref();
            let (key, value) = entry.split_once('=').unwrap_or((entry, ""));
            env.insert(key, value);
        }
        env
    }

    /// Sets `key` to `value`.
    pub fn insert(&mut self, key: impl Into<String>, value: impl Into<String>) {
        let key = key.into();
        let value = value.into();
        let norm = normalize_env_key(&key, self.case_insensitive).into_owned();
        self.sets += 1;
        match self.index.get(&norm) {
            Some(&i) => self.entries[i] = (key, value, self.sets),
            None => {
                self.index.insert(norm, self.entries.len());
                self.entries.push((key, value, self.sets));
            }
        }
    }

    /// The number of variables.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no variable is set.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The variables in the order they were first set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.entries.iter().map(|(k, v, _)| (k.as_str(), v.as_str()))
    }
}

impl Env for MapEnv {
    fn get(&self, key: &str) -> Option<&str> {
        let norm = normalize_env_key(key, self.case_insensitive);
        self.index.get(norm.as_ref()).map(|&i| self.entries[i].1.as_str())
    }
    fn keys(&self) -> Vec<String> {
        self.entries.iter().map(|(k, _, _)| k.clone()).collect()
    }
}

impl<K: Into<String>, V: Into<String>> Extend<(K, V)> for MapEnv {
    fn extend<I: IntoIterator<Item = (K, V)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for MapEnv {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> MapEnv {
        let mut env = MapEnv::new();
        env.extend(iter);
        env
    }
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/// What went wrong during expansion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpandErrorKind {
    /// A `'` or `"` is never closed.
    UnterminatedQuote,
    /// A `${` is never closed by `}`.
    MissingBrace,
    /// `${name/pattern` has no `/` to end the pattern.
    MissingSlash,
    /// `${}`, `${{...}` or `${:...}`.
    BadSubstitution,
    /// `${name` is followed by something that is not a known modifier.
    UnsupportedModifier,
    /// `${name?message}` or `${name:?message}` of an unset (or empty) variable.
    RequiredVariable,
    /// A `#`, `%` or `/` pattern has an invalid escape.
    InvalidPattern,
    /// The input ended while looking for a closing character.
    UnexpectedEnd,
    /// Nesting or pattern matching went past slipway's limits.
    LimitExceeded,
}

impl ExpandErrorKind {
    /// The diagnostic code.
    pub fn code(self) -> &'static str {
        match self {
            ExpandErrorKind::UnterminatedQuote => "slipway::expand::unterminated_quote",
            ExpandErrorKind::MissingBrace => "slipway::expand::missing_brace",
            ExpandErrorKind::MissingSlash => "slipway::expand::missing_slash",
            ExpandErrorKind::BadSubstitution => "slipway::expand::bad_substitution",
            ExpandErrorKind::UnsupportedModifier => "slipway::expand::unsupported_modifier",
            ExpandErrorKind::RequiredVariable => "slipway::expand::required_variable",
            ExpandErrorKind::InvalidPattern => "slipway::expand::invalid_pattern",
            ExpandErrorKind::UnexpectedEnd => "slipway::expand::unexpected_end",
            ExpandErrorKind::LimitExceeded => "slipway::expand::limit_exceeded",
        }
    }

    /// A hint on how to fix it, where there is a useful one.
    pub fn help(self) -> Option<&'static str> {
        match self {
            ExpandErrorKind::UnterminatedQuote => {
                Some("close the quote, or escape the quote character to use it literally")
            }
            ExpandErrorKind::MissingBrace => Some("close the `${` with a matching `}`"),
            ExpandErrorKind::MissingSlash => Some("pattern substitution is written `${name/pattern/replacement}`"),
            ExpandErrorKind::BadSubstitution => Some("a variable name must follow `${`"),
            ExpandErrorKind::UnsupportedModifier => Some(
                "supported forms are ${name}, ${name:-word}, ${name-word}, ${name:+word}, \
                 ${name+word}, ${name:?message}, ${name?message}, ${name#pattern}, \
                 ${name##pattern}, ${name%pattern}, ${name%%pattern}, \
                 ${name/pattern/replacement} and ${name//pattern/replacement}",
            ),
            ExpandErrorKind::RequiredVariable => {
                Some("define the variable with ARG or ENV before it is used, or pass a value")
            }
            ExpandErrorKind::InvalidPattern => Some(
                "in a pattern only `*`, `?` and `\\` can be escaped with `\\` \
                 (and `}` or `/` inside `${...}`)",
            ),
            ExpandErrorKind::UnexpectedEnd | ExpandErrorKind::LimitExceeded => None,
        }
    }
}

/// An expansion failure.
///
/// `message` reads like BuildKit's error (`failed to process "<word>":
/// <reason>`), `reason` is the part after the colon, and `offset` is the byte
/// offset in the word of the construct at fault (the `${` or the opening
/// quote).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ExpandError {
    pub message: String,
    pub offset: usize,
    pub kind: ExpandErrorKind,
    pub reason: String,
}

impl miette::Diagnostic for ExpandError {
    fn code<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        Some(Box::new(self.kind.code()))
    }
    fn help<'a>(&'a self) -> Option<Box<dyn fmt::Display + 'a>> {
        self.kind.help().map(|h| Box::new(h) as Box<dyn fmt::Display + 'a>)
    }
}

/// An error before it is tied to the whole word.
#[derive(Debug)]
struct Failure {
    kind: ExpandErrorKind,
    reason: String,
    offset: usize,
}

impl Failure {
    fn new(kind: ExpandErrorKind, reason: impl Into<String>, offset: usize) -> Failure {
        Failure {
            kind,
            reason: reason.into(),
            offset,
        }
    }
    fn unsupported(modifier: &str, offset: usize) -> Failure {
        Failure::new(
            ExpandErrorKind::UnsupportedModifier,
            format!("unsupported modifier ({modifier}) in substitution"),
            offset,
        )
    }
}

// ---------------------------------------------------------------------------
// The lexer
// ---------------------------------------------------------------------------

/// The outcome of expanding one word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expansion {
    /// The expanded word.
    pub result: String,
    /// The expanded word split into words at white space that came from
    /// unquoted text or variable values (see the module notes for a quirk).
    pub words: Vec<String>,
    /// Variables that were looked up and found.
    pub matched: BTreeSet<String>,
    /// Variables that were looked up and not found.
    pub unmatched: BTreeSet<String>,
}

/// BuildKit's shell lexer and its options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    /// The escape character: `\` by default, a backtick with the
    /// `# escape=`` ` parser directive.
    pub escape: char,
    /// Keep quote characters in the result.
    pub raw_quotes: bool,
    /// Keep escape characters in the result.
    pub raw_escapes: bool,
    /// Leave references to unset variables as written.
    pub skip_unset_env: bool,
    /// Treat quote characters as ordinary characters.
    pub skip_process_quotes: bool,
}

impl Default for Lexer {
    fn default() -> Lexer {
        Lexer::new('\\')
    }
}

impl Lexer {
    /// A lexer with the given escape character and all options off.
    pub fn new(escape: char) -> Lexer {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset_env: false,
            skip_process_quotes: false,
        }
    }

    /// Expands `word` (BuildKit's `ProcessWord`).
    pub fn process_word(&self, word: &str, env: &dyn Env) -> Result<String, ExpandError> {
        if self.is_plain(word) {
            return Ok(word.to_string());
        }
        self.expand(word, env).map(|e| e.result)
    }

    /// Whether `word` has nothing to expand: no variables, quotes, escapes or heredocs
    /// (most words; they expand to themselves).
    fn is_plain(&self, word: &str) -> bool {
        !word.contains(['$', '<', '\'', '"', self.escape])
    }

    /// Expands `word` and splits it into words at unquoted white space
    /// (BuildKit's `ProcessWords`).
    pub fn process_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>, ExpandError> {
        self.expand(word, env).map(|e| e.words)
    }

    /// Expands `word` and reports which variables were found and which were
    /// not (BuildKit's `ProcessWordWithMatches`).
    pub fn process_word_with_matches(&self, word: &str, env: &dyn Env) -> Result<Expansion, ExpandError> {
        self.expand(word, env)
    }

    fn expand(&self, word: &str, env: &dyn Env) -> Result<Expansion, ExpandError> {
        if self.is_plain(word) {
            return Ok(Expansion {
                result: word.to_string(),
                words: word
                    .split(char::is_whitespace)
                    .filter(|w| !w.is_empty())
                    .map(str::to_string)
                    .collect(),
                matched: BTreeSet::new(),
                unmatched: BTreeSet::new(),
            });
        }
        let mut ex = Expander::new(self, env, word);
        match ex.stop_on(None, self.raw_escapes) {
            Ok((result, words)) => Ok(Expansion {
                result,
                words,
                matched: ex.matched,
                unmatched: ex.unmatched,
            }),
            Err(f) => Err(ExpandError {
                message: format!("failed to process {}: {}", go_quote(word), f.reason),
                offset: f.offset,
                kind: f.kind,
                reason: f.reason,
            }),
        }
    }
}

/// Words being split off the expansion at one nesting level. The characters
/// of the current word live in [`Expander::word_buf`], which all levels share.
#[derive(Default)]
struct Splitter {
    words: Vec<String>,
    in_word: bool,
}

/// The state of one expansion.
struct Expander<'a> {
    lexer: &'a Lexer,
    env: &'a dyn Env,
    src: &'a str,
    pos: usize,
    raw_escapes: bool,
    word_buf: String,
    matched: BTreeSet<String>,
    unmatched: BTreeSet<String>,
    depth: usize,
    steps_left: u64,
}

impl<'a> Expander<'a> {
    fn new(lexer: &'a Lexer, env: &'a dyn Env, src: &'a str) -> Expander<'a> {
        Expander {
            lexer,
            env,
            src,
            pos: if src.starts_with('\u{FEFF}') {
                '\u{FEFF}'.len_utf8()
            } else {
                0
            },
            raw_escapes: lexer.raw_escapes,
            word_buf: String::new(),
            matched: BTreeSet::new(),
            unmatched: BTreeSet::new(),
            depth: 0,
            steps_left: MAX_PATTERN_STEPS,
        }
    }

    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn lookup(&mut self, name: &str) -> Option<String> {
        match self.env.get(name) {
            Some(v) => {
                if !self.matched.contains(name) {
                    self.matched.insert(name.to_string());
                }
                Some(v.to_string())
            }
            None => {
                if !self.unmatched.contains(name) {
                    self.unmatched.insert(name.to_string());
                }
                None
            }
        }
    }

    // -- word splitting ----------------------------------------------------

    fn add_char(&mut self, w: &mut Splitter, c: char) {
        if !c.is_whitespace() {
            self.add_raw_char(w, c);
        } else if w.in_word && !self.word_buf.is_empty() {
            w.words.push(std::mem::take(&mut self.word_buf));
            w.in_word = false;
        }
    }

    fn add_raw_char(&mut self, w: &mut Splitter, c: char) {
        self.word_buf.push(c);
        w.in_word = true;
    }

    fn add_str(&mut self, w: &mut Splitter, s: &str) {
        for c in s.chars() {
            self.add_char(w, c);
        }
    }

    fn add_raw_str(&mut self, w: &mut Splitter, s: &str) {
        self.word_buf.push_str(s);
        w.in_word = true;
    }

    fn finish_words(&mut self, mut w: Splitter) -> Vec<String> {
        if !self.word_buf.is_empty() {
            w.words.push(std::mem::take(&mut self.word_buf));
        }
        w.words
    }

    // -- scanning ------------------------------------------------------------

    /// Expands up to (and consuming) `stop`, or to the end of the input when
    /// `stop` is `None`, with escapes kept or not per `raw_escapes`.
    fn stop_on(&mut self, stop: Option<char>, raw_escapes: bool) -> Result<(String, Vec<String>), Failure> {
        let saved = std::mem::replace(&mut self.raw_escapes, raw_escapes);
        let out = self.stop_on_inner(stop);
        self.raw_escapes = saved;
        out
    }

    fn stop_on_inner(&mut self, stop: Option<char>) -> Result<(String, Vec<String>), Failure> {
        let mut result = String::new();
        self.word_buf.clear();
        let mut w = Splitter::default();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.bump();
                return Ok((result, self.finish_words(w)));
            }
            match self.special(c)? {
                Some(value) => {
                    result.push_str(&value);
                    // expanded variables split into words, quoted text does not
                    if c == '$' {
                        self.add_str(&mut w, &value);
                    } else {
                        self.add_raw_str(&mut w, &value);
                    }
                }
                None => {
                    if !self.ordinary(&mut result, &mut w) {
                        break;
                    }
                }
            }
        }
        match stop {
            Some(stop) => Err(unexpected_end(stop, self.pos)),
            None => Ok((result, self.finish_words(w))),
        }
    }

    /// Expands the construct that starts with `c`, or returns `None` if `c`
    /// is an ordinary character.
    fn special(&mut self, c: char) -> Result<Option<String>, Failure> {
        let quotes = !self.lexer.skip_process_quotes;
        Ok(Some(match c {
            '$' => self.dollar()?,
            '<' => self.possible_heredoc(),
            '\'' if quotes => self.single_quoted()?,
            '"' if quotes => self.double_quoted()?,
            _ => return Ok(None),
        }))
    }

    /// Takes one character, or an escape and the character it escapes.
    /// Returns false for an escape at the end of the input.
    #[inline(never)]
    fn ordinary(&mut self, result: &mut String, w: &mut Splitter) -> bool {
        let Some(mut c) = self.bump() else { return false };
        if c == self.lexer.escape {
            if self.raw_escapes {
                self.add_raw_char(w, c);
                result.push(c);
            }
            match self.bump() {
                Some(next) => c = next,
                None => return false,
            }
            self.add_raw_char(w, c);
        } else {
            self.add_char(w, c);
        }
        result.push(c);
        true
    }

    fn single_quoted(&mut self) -> Result<String, Failure> {
        let open = self.pos;
        self.bump();
        let mut out = String::new();
        if self.lexer.raw_quotes {
            out.push('\'');
        }
        match self.src[self.pos..].find('\'') {
            Some(len) => {
                out.push_str(&self.src[self.pos..self.pos + len]);
                self.pos += len + 1;
                if self.lexer.raw_quotes {
                    out.push('\'');
                }
                Ok(out)
            }
            None => {
                self.pos = self.src.len();
                Err(Failure::new(
                    ExpandErrorKind::UnterminatedQuote,
                    "unexpected end of statement while looking for matching single-quote",
                    open,
                ))
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, Failure> {
        let open = self.pos;
        self.bump();
        let mut out = String::new();
        if self.lexer.raw_quotes {
            out.push('"');
        }
        loop {
            match self.peek() {
                None => {
                    return Err(Failure::new(
                        ExpandErrorKind::UnterminatedQuote,
                        "unexpected end of statement while looking for matching double-quote",
                        open,
                    ))
                }
                Some('"') => {
                    self.bump();
                    if self.lexer.raw_quotes {
                        out.push('"');
                    }
                    return Ok(out);
                }
                Some('$') => {
                    let value = self.dollar()?;
                    out.push_str(&value);
                }
                Some(mut c) => {
                    self.bump();
                    if c == self.lexer.escape {
                        if self.raw_escapes {
                            out.push(c);
                        }
                        match self.peek() {
                            // a trailing escape is dropped (and the quote is unterminated)
                            None => continue,
                            Some(next) if next == '"' || next == '$' || next == self.lexer.escape => {
                                self.bump();
                                c = next;
                            }
                            // any other escape stays as it is
                            Some(_) => {}
                        }
                    }
                    out.push(c);
                }
            }
        }
    }

    /// `<` is kept as it is; `<<` swallows the blanks after it so that a
    /// heredoc marker stays one word.
    fn possible_heredoc(&mut self) -> String {
        self.bump();
        if self.peek() != Some('<') {
            return "<".to_string();
        }
        self.bump();
        let mut out = "<<".to_string();
        while let Some(c @ ('\t' | '\r' | ' ')) = self.peek() {
            self.bump();
            out.push(c);
        }
        out
    }

    /// Reads a variable name: a run of digits, one special parameter
    /// character, or letters, digits and underscores.
    fn name(&mut self) -> &'a str {
        let start = self.pos;
        match self.peek() {
            Some(c) if is_go_digit(c) => {
                while self.peek().is_some_and(is_go_digit) {
                    self.bump();
                }
            }
            Some(c) if is_special_param(c) => {
                self.bump();
            }
            _ => {
                while self
                    .peek()
                    .is_some_and(|c| is_go_letter(c) || is_go_digit(c) || c == '_')
                {
                    self.bump();
                }
            }
        }
        &self.src[start..self.pos]
    }

    fn dollar(&mut self) -> Result<String, Failure> {
        let start = self.pos;
        self.bump();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".to_string());
            }
            return Ok(match self.lookup(name) {
                Some(value) => value,
                None if self.lexer.skip_unset_env => format!("${name}"),
                None => String::new(),
            });
        }
        self.bump();
        match self.peek() {
            None => {
                return Err(Failure::new(
                    ExpandErrorKind::MissingBrace,
                    "syntax error: missing '}'",
                    start,
                ))
            }
            Some('{' | '}' | ':') => {
                return Err(Failure::new(
                    ExpandErrorKind::BadSubstitution,
                    "syntax error: bad substitution",
                    start,
                ))
            }
            Some(_) => {}
        }
        if self.depth >= MAX_NESTING {
            return Err(Failure::new(
                ExpandErrorKind::LimitExceeded,
                format!("substitutions nest more than {MAX_NESTING} levels deep"),
                start,
            ));
        }
        self.depth += 1;
        let out = self.braced(start);
        self.depth -= 1;
        out
    }

    /// Expands the operand of a modifier, up to `stop`.
    fn operand(
        &mut self,
        stop: char,
        raw_escapes: bool,
        start: usize,
        missing: ExpandErrorKind,
    ) -> Result<String, Failure> {
        match self.stop_on(Some(stop), raw_escapes) {
            Ok((word, _)) => Ok(word),
            Err(_) if self.peek().is_none() => {
                let reason = match missing {
                    ExpandErrorKind::MissingSlash => "syntax error: missing '/' in ${}",
                    _ => "syntax error: missing '}'",
                };
                Err(Failure::new(missing, reason, start))
            }
            Err(e) => Err(e),
        }
    }

    /// The rest of `${`, whose `$` is at `start`.
    ///
    /// The work after an operand has been read lives in separate functions so
    /// that the frames on the stack while operands nest stay small.
    fn braced(&mut self, start: usize) -> Result<String, Failure> {
        let name = self.name();
        match self.bump() {
            Some('}') => Ok(match self.lookup(name) {
                Some(value) => value,
                None if self.lexer.skip_unset_env => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(':') => {
                // `${name:` takes whatever comes next as the operator and
                // rejects an unknown one only after its operand has been read
                let op = self.bump();
                self.modified(name, true, op, start)
            }
            first @ Some('+' | '-' | '?' | '#' | '%') => self.modified(name, false, first, start),
            Some('/') => self.substituted(name, start),
            other => Err(Failure::unsupported(&modifier_text(false, other), start)),
        }
    }

    /// `${name<op>word}` and `${name:<op>word}`.
    fn modified(&mut self, name: &str, null_is_unset: bool, op: Option<char>, start: usize) -> Result<String, Failure> {
        let trim = matches!(op, Some('#' | '%'));
        if null_is_unset && trim {
            return Err(Failure::unsupported(&modifier_text(null_is_unset, op), start));
        }
        let word = self.operand('}', trim, start, ExpandErrorKind::MissingBrace)?;
        self.apply_modifier(name, null_is_unset, op, word, start)
    }

    #[inline(never)]
    fn apply_modifier(
        &mut self,
        name: &str,
        null_is_unset: bool,
        op: Option<char>,
        word: String,
        start: usize,
    ) -> Result<String, Failure> {
        let value = self.lookup(name);
        if value.is_none() && self.lexer.skip_unset_env {
            let modifier = modifier_text(null_is_unset, op);
            return Ok(format!("${{{name}{modifier}{word}}}"));
        }
        let unset_or_null = value.as_deref().is_none_or(|v| null_is_unset && v.is_empty());
        match op {
            Some('-') => Ok(if unset_or_null { word } else { value.unwrap_or_default() }),
            Some('+') => Ok(if unset_or_null { String::new() } else { word }),
            Some('?') => match value {
                Some(v) if !(null_is_unset && v.is_empty()) => Ok(v),
                _ => {
                    let message = if !word.is_empty() {
                        word.as_str()
                    } else if value.is_none() {
                        "is not allowed to be unset"
                    } else {
                        "is not allowed to be empty"
                    };
                    Err(Failure::new(
                        ExpandErrorKind::RequiredVariable,
                        format!("{name}: {message}"),
                        start,
                    ))
                }
            },
            Some(op @ ('#' | '%')) => {
                let value = value.unwrap_or_default();
                let (longest, pattern) = match word.strip_prefix(op) {
                    Some(rest) => (true, rest),
                    None => (false, word.as_str()),
                };
                let steps = &mut self.steps_left;
                if op == '#' {
                    trim_prefix(pattern, &value, longest, steps, start)
                } else {
                    trim_suffix(pattern, &value, longest, steps, start)
                }
            }
            _ => Err(Failure::unsupported(&modifier_text(null_is_unset, op), start)),
        }
    }

    /// `${name/pattern/replacement}` and `${name//pattern/replacement}`.
    fn substituted(&mut self, name: &str, start: usize) -> Result<String, Failure> {
        let all = self.peek() == Some('/');
        if all {
            self.bump();
        }
        let pattern = self.operand('/', true, start, ExpandErrorKind::MissingSlash)?;
        let replacement = self.operand('}', true, start, ExpandErrorKind::MissingBrace)?;
        self.apply_substitution(name, all, pattern, replacement, start)
    }

    #[inline(never)]
    fn apply_substitution(
        &mut self,
        name: &str,
        all: bool,
        pattern: String,
        replacement: String,
        start: usize,
    ) -> Result<String, Failure> {
        let value = self.lookup(name);
        if value.is_none() && self.lexer.skip_unset_env {
            // BuildKit writes a replace-all back with a single slash
            return Ok(format!("${{{name}/{pattern}/{replacement}}}"));
        }
        let value = value.unwrap_or_default();
        let compiled = Pattern::compile(&pattern, true).map_err(|e| invalid_pattern(&pattern, &e, start))?;
        let mut matcher = Matcher::new(&compiled);
        let steps = &mut self.steps_left;
        if all {
            return replace_all(&mut matcher, &value, &replacement, steps, start);
        }
        Ok(match matcher.find(&value, 0, false, steps, start)? {
            Some((a, b)) => {
                let mut out = String::with_capacity(value.len() + replacement.len());
                out.push_str(&value[..a]);
                out.push_str(&replacement);
                out.push_str(&value[b..]);
                out
            }
            None => value,
        })
    }
}

/// How BuildKit names a modifier in errors: the character(s) read after the
/// name, with U+FFFD for the end of the input.
fn modifier_text(null_is_unset: bool, op: Option<char>) -> String {
    let mut text = String::new();
    if null_is_unset {
        text.push(':');
    }
    text.push(op.unwrap_or(NO_CHAR));
    text
}

#[cold]
fn unexpected_end(stop: char, offset: usize) -> Failure {
    Failure::new(
        ExpandErrorKind::UnexpectedEnd,
        format!("unexpected end of statement while looking for matching {stop}"),
        offset,
    )
}

fn is_special_param(c: char) -> bool {
    matches!(c, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0')
}

// ---------------------------------------------------------------------------
// Patterns
// ---------------------------------------------------------------------------

fn invalid_pattern(pattern: &str, error: &str, start: usize) -> Failure {
    Failure::new(
        ExpandErrorKind::InvalidPattern,
        format!("invalid pattern ({pattern}) in substitution: {error}"),
        start,
    )
}

/// One element of a shell pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Atom {
    /// This character.
    Lit(char),
    /// `?`: any character but a newline.
    Any,
    /// `*`: any run of characters without a newline.
    Star,
}

/// A compiled shell pattern: `*` and `?` wildcards, `\` escapes, no
/// bracket expressions.
#[derive(Debug)]
struct Pattern {
    atoms: Vec<Atom>,
    /// Whether `*` prefers the longest match (else the shortest).
    greedy: bool,
}

impl Pattern {
    fn compile(pattern: &str, greedy: bool) -> Result<Pattern, String> {
        let mut chars = pattern.chars().peekable();
        // a fresh Go text/scanner skips a leading byte-order mark
        chars.next_if_eq(&'\u{FEFF}');
        let mut atoms = Vec::new();
        while let Some(c) = chars.next() {
            let atom = match c {
                // consecutive stars match what a single star matches
                '*' if atoms.last() == Some(&Atom::Star) => continue,
                '*' => Atom::Star,
                '?' => Atom::Any,
                '\\' => {
                    // `\}` and `\/` protect the brace and slash of `${...}`;
                    // the backslash itself is not part of the pattern
                    if matches!(chars.peek(), Some('}' | '/')) {
                        continue;
                    }
                    match chars.next() {
                        Some(c @ ('*' | '?' | '\\')) => Atom::Lit(c),
                        other => return Err(format!("invalid escape '\\{}'", other.unwrap_or(NO_CHAR))),
                    }
                }
                c => Atom::Lit(c),
            };
            atoms.push(atom);
        }
        Ok(Pattern { atoms, greedy })
    }
}

/// Finds pattern matches with the leftmost-first semantics of Go's regexp
/// package (a backtracking engine's preferences), in O(text × pattern) time,
/// by simulating all match attempts at once in priority order.
struct Matcher<'p> {
    pattern: &'p Pattern,
    /// Per state, the generation in which it was last added to a list.
    seen: Vec<u64>,
    generation: u64,
    current: Vec<(usize, usize)>,
    next: Vec<(usize, usize)>,
}

impl<'p> Matcher<'p> {
    fn new(pattern: &'p Pattern) -> Matcher<'p> {
        Matcher {
            pattern,
            seen: vec![0; pattern.atoms.len() + 1],
            generation: 0,
            current: Vec::new(),
            next: Vec::new(),
        }
    }

    /// Adds the thread `(state, start)` and everything it reaches without
    /// consuming input to `list`, in priority order. A thread at a `*` state
    /// in a list means "consume one more character in this star".
    fn add(
        seen: &mut [u64],
        generation: u64,
        pattern: &Pattern,
        list: &mut Vec<(usize, usize)>,
        state: usize,
        start: usize,
    ) {
        let atoms = &pattern.atoms;
        let mut s = state;
        let mut terminal = None;
        while seen[s] != generation {
            seen[s] = generation;
            if s < atoms.len() && atoms[s] == Atom::Star {
                if pattern.greedy {
                    list.push((s, start));
                }
                s += 1;
            } else {
                terminal = Some(s);
                break;
            }
        }
        if let Some(t) = terminal {
            list.push((t, start));
        }
        if !pattern.greedy {
            // lazy stars prefer to stop: loops come after what follows them
            for star in (state..s).rev() {
                list.push((star, start));
            }
        }
    }

    /// The first match in `text` starting at or after byte `from` (only at
    /// `from` when `anchored`), as a byte range.
    fn find(
        &mut self,
        text: &str,
        from: usize,
        anchored: bool,
        steps: &mut u64,
        offset: usize,
    ) -> Result<Option<(usize, usize)>, Failure> {
        let end_state = self.pattern.atoms.len();
        let mut current = std::mem::take(&mut self.current);
        let mut next = std::mem::take(&mut self.next);
        current.clear();
        next.clear();
        self.generation += 1;
        let mut found = None;
        let mut pos = from;
        let out = loop {
            if found.is_none() && (!anchored || pos == from) {
                Self::add(&mut self.seen, self.generation, self.pattern, &mut current, 0, pos);
            }
            if current.is_empty() {
                break Ok(found);
            }
            let c = text[pos..].chars().next();
            let generation = self.generation + 1;
            let Some(cost) = steps.checked_sub(current.len() as u64 + 1) else {
                break Err(Failure::new(
                    ExpandErrorKind::LimitExceeded,
                    "pattern matching takes too many steps",
                    offset,
                ));
            };
            *steps = cost;
            for &(state, start) in &current {
                if state == end_state {
                    // lower-priority threads cannot win any more
                    found = Some((start, pos));
                    break;
                }
                let Some(c) = c else { continue };
                let target = match self.pattern.atoms[state] {
                    Atom::Lit(l) if l == c => state + 1,
                    Atom::Any if c != '\n' => state + 1,
                    Atom::Star if c != '\n' => state,
                    _ => continue,
                };
                Self::add(&mut self.seen, generation, self.pattern, &mut next, target, start);
            }
            let Some(c) = c else { break Ok(found) };
            pos += c.len_utf8();
            self.generation = generation;
            std::mem::swap(&mut current, &mut next);
            next.clear();
        };
        self.current = current;
        self.next = next;
        out
    }
}

/// `${name#pattern}` / `${name##pattern}`.
fn trim_prefix(pattern: &str, value: &str, longest: bool, steps: &mut u64, offset: usize) -> Result<String, Failure> {
    let compiled = Pattern::compile(pattern, longest).map_err(|e| invalid_pattern(pattern, &e, offset))?;
    let mut matcher = Matcher::new(&compiled);
    Ok(match matcher.find(value, 0, true, steps, offset)? {
        Some((_, end)) => value[end..].to_string(),
        None => value.to_string(),
    })
}

/// `${name%pattern}` / `${name%%pattern}`: a prefix trim of the reversed
/// value with the reversed pattern (errors name the reversed pattern, as
/// BuildKit's do).
fn trim_suffix(pattern: &str, value: &str, longest: bool, steps: &mut u64, offset: usize) -> Result<String, Failure> {
    let reversed_value: String = value.chars().rev().collect();
    let trimmed = trim_prefix(&reverse_pattern(pattern), &reversed_value, longest, steps, offset)?;
    Ok(trimmed.chars().rev().collect())
}

/// Reverses a pattern, keeping each `\x` escape pair in order (a trailing
/// lone backslash is an ordinary character).
fn reverse_pattern(pattern: &str) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let mut units = Vec::with_capacity(chars.len());
    let mut i = 0;
    while i < chars.len() {
        let len = if chars[i] == '\\' && i + 1 < chars.len() { 2 } else { 1 };
        units.push(&chars[i..i + len]);
        i += len;
    }
    units.iter().rev().flat_map(|unit| unit.iter()).collect()
}

/// `${name//pattern/replacement}`, with the replacement expanded per match
/// like Go's `Regexp.ReplaceAllString`.
fn replace_all(
    matcher: &mut Matcher<'_>,
    value: &str,
    replacement: &str,
    steps: &mut u64,
    offset: usize,
) -> Result<String, Failure> {
    let mut out = String::with_capacity(value.len());
    let mut last_end = 0;
    let mut search = 0;
    while search <= value.len() {
        let Some((a, b)) = matcher.find(value, search, false, steps, offset)? else {
            break;
        };
        out.push_str(&value[last_end..a]);
        // an empty match right after a match is not replaced again
        if b > last_end || a == 0 {
            expand_template(&mut out, replacement, &value[a..b]);
        }
        last_end = b;
        let width = value[search..].chars().next().map_or(0, char::len_utf8);
        if search + width > b {
            search += width;
        } else if search + 1 > b {
            search += 1;
        } else {
            search = b;
        }
    }
    out.push_str(&value[last_end..]);
    Ok(out)
}

/// Go's `Regexp.Expand` for a pattern without groups: `$$` is `$`, `$0` and
/// `${0}` are the match, other `$name`/`${name}` are empty and a `$` that
/// starts no name is literal.
fn expand_template(out: &mut String, template: &str, matched: &str) {
    let mut rest = template;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        rest = &rest[i + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
            continue;
        }
        let (braced, body) = match rest.strip_prefix('{') {
            Some(body) => (true, body),
            None => (false, rest),
        };
        let len = body
            .char_indices()
            .find(|&(_, c)| !(is_go_letter(c) || is_go_digit(c) || c == '_'))
            .map_or(body.len(), |(i, _)| i);
        let name = &body[..len];
        let after = &body[len..];
        let after = if braced { after.strip_prefix('}') } else { Some(after) };
        match after {
            Some(after) if !name.is_empty() => {
                if name == "0" {
                    out.push_str(matched);
                }
                rest = after;
            }
            _ => out.push('$'),
        }
    }
    out.push_str(rest);
}

// ---------------------------------------------------------------------------
// Go compatibility
// ---------------------------------------------------------------------------

/// Quotes `s` like Go's `%q` (`strconv.Quote`).
pub(crate) fn go_quote(s: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if go_is_print(c) => out.push(c),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if c < ' ' || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if (c as u32) < 0x10000 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let _ = write!(out, "\\U{:08x}", c as u32);
            }
        }
    }
    out.push('"');
    out
}

/// Go's `strconv.IsPrint`: letters, marks, numbers, punctuation, symbols and
/// the ASCII space. Outside ASCII this is exactly what Rust's debug escaping
/// leaves alone (everything but categories C and Z) when the character is
/// not the first one of a string.
fn go_is_print(c: char) -> bool {
    if c.is_ascii() {
        return (' '..='~').contains(&c);
    }
    let probe: String = ['a', c].into_iter().collect();
    let mut escaped = probe.escape_debug();
    escaped.next();
    escaped.next() == Some(c) && escaped.next().is_none()
}

fn in_ranges(c: char, ranges: &[(u32, u32)]) -> bool {
    let c = c as u32;
    ranges
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// Go's `unicode.IsLetter`: general category L.
fn is_go_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    in_ranges(c, LETTER_RANGES)
}

/// Go's `unicode.IsDigit`: general category Nd.
fn is_go_digit(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_digit();
    }
    in_ranges(c, DECIMAL_DIGIT_RANGES)
}

// Unicode 15.0.0 (the version of Go's `unicode` package) general categories
// Lu, Ll, Lt, Lm and Lo, and Nd, as inclusive code point ranges.
#[rustfmt::skip]
const LETTER_RANGES: &[(u32, u32)] = &[
    (0x41, 0x5A), (0x61, 0x7A), (0xAA, 0xAA), (0xB5, 0xB5), (0xBA, 0xBA), (0xC0, 0xD6),
    (0xD8, 0xF6), (0xF8, 0x2C1), (0x2C6, 0x2D1), (0x2E0, 0x2E4), (0x2EC, 0x2EC), (0x2EE, 0x2EE),
    (0x370, 0x374), (0x376, 0x377), (0x37A, 0x37D), (0x37F, 0x37F), (0x386, 0x386), (0x388, 0x38A),
    (0x38C, 0x38C), (0x38E, 0x3A1), (0x3A3, 0x3F5), (0x3F7, 0x481), (0x48A, 0x52F), (0x531, 0x556),
    (0x559, 0x559), (0x560, 0x588), (0x5D0, 0x5EA), (0x5EF, 0x5F2), (0x620, 0x64A), (0x66E, 0x66F),
    (0x671, 0x6D3), (0x6D5, 0x6D5), (0x6E5, 0x6E6), (0x6EE, 0x6EF), (0x6FA, 0x6FC), (0x6FF, 0x6FF),
    (0x710, 0x710), (0x712, 0x72F), (0x74D, 0x7A5), (0x7B1, 0x7B1), (0x7CA, 0x7EA), (0x7F4, 0x7F5),
    (0x7FA, 0x7FA), (0x800, 0x815), (0x81A, 0x81A), (0x824, 0x824), (0x828, 0x828), (0x840, 0x858),
    (0x860, 0x86A), (0x870, 0x887), (0x889, 0x88E), (0x8A0, 0x8C9), (0x904, 0x939), (0x93D, 0x93D),
    (0x950, 0x950), (0x958, 0x961), (0x971, 0x980), (0x985, 0x98C), (0x98F, 0x990), (0x993, 0x9A8),
    (0x9AA, 0x9B0), (0x9B2, 0x9B2), (0x9B6, 0x9B9), (0x9BD, 0x9BD), (0x9CE, 0x9CE), (0x9DC, 0x9DD),
    (0x9DF, 0x9E1), (0x9F0, 0x9F1), (0x9FC, 0x9FC), (0xA05, 0xA0A), (0xA0F, 0xA10), (0xA13, 0xA28),
    (0xA2A, 0xA30), (0xA32, 0xA33), (0xA35, 0xA36), (0xA38, 0xA39), (0xA59, 0xA5C), (0xA5E, 0xA5E),
    (0xA72, 0xA74), (0xA85, 0xA8D), (0xA8F, 0xA91), (0xA93, 0xAA8), (0xAAA, 0xAB0), (0xAB2, 0xAB3),
    (0xAB5, 0xAB9), (0xABD, 0xABD), (0xAD0, 0xAD0), (0xAE0, 0xAE1), (0xAF9, 0xAF9), (0xB05, 0xB0C),
    (0xB0F, 0xB10), (0xB13, 0xB28), (0xB2A, 0xB30), (0xB32, 0xB33), (0xB35, 0xB39), (0xB3D, 0xB3D),
    (0xB5C, 0xB5D), (0xB5F, 0xB61), (0xB71, 0xB71), (0xB83, 0xB83), (0xB85, 0xB8A), (0xB8E, 0xB90),
    (0xB92, 0xB95), (0xB99, 0xB9A), (0xB9C, 0xB9C), (0xB9E, 0xB9F), (0xBA3, 0xBA4), (0xBA8, 0xBAA),
    (0xBAE, 0xBB9), (0xBD0, 0xBD0), (0xC05, 0xC0C), (0xC0E, 0xC10), (0xC12, 0xC28), (0xC2A, 0xC39),
    (0xC3D, 0xC3D), (0xC58, 0xC5A), (0xC5D, 0xC5D), (0xC60, 0xC61), (0xC80, 0xC80), (0xC85, 0xC8C),
    (0xC8E, 0xC90), (0xC92, 0xCA8), (0xCAA, 0xCB3), (0xCB5, 0xCB9), (0xCBD, 0xCBD), (0xCDD, 0xCDE),
    (0xCE0, 0xCE1), (0xCF1, 0xCF2), (0xD04, 0xD0C), (0xD0E, 0xD10), (0xD12, 0xD3A), (0xD3D, 0xD3D),
    (0xD4E, 0xD4E), (0xD54, 0xD56), (0xD5F, 0xD61), (0xD7A, 0xD7F), (0xD85, 0xD96), (0xD9A, 0xDB1),
    (0xDB3, 0xDBB), (0xDBD, 0xDBD), (0xDC0, 0xDC6), (0xE01, 0xE30), (0xE32, 0xE33), (0xE40, 0xE46),
    (0xE81, 0xE82), (0xE84, 0xE84), (0xE86, 0xE8A), (0xE8C, 0xEA3), (0xEA5, 0xEA5), (0xEA7, 0xEB0),
    (0xEB2, 0xEB3), (0xEBD, 0xEBD), (0xEC0, 0xEC4), (0xEC6, 0xEC6), (0xEDC, 0xEDF), (0xF00, 0xF00),
    (0xF40, 0xF47), (0xF49, 0xF6C), (0xF88, 0xF8C), (0x1000, 0x102A), (0x103F, 0x103F),
    (0x1050, 0x1055), (0x105A, 0x105D), (0x1061, 0x1061), (0x1065, 0x1066), (0x106E, 0x1070),
    (0x1075, 0x1081), (0x108E, 0x108E), (0x10A0, 0x10C5), (0x10C7, 0x10C7), (0x10CD, 0x10CD),
    (0x10D0, 0x10FA), (0x10FC, 0x1248), (0x124A, 0x124D), (0x1250, 0x1256), (0x1258, 0x1258),
    (0x125A, 0x125D), (0x1260, 0x1288), (0x128A, 0x128D), (0x1290, 0x12B0), (0x12B2, 0x12B5),
    (0x12B8, 0x12BE), (0x12C0, 0x12C0), (0x12C2, 0x12C5), (0x12C8, 0x12D6), (0x12D8, 0x1310),
    (0x1312, 0x1315), (0x1318, 0x135A), (0x1380, 0x138F), (0x13A0, 0x13F5), (0x13F8, 0x13FD),
    (0x1401, 0x166C), (0x166F, 0x167F), (0x1681, 0x169A), (0x16A0, 0x16EA), (0x16F1, 0x16F8),
    (0x1700, 0x1711), (0x171F, 0x1731), (0x1740, 0x1751), (0x1760, 0x176C), (0x176E, 0x1770),
    (0x1780, 0x17B3), (0x17D7, 0x17D7), (0x17DC, 0x17DC), (0x1820, 0x1878), (0x1880, 0x1884),
    (0x1887, 0x18A8), (0x18AA, 0x18AA), (0x18B0, 0x18F5), (0x1900, 0x191E), (0x1950, 0x196D),
    (0x1970, 0x1974), (0x1980, 0x19AB), (0x19B0, 0x19C9), (0x1A00, 0x1A16), (0x1A20, 0x1A54),
    (0x1AA7, 0x1AA7), (0x1B05, 0x1B33), (0x1B45, 0x1B4C), (0x1B83, 0x1BA0), (0x1BAE, 0x1BAF),
    (0x1BBA, 0x1BE5), (0x1C00, 0x1C23), (0x1C4D, 0x1C4F), (0x1C5A, 0x1C7D), (0x1C80, 0x1C88),
    (0x1C90, 0x1CBA), (0x1CBD, 0x1CBF), (0x1CE9, 0x1CEC), (0x1CEE, 0x1CF3), (0x1CF5, 0x1CF6),
    (0x1CFA, 0x1CFA), (0x1D00, 0x1DBF), (0x1E00, 0x1F15), (0x1F18, 0x1F1D), (0x1F20, 0x1F45),
    (0x1F48, 0x1F4D), (0x1F50, 0x1F57), (0x1F59, 0x1F59), (0x1F5B, 0x1F5B), (0x1F5D, 0x1F5D),
    (0x1F5F, 0x1F7D), (0x1F80, 0x1FB4), (0x1FB6, 0x1FBC), (0x1FBE, 0x1FBE), (0x1FC2, 0x1FC4),
    (0x1FC6, 0x1FCC), (0x1FD0, 0x1FD3), (0x1FD6, 0x1FDB), (0x1FE0, 0x1FEC), (0x1FF2, 0x1FF4),
    (0x1FF6, 0x1FFC), (0x2071, 0x2071), (0x207F, 0x207F), (0x2090, 0x209C), (0x2102, 0x2102),
    (0x2107, 0x2107), (0x210A, 0x2113), (0x2115, 0x2115), (0x2119, 0x211D), (0x2124, 0x2124),
    (0x2126, 0x2126), (0x2128, 0x2128), (0x212A, 0x212D), (0x212F, 0x2139), (0x213C, 0x213F),
    (0x2145, 0x2149), (0x214E, 0x214E), (0x2183, 0x2184), (0x2C00, 0x2CE4), (0x2CEB, 0x2CEE),
    (0x2CF2, 0x2CF3), (0x2D00, 0x2D25), (0x2D27, 0x2D27), (0x2D2D, 0x2D2D), (0x2D30, 0x2D67),
    (0x2D6F, 0x2D6F), (0x2D80, 0x2D96), (0x2DA0, 0x2DA6), (0x2DA8, 0x2DAE), (0x2DB0, 0x2DB6),
    (0x2DB8, 0x2DBE), (0x2DC0, 0x2DC6), (0x2DC8, 0x2DCE), (0x2DD0, 0x2DD6), (0x2DD8, 0x2DDE),
    (0x2E2F, 0x2E2F), (0x3005, 0x3006), (0x3031, 0x3035), (0x303B, 0x303C), (0x3041, 0x3096),
    (0x309D, 0x309F), (0x30A1, 0x30FA), (0x30FC, 0x30FF), (0x3105, 0x312F), (0x3131, 0x318E),
    (0x31A0, 0x31BF), (0x31F0, 0x31FF), (0x3400, 0x4DBF), (0x4E00, 0xA48C), (0xA4D0, 0xA4FD),
    (0xA500, 0xA60C), (0xA610, 0xA61F), (0xA62A, 0xA62B), (0xA640, 0xA66E), (0xA67F, 0xA69D),
    (0xA6A0, 0xA6E5), (0xA717, 0xA71F), (0xA722, 0xA788), (0xA78B, 0xA7CA), (0xA7D0, 0xA7D1),
    (0xA7D3, 0xA7D3), (0xA7D5, 0xA7D9), (0xA7F2, 0xA801), (0xA803, 0xA805), (0xA807, 0xA80A),
    (0xA80C, 0xA822), (0xA840, 0xA873), (0xA882, 0xA8B3), (0xA8F2, 0xA8F7), (0xA8FB, 0xA8FB),
    (0xA8FD, 0xA8FE), (0xA90A, 0xA925), (0xA930, 0xA946), (0xA960, 0xA97C), (0xA984, 0xA9B2),
    (0xA9CF, 0xA9CF), (0xA9E0, 0xA9E4), (0xA9E6, 0xA9EF), (0xA9FA, 0xA9FE), (0xAA00, 0xAA28),
    (0xAA40, 0xAA42), (0xAA44, 0xAA4B), (0xAA60, 0xAA76), (0xAA7A, 0xAA7A), (0xAA7E, 0xAAAF),
    (0xAAB1, 0xAAB1), (0xAAB5, 0xAAB6), (0xAAB9, 0xAABD), (0xAAC0, 0xAAC0), (0xAAC2, 0xAAC2),
    (0xAADB, 0xAADD), (0xAAE0, 0xAAEA), (0xAAF2, 0xAAF4), (0xAB01, 0xAB06), (0xAB09, 0xAB0E),
    (0xAB11, 0xAB16), (0xAB20, 0xAB26), (0xAB28, 0xAB2E), (0xAB30, 0xAB5A), (0xAB5C, 0xAB69),
    (0xAB70, 0xABE2), (0xAC00, 0xD7A3), (0xD7B0, 0xD7C6), (0xD7CB, 0xD7FB), (0xF900, 0xFA6D),
    (0xFA70, 0xFAD9), (0xFB00, 0xFB06), (0xFB13, 0xFB17), (0xFB1D, 0xFB1D), (0xFB1F, 0xFB28),
    (0xFB2A, 0xFB36), (0xFB38, 0xFB3C), (0xFB3E, 0xFB3E), (0xFB40, 0xFB41), (0xFB43, 0xFB44),
    (0xFB46, 0xFBB1), (0xFBD3, 0xFD3D), (0xFD50, 0xFD8F), (0xFD92, 0xFDC7), (0xFDF0, 0xFDFB),
    (0xFE70, 0xFE74), (0xFE76, 0xFEFC), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A), (0xFF66, 0xFFBE),
    (0xFFC2, 0xFFC7), (0xFFCA, 0xFFCF), (0xFFD2, 0xFFD7), (0xFFDA, 0xFFDC), (0x10000, 0x1000B),
    (0x1000D, 0x10026), (0x10028, 0x1003A), (0x1003C, 0x1003D), (0x1003F, 0x1004D),
    (0x10050, 0x1005D), (0x10080, 0x100FA), (0x10280, 0x1029C), (0x102A0, 0x102D0),
    (0x10300, 0x1031F), (0x1032D, 0x10340), (0x10342, 0x10349), (0x10350, 0x10375),
    (0x10380, 0x1039D), (0x103A0, 0x103C3), (0x103C8, 0x103CF), (0x10400, 0x1049D),
    (0x104B0, 0x104D3), (0x104D8, 0x104FB), (0x10500, 0x10527), (0x10530, 0x10563),
    (0x10570, 0x1057A), (0x1057C, 0x1058A), (0x1058C, 0x10592), (0x10594, 0x10595),
    (0x10597, 0x105A1), (0x105A3, 0x105B1), (0x105B3, 0x105B9), (0x105BB, 0x105BC),
    (0x10600, 0x10736), (0x10740, 0x10755), (0x10760, 0x10767), (0x10780, 0x10785),
    (0x10787, 0x107B0), (0x107B2, 0x107BA), (0x10800, 0x10805), (0x10808, 0x10808),
    (0x1080A, 0x10835), (0x10837, 0x10838), (0x1083C, 0x1083C), (0x1083F, 0x10855),
    (0x10860, 0x10876), (0x10880, 0x1089E), (0x108E0, 0x108F2), (0x108F4, 0x108F5),
    (0x10900, 0x10915), (0x10920, 0x10939), (0x10980, 0x109B7), (0x109BE, 0x109BF),
    (0x10A00, 0x10A00), (0x10A10, 0x10A13), (0x10A15, 0x10A17), (0x10A19, 0x10A35),
    (0x10A60, 0x10A7C), (0x10A80, 0x10A9C), (0x10AC0, 0x10AC7), (0x10AC9, 0x10AE4),
    (0x10B00, 0x10B35), (0x10B40, 0x10B55), (0x10B60, 0x10B72), (0x10B80, 0x10B91),
    (0x10C00, 0x10C48), (0x10C80, 0x10CB2), (0x10CC0, 0x10CF2), (0x10D00, 0x10D23),
    (0x10E80, 0x10EA9), (0x10EB0, 0x10EB1), (0x10F00, 0x10F1C), (0x10F27, 0x10F27),
    (0x10F30, 0x10F45), (0x10F70, 0x10F81), (0x10FB0, 0x10FC4), (0x10FE0, 0x10FF6),
    (0x11003, 0x11037), (0x11071, 0x11072), (0x11075, 0x11075), (0x11083, 0x110AF),
    (0x110D0, 0x110E8), (0x11103, 0x11126), (0x11144, 0x11144), (0x11147, 0x11147),
    (0x11150, 0x11172), (0x11176, 0x11176), (0x11183, 0x111B2), (0x111C1, 0x111C4),
    (0x111DA, 0x111DA), (0x111DC, 0x111DC), (0x11200, 0x11211), (0x11213, 0x1122B),
    (0x1123F, 0x11240), (0x11280, 0x11286), (0x11288, 0x11288), (0x1128A, 0x1128D),
    (0x1128F, 0x1129D), (0x1129F, 0x112A8), (0x112B0, 0x112DE), (0x11305, 0x1130C),
    (0x1130F, 0x11310), (0x11313, 0x11328), (0x1132A, 0x11330), (0x11332, 0x11333),
    (0x11335, 0x11339), (0x1133D, 0x1133D), (0x11350, 0x11350), (0x1135D, 0x11361),
    (0x11400, 0x11434), (0x11447, 0x1144A), (0x1145F, 0x11461), (0x11480, 0x114AF),
    (0x114C4, 0x114C5), (0x114C7, 0x114C7), (0x11580, 0x115AE), (0x115D8, 0x115DB),
    (0x11600, 0x1162F), (0x11644, 0x11644), (0x11680, 0x116AA), (0x116B8, 0x116B8),
    (0x11700, 0x1171A), (0x11740, 0x11746), (0x11800, 0x1182B), (0x118A0, 0x118DF),
    (0x118FF, 0x11906), (0x11909, 0x11909), (0x1190C, 0x11913), (0x11915, 0x11916),
    (0x11918, 0x1192F), (0x1193F, 0x1193F), (0x11941, 0x11941), (0x119A0, 0x119A7),
    (0x119AA, 0x119D0), (0x119E1, 0x119E1), (0x119E3, 0x119E3), (0x11A00, 0x11A00),
    (0x11A0B, 0x11A32), (0x11A3A, 0x11A3A), (0x11A50, 0x11A50), (0x11A5C, 0x11A89),
    (0x11A9D, 0x11A9D), (0x11AB0, 0x11AF8), (0x11C00, 0x11C08), (0x11C0A, 0x11C2E),
    (0x11C40, 0x11C40), (0x11C72, 0x11C8F), (0x11D00, 0x11D06), (0x11D08, 0x11D09),
    (0x11D0B, 0x11D30), (0x11D46, 0x11D46), (0x11D60, 0x11D65), (0x11D67, 0x11D68),
    (0x11D6A, 0x11D89), (0x11D98, 0x11D98), (0x11EE0, 0x11EF2), (0x11F02, 0x11F02),
    (0x11F04, 0x11F10), (0x11F12, 0x11F33), (0x11FB0, 0x11FB0), (0x12000, 0x12399),
    (0x12480, 0x12543), (0x12F90, 0x12FF0), (0x13000, 0x1342F), (0x13441, 0x13446),
    (0x14400, 0x14646), (0x16800, 0x16A38), (0x16A40, 0x16A5E), (0x16A70, 0x16ABE),
    (0x16AD0, 0x16AED), (0x16B00, 0x16B2F), (0x16B40, 0x16B43), (0x16B63, 0x16B77),
    (0x16B7D, 0x16B8F), (0x16E40, 0x16E7F), (0x16F00, 0x16F4A), (0x16F50, 0x16F50),
    (0x16F93, 0x16F9F), (0x16FE0, 0x16FE1), (0x16FE3, 0x16FE3), (0x17000, 0x187F7),
    (0x18800, 0x18CD5), (0x18D00, 0x18D08), (0x1AFF0, 0x1AFF3), (0x1AFF5, 0x1AFFB),
    (0x1AFFD, 0x1AFFE), (0x1B000, 0x1B122), (0x1B132, 0x1B132), (0x1B150, 0x1B152),
    (0x1B155, 0x1B155), (0x1B164, 0x1B167), (0x1B170, 0x1B2FB), (0x1BC00, 0x1BC6A),
    (0x1BC70, 0x1BC7C), (0x1BC80, 0x1BC88), (0x1BC90, 0x1BC99), (0x1D400, 0x1D454),
    (0x1D456, 0x1D49C), (0x1D49E, 0x1D49F), (0x1D4A2, 0x1D4A2), (0x1D4A5, 0x1D4A6),
    (0x1D4A9, 0x1D4AC), (0x1D4AE, 0x1D4B9), (0x1D4BB, 0x1D4BB), (0x1D4BD, 0x1D4C3),
    (0x1D4C5, 0x1D505), (0x1D507, 0x1D50A), (0x1D50D, 0x1D514), (0x1D516, 0x1D51C),
    (0x1D51E, 0x1D539), (0x1D53B, 0x1D53E), (0x1D540, 0x1D544), (0x1D546, 0x1D546),
    (0x1D54A, 0x1D550), (0x1D552, 0x1D6A5), (0x1D6A8, 0x1D6C0), (0x1D6C2, 0x1D6DA),
    (0x1D6DC, 0x1D6FA), (0x1D6FC, 0x1D714), (0x1D716, 0x1D734), (0x1D736, 0x1D74E),
    (0x1D750, 0x1D76E), (0x1D770, 0x1D788), (0x1D78A, 0x1D7A8), (0x1D7AA, 0x1D7C2),
    (0x1D7C4, 0x1D7CB), (0x1DF00, 0x1DF1E), (0x1DF25, 0x1DF2A), (0x1E030, 0x1E06D),
    (0x1E100, 0x1E12C), (0x1E137, 0x1E13D), (0x1E14E, 0x1E14E), (0x1E290, 0x1E2AD),
    (0x1E2C0, 0x1E2EB), (0x1E4D0, 0x1E4EB), (0x1E7E0, 0x1E7E6), (0x1E7E8, 0x1E7EB),
    (0x1E7ED, 0x1E7EE), (0x1E7F0, 0x1E7FE), (0x1E800, 0x1E8C4), (0x1E900, 0x1E943),
    (0x1E94B, 0x1E94B), (0x1EE00, 0x1EE03), (0x1EE05, 0x1EE1F), (0x1EE21, 0x1EE22),
    (0x1EE24, 0x1EE24), (0x1EE27, 0x1EE27), (0x1EE29, 0x1EE32), (0x1EE34, 0x1EE37),
    (0x1EE39, 0x1EE39), (0x1EE3B, 0x1EE3B), (0x1EE42, 0x1EE42), (0x1EE47, 0x1EE47),
    (0x1EE49, 0x1EE49), (0x1EE4B, 0x1EE4B), (0x1EE4D, 0x1EE4F), (0x1EE51, 0x1EE52),
    (0x1EE54, 0x1EE54), (0x1EE57, 0x1EE57), (0x1EE59, 0x1EE59), (0x1EE5B, 0x1EE5B),
    (0x1EE5D, 0x1EE5D), (0x1EE5F, 0x1EE5F), (0x1EE61, 0x1EE62), (0x1EE64, 0x1EE64),
    (0x1EE67, 0x1EE6A), (0x1EE6C, 0x1EE72), (0x1EE74, 0x1EE77), (0x1EE79, 0x1EE7C),
    (0x1EE7E, 0x1EE7E), (0x1EE80, 0x1EE89), (0x1EE8B, 0x1EE9B), (0x1EEA1, 0x1EEA3),
    (0x1EEA5, 0x1EEA9), (0x1EEAB, 0x1EEBB), (0x20000, 0x2A6DF), (0x2A700, 0x2B739),
    (0x2B740, 0x2B81D), (0x2B820, 0x2CEA1), (0x2CEB0, 0x2EBE0), (0x2F800, 0x2FA1D),
    (0x30000, 0x3134A), (0x31350, 0x323AF),
];

#[rustfmt::skip]
const DECIMAL_DIGIT_RANGES: &[(u32, u32)] = &[
    (0x30, 0x39), (0x660, 0x669), (0x6F0, 0x6F9), (0x7C0, 0x7C9), (0x966, 0x96F), (0x9E6, 0x9EF),
    (0xA66, 0xA6F), (0xAE6, 0xAEF), (0xB66, 0xB6F), (0xBE6, 0xBEF), (0xC66, 0xC6F), (0xCE6, 0xCEF),
    (0xD66, 0xD6F), (0xDE6, 0xDEF), (0xE50, 0xE59), (0xED0, 0xED9), (0xF20, 0xF29),
    (0x1040, 0x1049), (0x1090, 0x1099), (0x17E0, 0x17E9), (0x1810, 0x1819), (0x1946, 0x194F),
    (0x19D0, 0x19D9), (0x1A80, 0x1A89), (0x1A90, 0x1A99), (0x1B50, 0x1B59), (0x1BB0, 0x1BB9),
    (0x1C40, 0x1C49), (0x1C50, 0x1C59), (0xA620, 0xA629), (0xA8D0, 0xA8D9), (0xA900, 0xA909),
    (0xA9D0, 0xA9D9), (0xA9F0, 0xA9F9), (0xAA50, 0xAA59), (0xABF0, 0xABF9), (0xFF10, 0xFF19),
    (0x104A0, 0x104A9), (0x10D30, 0x10D39), (0x11066, 0x1106F), (0x110F0, 0x110F9),
    (0x11136, 0x1113F), (0x111D0, 0x111D9), (0x112F0, 0x112F9), (0x11450, 0x11459),
    (0x114D0, 0x114D9), (0x11650, 0x11659), (0x116C0, 0x116C9), (0x11730, 0x11739),
    (0x118E0, 0x118E9), (0x11950, 0x11959), (0x11C50, 0x11C59), (0x11D50, 0x11D59),
    (0x11DA0, 0x11DA9), (0x11F50, 0x11F59), (0x16A60, 0x16A69), (0x16AC0, 0x16AC9),
    (0x16B50, 0x16B59), (0x1D7CE, 0x1D7FF), (0x1E140, 0x1E149), (0x1E2F0, 0x1E2F9),
    (0x1E4F0, 0x1E4F9), (0x1E950, 0x1E959), (0x1FBF0, 0x1FBF9),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> MapEnv {
        MapEnv::from_pairs([("FOO", "foo/bar.tar.gz"), ("EMPTY", ""), ("N", "3"), ("SP", " a  b ")])
    }

    fn expand(word: &str) -> Result<String, ExpandError> {
        Lexer::new('\\').process_word(word, &env())
    }

    fn ok(word: &str) -> String {
        match expand(word) {
            Ok(s) => s,
            Err(e) => panic!("{word:?} failed: {e}"),
        }
    }

    fn err(word: &str) -> ExpandError {
        match expand(word) {
            Ok(s) => panic!("{word:?} expanded to {s:?}, expected an error"),
            Err(e) => e,
        }
    }

    #[test]
    fn plain_references() {
        assert_eq!(ok("$FOO"), "foo/bar.tar.gz");
        assert_eq!(ok("${FOO}x"), "foo/bar.tar.gzx");
        assert_eq!(ok("a$NOPE.b"), "a.b");
        assert_eq!(ok("$"), "$");
        assert_eq!(ok("$.x"), "$.x");
        assert_eq!(ok("$1x"), "x");
        assert_eq!(ok("$@@"), "@");
        assert_eq!(ok("$N$N"), "33");
    }

    #[test]
    fn defaults_and_alternatives() {
        assert_eq!(ok("${NOPE:-d}"), "d");
        assert_eq!(ok("${EMPTY:-d}"), "d");
        assert_eq!(ok("${EMPTY-d}"), "");
        assert_eq!(ok("${NOPE-d}"), "d");
        assert_eq!(ok("${N:-d}"), "3");
        assert_eq!(ok("${N:+alt}"), "alt");
        assert_eq!(ok("${EMPTY:+alt}"), "");
        assert_eq!(ok("${EMPTY+alt}"), "alt");
        assert_eq!(ok("${NOPE+alt}"), "");
        assert_eq!(ok("${NOPE:-${N:+x$N}}"), "x3");
    }

    #[test]
    fn required_variables() {
        assert_eq!(ok("${N:?}"), "3");
        assert_eq!(ok("${EMPTY?}"), "");
        let e = err("${EMPTY:?}");
        assert_eq!(e.kind, ExpandErrorKind::RequiredVariable);
        assert_eq!(e.reason, "EMPTY: is not allowed to be empty");
        assert_eq!(err("${NOPE?}").reason, "NOPE: is not allowed to be unset");
        assert_eq!(err("ab${NOPE:?say $N}").reason, "NOPE: say 3");
        assert_eq!(err("ab${NOPE:?say $N}").offset, 2);
        assert_eq!(
            err("ab${NOPE:?x}").message,
            "failed to process \"ab${NOPE:?x}\": NOPE: x"
        );
    }

    #[test]
    fn trimming() {
        assert_eq!(ok("${FOO#*.}"), "tar.gz");
        assert_eq!(ok("${FOO##*.}"), "gz");
        assert_eq!(ok("${FOO%.*}"), "foo/bar.tar");
        assert_eq!(ok("${FOO%%.*}"), "foo/bar");
        assert_eq!(ok("${FOO#foo/}"), "bar.tar.gz");
        assert_eq!(ok("${FOO%?z}"), "foo/bar.tar.");
        assert_eq!(ok("${FOO#nomatch}"), "foo/bar.tar.gz");
        assert_eq!(ok("${NOPE#x}"), "");
        assert_eq!(err("${FOO:#x}").reason, "unsupported modifier (:#) in substitution");
        assert_eq!(
            err("${FOO#\\x}").reason,
            "invalid pattern (\\x) in substitution: invalid escape '\\x'"
        );
        // suffix trimming reports the reversed pattern, like BuildKit
        assert_eq!(
            err("${FOO%a\\x}").reason,
            "invalid pattern (\\xa) in substitution: invalid escape '\\x'"
        );
    }

    #[test]
    fn replacing() {
        assert_eq!(ok("${FOO/./-}"), "foo/bar-tar.gz");
        assert_eq!(ok("${FOO//./-}"), "foo/bar-tar-gz");
        assert_eq!(ok("${FOO//\\//_}"), "foo_bar.tar.gz");
        assert_eq!(ok("${FOO/b*./X}"), "foo/Xgz");
        assert_eq!(ok("${FOO//?/x}"), "xxxxxxxxxxxxxx");
        // `$0` is the match in a replace-all, literal in a single replacement
        assert_eq!(ok("${N//3/<\\$0>}"), "<\\3>");
        assert_eq!(ok("${N/3/<\\$0>}"), "<\\$0>");
        assert_eq!(ok("${FOO///}"), "foo/bar.tar.gz");
        assert_eq!(err("${FOO//}").kind, ExpandErrorKind::MissingSlash);
        assert_eq!(err("${FOO/a/b").kind, ExpandErrorKind::MissingBrace);
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(ok("'$FOO'"), "$FOO");
        assert_eq!(ok("\"$N\\$N\\\"\""), "3$N\"");
        assert_eq!(ok("\"a\\tb\""), "a\\tb");
        assert_eq!(ok("a\\ b"), "a b");
        assert_eq!(ok("a\\"), "a");
        let e = err("x'abc");
        assert_eq!(e.kind, ExpandErrorKind::UnterminatedQuote);
        assert_eq!(e.offset, 1);
        assert_eq!(
            err("x\"abc").reason,
            "unexpected end of statement while looking for matching double-quote"
        );
        let backtick = Lexer::new('`');
        assert_eq!(backtick.process_word("a`$N\\b", &env()).unwrap(), "a$N\\b");
        assert_eq!(backtick.process_word("\"`\"\"", &env()).unwrap(), "\"");
    }

    #[test]
    fn options() {
        let mut lex = Lexer::new('\\');
        lex.raw_quotes = true;
        lex.skip_unset_env = true;
        assert_eq!(
            lex.process_word("'a'\"$N\"$X${Y}${Z:-1}", &env()).unwrap(),
            "'a'\"3\"$X${Y}${Z:-1}"
        );
        assert_eq!(lex.process_word("${Z//a/b}", &env()).unwrap(), "${Z/a/b}");
        let mut lex = Lexer::new('\\');
        lex.raw_escapes = true;
        assert_eq!(lex.process_word("a\\$N", &env()).unwrap(), "a\\$N");
        let mut lex = Lexer::new('\\');
        lex.skip_process_quotes = true;
        assert_eq!(lex.process_word("'$N' \"x", &env()).unwrap(), "'3' \"x");
    }

    #[test]
    fn syntax_errors() {
        assert_eq!(err("${}").kind, ExpandErrorKind::BadSubstitution);
        assert_eq!(err("a${:-x}").offset, 1);
        assert_eq!(err("${").reason, "syntax error: missing '}'");
        assert_eq!(err("${N:-x").reason, "syntax error: missing '}'");
        assert_eq!(err("${N").reason, "unsupported modifier (\u{FFFD}) in substitution");
        assert_eq!(err("${N:x}").reason, "unsupported modifier (:x) in substitution");
        assert_eq!(err("${N=x}").reason, "unsupported modifier (=) in substitution");
        let e = err("${N:=x}");
        assert_eq!(e.kind.code(), "slipway::expand::unsupported_modifier");
        let diag: &dyn miette::Diagnostic = &e;
        assert_eq!(
            diag.code().unwrap().to_string(),
            "slipway::expand::unsupported_modifier"
        );
        assert!(diag.help().is_some());
    }

    #[test]
    fn words_and_matches() {
        let lex = Lexer::new('\\');
        assert_eq!(
            lex.process_words("a$SP\"$SP\" <<  EOF", &env()).unwrap(),
            ["a", "a", "b", " a  b ", "<<  EOF"]
        );
        let e = lex.process_word_with_matches("$N ${NOPE:-$EMPTY}", &env()).unwrap();
        assert_eq!(e.result, "3 ");
        assert_eq!(e.words, ["3"]);
        assert_eq!(e.matched, BTreeSet::from(["N".to_string(), "EMPTY".to_string()]));
        assert_eq!(e.unmatched, BTreeSet::from(["NOPE".to_string()]));
    }

    #[test]
    fn case_insensitive_env() {
        let env = MapEnv::from_slice(["Path=/bin", "x"]).with_case_insensitive_keys(true);
        assert_eq!(env.get("PATH"), Some("/bin"));
        assert_eq!(env.get("X"), Some(""));
        assert_eq!(Lexer::default().process_word("$path", &env).unwrap(), "/bin");
        assert_eq!(MapEnv::from_slice(["Path=/bin"]).get("PATH"), None);
        assert_eq!(normalize_env_key("straße", true), "STRAßE");
    }

    #[test]
    fn pattern_engine() {
        let find = |pattern: &str, greedy: bool, text: &str, anchored: bool| {
            let p = Pattern::compile(pattern, greedy).unwrap();
            let mut steps = MAX_PATTERN_STEPS;
            Matcher::new(&p).find(text, 0, anchored, &mut steps, 0).unwrap()
        };
        assert_eq!(find("a*b", true, "xaabab", false), Some((1, 6)));
        assert_eq!(find("a*b", false, "xaabab", false), Some((1, 4)));
        assert_eq!(find("*", true, "ab\ncd", true), Some((0, 2)));
        assert_eq!(find("?", true, "\n", false), None);
        assert_eq!(find("", true, "abc", false), Some((0, 0)));
        assert_eq!(find("b", true, "abc", true), None);
        assert_eq!(reverse_pattern("a\\*c"), "c\\*a");
        assert_eq!(reverse_pattern("ab\\"), "\\ba");
        assert_eq!(reverse_pattern("\\\\\\ab"), "b\\a\\\\");
    }

    #[test]
    fn go_quoting_and_tables() {
        assert_eq!(
            go_quote("a\"\\\n\t\u{7f}é\u{a0}\u{200b}\u{1F600}"),
            "\"a\\\"\\\\\\n\\t\\x7fé\\u00a0\\u200b\u{1F600}\""
        );
        assert!(is_go_letter('한') && !is_go_letter('Ⅻ') && !is_go_letter('\u{94d}'));
        assert!(is_go_digit('٣') && !is_go_digit('²'));
    }

    #[test]
    fn limits() {
        let deep = "${a:-".repeat(MAX_NESTING + 5);
        assert_eq!(expand(&deep).unwrap_err().kind, ExpandErrorKind::LimitExceeded);
        let big = "x".repeat(1 << 20);
        assert_eq!(expand(&big).unwrap(), big);
    }
}
