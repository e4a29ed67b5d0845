//! Conformance of `slipway_parser::shell` with BuildKit's shell lexer.
//!
//! The table-driven tests read BuildKit's own test tables (`envVarTest`,
//! `wordsTest`) from the shared conformance directory next to the repository
//! and drive them the way BuildKit's `lex_test.go` does. The remaining tests
//! are slipway's own cases for behaviour BuildKit's unit tests pin down.

use std::collections::BTreeSet;
use std::path::PathBuf;

use proptest::prelude::*;
use slipway_parser::shell::{normalize_env_key, Env, ExpandErrorKind, Lexer, MapEnv, NoEnv, MAX_NESTING};

const TABLES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/conformance/buildkit/frontend/dockerfile/shell/"
);

fn table(name: &str) -> Option<String> {
    let path = PathBuf::from(TABLES).join(name);
    match std::fs::read_to_string(&path) {
        Ok(text) => Some(text),
        Err(e) => {
            eprintln!("note: skipping, cannot read {}: {e}", path.display());
            None
        }
    }
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

// ---------------------------------------------------------------------------
// envVarTest: `PLATFORM|input|expected`
// ---------------------------------------------------------------------------

/// Runs the envVarTest rows for one platform; returns (checked, failures).
fn run_env_var_table(text: &str, windows: bool) -> (usize, Vec<String>) {
    let env =
        MapEnv::from_slice(["PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="]).with_case_insensitive_keys(windows);
    let lex = Lexer::new('\\');
    let mut checked = 0;
    let mut failures = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.starts_with('#') {
            continue;
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(fields.len(), 3, "line {line_no} of envVarTest: {line:?}");
        let (platform, source, expected) = (fields[0].trim(), fields[1].trim(), fields[2].trim());
        assert!(
            matches!(platform, "A" | "U" | "W"),
            "invalid platform {platform:?} at line {line_no}"
        );
        let applies = platform == "A" || (platform == "W") == windows;
        if !applies {
            continue;
        }
        checked += 1;
        let got = lex.process_word(source, &env);
        let ok = match (&got, expected) {
            (Err(_), "error") => true,
            (Ok(_), "error") => false,
            (Ok(word), expected) => word == expected,
            (Err(_), _) => false,
        };
        if !ok {
            failures.push(format!("line {line_no}: {source:?} expected {expected:?}, got {got:?}"));
        }
    }
    (checked, failures)
}

#[test]
fn env_var_table_unix() {
    let Some(text) = table("envVarTest") else { return };
    let (checked, failures) = run_env_var_table(&text, false);
    println!("envVarTest (unix): {} of {checked} rows pass", checked - failures.len());
    assert!(checked > 200, "only {checked} rows checked");
    assert!(
        failures.is_empty(),
        "envVarTest (unix) failures:\n{}",
        failures.join("\n")
    );
}

#[test]
fn env_var_table_windows() {
    let Some(text) = table("envVarTest") else { return };
    let (checked, failures) = run_env_var_table(&text, true);
    println!(
        "envVarTest (windows): {} of {checked} rows pass",
        checked - failures.len()
    );
    assert!(checked > 200, "only {checked} rows checked");
    assert!(
        failures.is_empty(),
        "envVarTest (windows) failures:\n{}",
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// wordsTest: `input | w1,w2,...` with `ENV k=v` lines accumulating
// ---------------------------------------------------------------------------

/// Runs the wordsTest rows; returns (checked, failures).
///
/// BuildKit's driver loops over two modes (plain, and RawQuotes with
/// SkipUnsetEnv) but reads the file through one handle, so the second mode
/// sees no rows at all; only the plain mode is checked here too. The second
/// mode is covered by `words_table_rows_with_raw_quotes_and_skip_unset` below.
fn run_words_table(text: &str) -> (usize, Vec<String>) {
    let lex = Lexer::new('\\');
    let mut envs: Vec<String> = Vec::new();
    let mut checked = 0;
    let mut failures = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.starts_with('#') {
            continue;
        }
        if let Some(rest) = line.strip_prefix("ENV ") {
            envs.push(rest.trim_start_matches(' ').to_string());
            continue;
        }
        let fields: Vec<&str> = line.split('|').collect();
        assert_eq!(fields.len(), 2, "line {line_no} of wordsTest: {line:?}");
        let source = fields[0].trim();
        let expected: Vec<&str> = fields[1].trim_start_matches(' ').split(',').collect();
        checked += 1;
        let got = lex
            .process_words(source, &MapEnv::from_slice(&envs))
            .unwrap_or_else(|_| vec!["error".to_string()]);
        if got != expected {
            failures.push(format!("line {line_no}: {source:?} expected {expected:?}, got {got:?}"));
        }
    }
    (checked, failures)
}

#[test]
fn words_table() {
    let Some(text) = table("wordsTest") else { return };
    let (checked, failures) = run_words_table(&text);
    println!("wordsTest: {} of {checked} rows pass", checked - failures.len());
    assert!(checked > 20, "only {checked} rows checked");
    assert!(failures.is_empty(), "wordsTest failures:\n{}", failures.join("\n"));
}

/// An optional `ENV` to set first, the input and the words it gives.
type WordsRow<'a> = (Option<(&'a str, &'a str)>, &'a str, &'a [&'a str]);

/// The wordsTest inputs in BuildKit's second mode (RawQuotes, SkipUnsetEnv),
/// with the words BuildKit produces for them.
#[test]
fn words_table_rows_with_raw_quotes_and_skip_unset() {
    let mut lex = Lexer::new('\\');
    lex.raw_quotes = true;
    lex.skip_unset_env = true;
    let mut env = MapEnv::new();
    let rows: &[WordsRow<'_>] = &[
        (None, "hello", &["hello"]),
        (None, "hello${hi}bye", &["hello${hi}bye"]),
        (Some(("hi", "hi")), "hello${hi}bye", &["hellohibye"]),
        (Some(("space", "abc  def")), "hello${space}bye", &["helloabc", "defbye"]),
        (None, "hello\"${space}\"bye", &["hello\"abc  def\"bye"]),
        (None, "hello \"${space}\"bye", &["hello", "\"abc  def\"bye"]),
        (
            Some(("leading", "  ab c")),
            "hello${leading}def",
            &["hello", "ab", "cdef"],
        ),
        (None, "hello\"${leading}\" def", &["hello\"  ab c\"", "def"]),
        (
            Some(("trailing", "ab c   ")),
            "hello${trailing}d",
            &["helloab", "c", "d"],
        ),
        (None, "hel\"lo${trailing}\"", &["hel\"loab c   \""]),
        (None, "hello\\ there", &["hello there"]),
        (None, "hello\\\" there", &["hello\"", "there"]),
        (None, "hello\"\\\\there\"", &["hello\"\\there\""]),
        (None, "hello\"\\there\"", &["hello\"\\there\""]),
        (None, "hello'\\\\there'", &["hello'\\\\there'"]),
        (None, "hello'$there'", &["hello'$there'"]),
    ];
    for (set_env, input, expected) in rows {
        if let Some((k, v)) = set_env {
            env.insert(*k, *v);
        }
        assert_eq!(lex.process_words(input, &env).unwrap(), *expected, "{input:?}");
    }
    assert!(lex.process_words("hello\" there", &env).is_err());
}

// ---------------------------------------------------------------------------
// Expansion results with matched and unmatched variables
// ---------------------------------------------------------------------------

type Pairs<'a> = &'a [(&'a str, &'a str)];

enum Want<'a> {
    Ok(&'a str, &'a [&'a str], &'a [&'a str]),
    Err,
}

#[test]
fn process_with_matches() {
    use Want::{Err, Ok};
    let cases: &[(&str, Pairs<'_>, Want<'_>)] = &[
        ("x", &[("DUMMY", "dummy")], Ok("x", &[], &[])),
        ("x ${UNUSED}", &[("DUMMY", "dummy")], Ok("x ", &[], &["UNUSED"])),
        ("x ${FOO}", &[("FOO", "y")], Ok("x y", &["FOO"], &[])),
        // defaults
        (
            "${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}",
            &[("FOO", "xxx"), ("BAR", "")],
            Ok("xxx  ccc", &["BAR", "FOO"], &["BAZ"]),
        ),
        (
            "${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}",
            &[("FOO", "xxx"), ("BAR", "")],
            Ok("xxx bbb ccc", &["BAR", "FOO"], &["BAZ"]),
        ),
        ("${FOO:-}", &[("FOO", "xxx"), ("BAR", "")], Ok("xxx", &["FOO"], &[])),
        ("${FOO:-}", &[], Ok("", &[], &["FOO"])),
        // alternatives
        (
            "${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}",
            &[("FOO", "xxx"), ("BAR", "")],
            Ok("aaa bbb ", &["BAR", "FOO"], &["BAZ"]),
        ),
        (
            "${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}",
            &[("FOO", "xxx"), ("BAR", "")],
            Ok("aaa  ", &["BAR", "FOO"], &["BAZ"]),
        ),
        // required
        ("${FOO?aaa}", &[("FOO", "xxx"), ("BAR", "")], Ok("xxx", &["FOO"], &[])),
        ("${BAR?bbb}", &[("FOO", "xxx"), ("BAR", "")], Ok("", &["BAR"], &[])),
        ("${BAZ?ccc}", &[("FOO", "xxx"), ("BAR", "")], Err),
        ("${FOO:?aaa}", &[("FOO", "xxx"), ("BAR", "")], Ok("xxx", &["FOO"], &[])),
        ("${BAR:?bbb}", &[("FOO", "xxx"), ("BAR", "")], Err),
        ("${BAZ:?ccc}", &[("FOO", "xxx"), ("BAR", "")], Err),
        ("${BAZ:?}", &[("FOO", "xxx"), ("BAR", "")], Err),
        // assignment is not supported
        ("${FOO=aaa}", &[("FOO", "xxx"), ("BAR", "")], Err),
        ("${FOO=:aaa}", &[("FOO", "xxx"), ("BAR", "")], Err),
        ("${FOO=}", &[], Err),
        // prefix and suffix removal; regular expression characters are literal
        (
            "${FOO#()[]{\\}^$.\\*\\?|\\\\}",
            &[("FOO", "()[]{}^$.*?|\\x")],
            Ok("x", &["FOO"], &[]),
        ),
        ("${FOO%%\\**}", &[("FOO", "xx**")], Ok("xx", &["FOO"], &[])),
        ("${FOO#*x*y}", &[("FOO", "xxyy")], Ok("y", &["FOO"], &[])),
        ("${FOO#*}", &[("FOO", "xxyy")], Ok("xxyy", &["FOO"], &[])),
        (
            "${FOO#$BAR}",
            &[("FOO", "xxyy"), ("BAR", "x")],
            Ok("xyy", &["BAR", "FOO"], &[]),
        ),
        (
            "${FOO#$BAR}",
            &[("FOO", "xxyy"), ("BAR", "")],
            Ok("xxyy", &["BAR", "FOO"], &[]),
        ),
        ("${FOO#}", &[("FOO", "xxyy")], Ok("xxyy", &["FOO"], &[])),
        ("${FOO##*x}", &[("FOO", "xxyy")], Ok("yy", &["FOO"], &[])),
        ("${FOO##}", &[("FOO", "xxyy")], Ok("xxyy", &["FOO"], &[])),
        ("${FOO#?\\?}", &[("FOO", "???y")], Ok("?y", &["FOO"], &[])),
        (
            "${ABC:-.}${FOO%x}${ABC:-.}",
            &[("FOO", "xxyy")],
            Ok(".xxyy.", &["FOO"], &["ABC"]),
        ),
        ("${FOO%%\\**\\*}", &[("FOO", "a***yy*")], Ok("a", &["FOO"], &[])),
        ("${FOO%}", &[("FOO", "xxyy")], Ok("xxyy", &["FOO"], &[])),
        (
            "${FOO%%$BAR}",
            &[("FOO", "xxyy"), ("BAR", "")],
            Ok("xxyy", &["BAR", "FOO"], &[]),
        ),
        ("${FOO:#}", &[], Err),
        ("${FOO:##}", &[], Err),
        ("${FOO:%}", &[], Err),
        ("${FOO:%%}", &[], Err),
        // pattern substitution
        (
            "${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}",
            &[("FOO", "/foo*/*/*.txt"), ("NEEDLE", "\\*/")],
            Ok("/foo.*/*.txt - /foo..*.txt", &["FOO", "NEEDLE"], &[]),
        ),
        (
            "${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}",
            &[("FOO", "/tmp/tmp/bar.txt"), ("NEEDLE", "/tmp")],
            Ok("/tmp/bar.txt - /bar.txt", &["FOO", "NEEDLE"], &[]),
        ),
        (
            "${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
            &[("FOO", "/a/foo/b/c.txt"), ("NEEDLE", "/?/"), ("REPLACEMENT", "/")],
            Ok("/foo/b/c.txt - /foo/c.txt", &["FOO", "NEEDLE", "REPLACEMENT"], &[]),
        ),
        (
            "${FOO/$NEEDLE/$REPLACEMENT}",
            &[
                ("FOO", "http://google.de"),
                ("NEEDLE", "http://"),
                ("REPLACEMENT", "https://"),
            ],
            Ok("https://google.de", &["FOO", "NEEDLE", "REPLACEMENT"], &[]),
        ),
        (
            "${FOO//\\//\\/}",
            &[("FOO", "/tmp/foo.txt")],
            Ok("\\/tmp\\/foo.txt", &["FOO"], &[]),
        ),
        // partial forms: not guaranteed by BuildKit, but must not misbehave
        (
            "${FOO/$BAR/ww}",
            &[("FOO", "xxyy"), ("BAR", "")],
            Ok("wwxxyy", &["BAR", "FOO"], &[]),
        ),
        ("${FOO//ww}", &[("FOO", "xxyy")], Err),
        ("${FOO//}", &[("FOO", "xxyy")], Err),
        ("${FOO///}", &[("FOO", "xxyy")], Ok("xxyy", &["FOO"], &[])),
        ("${FOO///}", &[], Ok("", &[], &["FOO"])),
    ];
    let lex = Lexer::new('\\');
    for (input, env, want) in cases {
        let env = MapEnv::from_pairs(env.iter().copied());
        let got = lex.process_word_with_matches(input, &env);
        match want {
            Want::Err => assert!(got.is_err(), "{input:?} should fail, got {got:?}"),
            Want::Ok(result, matched, unmatched) => {
                let got = got.unwrap_or_else(|e| panic!("{input:?} failed: {e}"));
                assert_eq!(got.result, *result, "{input:?}");
                assert_eq!(got.matched, set(matched), "{input:?} matched");
                assert_eq!(got.unmatched, set(unmatched), "{input:?} unmatched");
            }
        }
    }
}

#[test]
fn release_file_names_by_platform() {
    let word = "something-${VERSION}.${TARGETOS}-${TARGETARCH}${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz";
    let lex = Lexer::new('\\');
    let base = [("VERSION", "v1.2.3"), ("TARGETOS", "linux")];
    let arm = MapEnv::from_pairs(base.into_iter().chain([("TARGETARCH", "arm"), ("TARGETVARIANT", "v7")]));
    assert_eq!(
        lex.process_word(word, &arm).unwrap(),
        "something-v1.2.3.linux-arm-v7.tar.gz"
    );
    let empty = MapEnv::from_pairs(base.into_iter().chain([("TARGETARCH", "arm64"), ("TARGETVARIANT", "")]));
    assert_eq!(
        lex.process_word(word, &empty).unwrap(),
        "something-v1.2.3.linux-arm64.tar.gz"
    );
    let unset = MapEnv::from_pairs(base.into_iter().chain([("TARGETARCH", "arm64")]));
    let got = lex.process_word_with_matches(word, &unset).unwrap();
    assert_eq!(got.result, "something-v1.2.3.linux-arm64.tar.gz");
    assert_eq!(got.unmatched, set(&["TARGETVARIANT"]));
}

#[test]
fn required_variables_with_messages() {
    let lex = Lexer::new('\\');
    let set_env = MapEnv::from_slice(["VAR=plain", "ARG=x"]);
    let empty_env = MapEnv::from_slice(["VAR=", "ARG=x"]);
    let unset_env = MapEnv::from_slice(["ARG=x"]);
    let no_empty = "${VAR:?message here$ARG}";
    let no_unset = "${VAR?message here$ARG}";

    assert_eq!(lex.process_word(no_empty, &set_env).unwrap(), "plain");
    for env in [&empty_env, &unset_env] {
        let e = lex.process_word(no_empty, env).unwrap_err();
        assert_eq!(e.kind, ExpandErrorKind::RequiredVariable);
        assert_eq!(
            e.message,
            "failed to process \"${VAR:?message here$ARG}\": VAR: message herex"
        );
    }
    assert_eq!(lex.process_word(no_unset, &set_env).unwrap(), "plain");
    assert_eq!(lex.process_word(no_unset, &empty_env).unwrap(), "");
    assert!(lex
        .process_word(no_unset, &unset_env)
        .unwrap_err()
        .message
        .contains("message herex"));
}

#[test]
fn env_from_slice_semantics() {
    let get = |entries: &[&str], key: &str| MapEnv::from_slice(entries).get(key).map(str::to_string);
    assert_eq!(get(&[], "foo"), None);
    assert_eq!(get(&["foo"], "foo").as_deref(), Some(""));
    assert_eq!(get(&["foo="], "foo").as_deref(), Some(""));
    assert_eq!(get(&["foo=bar"], "foo").as_deref(), Some("bar"));
    assert_eq!(get(&["foo=bar", "car=hat"], "car").as_deref(), Some("hat"));
    // the last value for a name wins
    assert_eq!(get(&["foo=bar", "car=hat", "car=bike"], "car").as_deref(), Some("bike"));
    assert_eq!(get(&["a=b=c"], "a").as_deref(), Some("b=c"));

    let env = MapEnv::from_slice(["foo=1", "FOO=2", "foo=3"]).with_case_insensitive_keys(true);
    assert_eq!(env.get("Foo"), Some("3"));
    assert_eq!(env.len(), 1);
    assert_eq!(normalize_env_key("Path", true), "PATH");
    assert_eq!(normalize_env_key("Path", false), "Path");
    assert_eq!(NoEnv.keys(), Vec::<String>::new());
}

// ---------------------------------------------------------------------------
// Patterns
// ---------------------------------------------------------------------------

fn expand_with(word: &str, pairs: &[(&str, &str)]) -> Result<String, String> {
    Lexer::new('\\')
        .process_word(word, &MapEnv::from_pairs(pairs.iter().copied()))
        .map_err(|e| e.reason)
}

#[test]
fn pattern_escapes() {
    // a pattern taken from a variable is not unescaped by the lexer
    let cases: &[(&str, Result<&str, &str>)] = &[
        ("\\*", Ok("?\\x")),
        ("\\?", Ok("\\x")),
        ("\\\\", Ok("x")),
        (
            "\\",
            Err("invalid pattern (*\\) in substitution: invalid escape '\\\u{FFFD}'"),
        ),
        (
            "\\x",
            Err("invalid pattern (*\\x) in substitution: invalid escape '\\x'"),
        ),
        (
            "\\\\\\",
            Err("invalid pattern (*\\\\\\) in substitution: invalid escape '\\\u{FFFD}'"),
        ),
    ];
    let value = "*?\\x";
    for (pattern, want) in cases {
        let got = expand_with("${V##*$P}", &[("V", value), ("P", pattern)]);
        let got = got.as_ref().map(String::as_str).map_err(String::as_str);
        assert_eq!(got, *want, "pattern {pattern:?}");
    }
}

#[test]
fn suffix_patterns_reverse_correctly() {
    assert_eq!(expand_with("${V%🚀*}", &[("V", "🖖🚀👽🚀x")]).unwrap(), "🖖🚀👽");
    assert_eq!(expand_with("${V%%🚀*}", &[("V", "🖖🚀👽🚀x")]).unwrap(), "🖖");
    assert_eq!(expand_with("${V%\\*c}", &[("V", "ab*c")]).unwrap(), "ab");
    assert_eq!(expand_with("${V%$P}", &[("V", "a\\b"), ("P", "\\\\b")]).unwrap(), "a");
    // a trailing lone backslash becomes a leading escape once reversed
    assert_eq!(
        expand_with("${V%$P}", &[("V", "ab"), ("P", "ab\\")]).unwrap_err(),
        "invalid pattern (\\ba) in substitution: invalid escape '\\b'"
    );
}

#[test]
fn wildcards_do_not_cross_newlines() {
    assert_eq!(expand_with("${V#*}", &[("V", "a\nb")]).unwrap(), "a\nb");
    assert_eq!(expand_with("${V##*}", &[("V", "a\nb")]).unwrap(), "\nb");
    assert_eq!(expand_with("${V%%*}", &[("V", "a\nb")]).unwrap(), "a\n");
    assert_eq!(expand_with("${V//?/x}", &[("V", "a\nb")]).unwrap(), "x\nx");
    assert_eq!(expand_with("${V//a*b/x}", &[("V", "a\nb ab")]).unwrap(), "a\nb x");
}

#[test]
fn replacement_templates() {
    let env = [("V", "a-b-c"), ("R", "<$0|${0}|$$|$1|$x|${|$>")];
    assert_eq!(
        expand_with("${V//-/$R}", &env).unwrap(),
        "a<-|-|$|||${|$>b<-|-|$|||${|$>c"
    );
    // a single replacement is inserted as it is
    assert_eq!(expand_with("${V/-/$R}", &env).unwrap(), "a<$0|${0}|$$|$1|$x|${|$>b-c");
    // empty matches: one replacement per position, none right after a match
    assert_eq!(expand_with("${V//$E/.}", &[("V", "ab"), ("E", "")]).unwrap(), ".a.b.");
    assert_eq!(expand_with("${V//*/.}", &[("V", "ab")]).unwrap(), ".");
    assert_eq!(expand_with("${V//b*/.}", &[("V", "abab")]).unwrap(), "a.");
}

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

#[test]
fn error_messages_and_offsets() {
    let env = MapEnv::from_slice(["PWD=/home", "SHELL=bash", "NULL="]);
    let lex = Lexer::new('\\');
    let cases: &[(&str, ExpandErrorKind, usize, &str)] = &[
        (
            "he${PWD",
            ExpandErrorKind::UnsupportedModifier,
            2,
            "unsupported modifier (\u{FFFD}) in substitution",
        ),
        ("${", ExpandErrorKind::MissingBrace, 0, "syntax error: missing '}'"),
        (
            "he${}xx",
            ExpandErrorKind::BadSubstitution,
            2,
            "syntax error: bad substitution",
        ),
        (
            "${aaa:-bbb ${foo}",
            ExpandErrorKind::MissingBrace,
            0,
            "syntax error: missing '}'",
        ),
        (
            "he${XXX:YYY}",
            ExpandErrorKind::UnsupportedModifier,
            2,
            "unsupported modifier (:Y) in substitution",
        ),
        (
            "he'llo",
            ExpandErrorKind::UnterminatedQuote,
            2,
            "unexpected end of statement while looking for matching single-quote",
        ),
        (
            "\"hello\\\"",
            ExpandErrorKind::UnterminatedQuote,
            0,
            "unexpected end of statement while looking for matching double-quote",
        ),
        (
            "${PWD:=000}",
            ExpandErrorKind::UnsupportedModifier,
            0,
            "unsupported modifier (:=) in substitution",
        ),
        (
            "${PWD:#x}",
            ExpandErrorKind::UnsupportedModifier,
            0,
            "unsupported modifier (:#) in substitution",
        ),
        (
            "${PWD/x",
            ExpandErrorKind::MissingSlash,
            0,
            "syntax error: missing '/' in ${}",
        ),
        (
            "${PWD//}",
            ExpandErrorKind::MissingSlash,
            0,
            "syntax error: missing '/' in ${}",
        ),
        (
            "x${NULL:?}",
            ExpandErrorKind::RequiredVariable,
            1,
            "NULL: is not allowed to be empty",
        ),
        (
            "${XXX?}",
            ExpandErrorKind::RequiredVariable,
            0,
            "XXX: is not allowed to be unset",
        ),
        (
            "${XXX:?custom $SHELL}",
            ExpandErrorKind::RequiredVariable,
            0,
            "XXX: custom bash",
        ),
        ("${PWD:}", ExpandErrorKind::MissingBrace, 0, "syntax error: missing '}'"),
        (
            "${PWD:}x}",
            ExpandErrorKind::UnsupportedModifier,
            0,
            "unsupported modifier (:}) in substitution",
        ),
        (
            "${a:-\"b}",
            ExpandErrorKind::MissingBrace,
            0,
            "syntax error: missing '}'",
        ),
        // an inner error at the end of the input becomes the outer missing brace
        (
            "${a:-${b?msg}",
            ExpandErrorKind::MissingBrace,
            0,
            "syntax error: missing '}'",
        ),
        ("${a:-${b?msg}}", ExpandErrorKind::RequiredVariable, 5, "b: msg"),
        (
            "${PWD#\\}",
            ExpandErrorKind::MissingBrace,
            0,
            "syntax error: missing '}'",
        ),
        (
            "${PWD/\\x/y}",
            ExpandErrorKind::InvalidPattern,
            0,
            "invalid pattern (\\x) in substitution: invalid escape '\\x'",
        ),
        (
            "\t${\u{a0}",
            ExpandErrorKind::UnsupportedModifier,
            1,
            "unsupported modifier (\u{a0}) in substitution",
        ),
    ];
    for (input, kind, offset, reason) in cases {
        let e = lex.process_word(input, &env).unwrap_err();
        assert_eq!(
            (e.kind, e.offset, e.reason.as_str()),
            (*kind, *offset, *reason),
            "{input:?}"
        );
    }
    // the message quotes the word as Go's %q does
    let e = lex.process_word("a\nb\u{a0}\"${", &env).unwrap_err();
    assert_eq!(
        e.message,
        "failed to process \"a\\nb\\u00a0\\\"${\": syntax error: missing '}'"
    );
    let e = lex.process_word("x${\u{0}", &env).unwrap_err();
    assert_eq!(
        e.message,
        "failed to process \"x${\\x00\": unsupported modifier (\u{0}) in substitution"
    );
}

#[test]
fn diagnostics_have_codes() {
    let e = Lexer::new('\\').process_word("${X?}", &NoEnv).unwrap_err();
    let diag: &dyn miette::Diagnostic = &e;
    assert_eq!(
        diag.code().map(|c| c.to_string()).as_deref(),
        Some("slipway::expand::required_variable")
    );
    assert!(diag.help().is_some());
    assert_eq!(e.to_string(), e.message);
}

// ---------------------------------------------------------------------------
// Quirks that BuildKit has and slipway keeps
// ---------------------------------------------------------------------------

#[test]
fn buildkit_quirks() {
    let lex = Lexer::new('\\');
    let env = MapEnv::from_slice(["A=1"]);
    // words gathered before a `${name<modifier>}` in the same word are lost
    assert_eq!(lex.process_words("hello${x:-abc} d", &env).unwrap(), ["abc", "d"]);
    assert_eq!(lex.process_word("hello${x:-abc} d", &env).unwrap(), "helloabc d");
    assert_eq!(lex.process_words("hello${A} d", &env).unwrap(), ["hello1", "d"]);
    // `<<` keeps the following blanks and so stays one word with the marker
    assert_eq!(
        lex.process_words("cat <<  EOF x", &env).unwrap(),
        ["cat", "<<  EOF", "x"]
    );
    // empty quotes make no word
    assert_eq!(lex.process_words("a '' \"\" b", &env).unwrap(), ["a", "b"]);
    // a leading byte-order mark is skipped
    assert_eq!(lex.process_word("\u{FEFF}$A", &env).unwrap(), "1");
    assert_eq!(lex.process_word("x\u{FEFF}$A", &env).unwrap(), "x\u{FEFF}1");
    // with skip_unset_env, replace-all loses its second slash
    let mut skip = lex;
    skip.skip_unset_env = true;
    assert_eq!(
        skip.process_word("${B//x/y}${B:-z}$B", &env).unwrap(),
        "${B/x/y}${B:-z}$B"
    );
    // raw escapes inside double quotes double an escape that escapes nothing
    let mut raw = lex;
    raw.raw_escapes = true;
    assert_eq!(raw.process_word("\"\\t\\$A\"", &env).unwrap(), "\\\\t\\$A");
    // positional and special parameters are names, never set
    assert_eq!(lex.process_word("$12x$@@$$", &env).unwrap(), "x@");
    // Unicode letters and digits make names, as Go's unicode package says
    let env = MapEnv::from_slice(["한국어=k", "x٣=d"]);
    assert_eq!(lex.process_word("$한국어.$x٣.$xⅫ", &env).unwrap(), "k.d.Ⅻ");
}

#[test]
fn backtick_escape() {
    let lex = Lexer::new('`');
    let env = MapEnv::from_slice(["A=1"]);
    assert_eq!(lex.process_word("C:\\path`$A", &env).unwrap(), "C:\\path$A");
    assert_eq!(lex.process_word("\"`\"\\$A\"", &env).unwrap(), "\"\\1");
    assert_eq!(lex.process_words("a` b c", &env).unwrap(), ["a b", "c"]);
}

// ---------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------

#[test]
fn large_inputs_are_linear() {
    let lex = Lexer::new('\\');
    let env = MapEnv::from_slice(["A=xy", "V=abababababababababab"]);
    let start = std::time::Instant::now();
    let plain = "abc def\t".repeat(1 << 17);
    assert_eq!(lex.process_word(&plain, &env).unwrap(), plain);
    assert_eq!(lex.process_words(&plain, &env).unwrap().len(), 2 << 17);
    let quoted = "'a b'\"c$A\"".repeat(1 << 16);
    assert_eq!(lex.process_word(&quoted, &env).unwrap().len(), 6 << 16);
    let refs = "$A${A:-b}${V//a/c}".repeat(1 << 14);
    assert_eq!(lex.process_word(&refs, &env).unwrap().len(), 24 << 14);
    let unterminated = format!("\"{}", "x".repeat(1 << 20));
    assert!(lex.process_word(&unterminated, &env).is_err());
    let elapsed = start.elapsed();
    assert!(elapsed.as_secs() < 60, "took {elapsed:?}");
}

#[test]
fn deep_nesting_fails_cleanly() {
    let lex = Lexer::new('\\');
    for opener in ["${a:-", "${a:-\"", "${a/", "${a#"] {
        let word = opener.repeat(100_000);
        let e = lex.process_word(&word, &NoEnv).unwrap_err();
        assert_eq!(e.kind, ExpandErrorKind::LimitExceeded, "{opener}");
    }
    let ok = format!("{}x{}", "${a:-".repeat(MAX_NESTING), "}".repeat(MAX_NESTING));
    assert_eq!(lex.process_word(&ok, &NoEnv).unwrap(), "x");
}

#[test]
fn pattern_matching_is_bounded() {
    let lex = Lexer::new('\\');
    let value = "a".repeat(50_000);
    let pattern = "*a".repeat(2_000) + "b";
    let env = MapEnv::from_pairs([("V", value.as_str()), ("P", pattern.as_str())]);
    let start = std::time::Instant::now();
    let e = lex.process_word("${V//$P/x}", &env).unwrap_err();
    assert_eq!(e.kind, ExpandErrorKind::LimitExceeded);
    assert!(start.elapsed().as_secs() < 60);
    // ordinary patterns on long values stay well within the limit
    let env = MapEnv::from_pairs([("V", value.as_str())]);
    assert_eq!(lex.process_word("${V//a/b}", &env).unwrap(), "b".repeat(50_000));
    assert_eq!(lex.process_word("${V%%a*}", &env).unwrap(), "");
    assert_eq!(lex.process_word("${V#*a}", &env).unwrap().len(), 49_999);
}

fn lexers() -> impl Strategy<Value = Lexer> {
    (prop::bool::ANY, any::<[bool; 4]>()).prop_map(|(backtick, flags)| {
        let mut lex = Lexer::new(if backtick { '`' } else { '\\' });
        lex.raw_quotes = flags[0];
        lex.raw_escapes = flags[1];
        lex.skip_unset_env = flags[2];
        lex.skip_process_quotes = flags[3];
        lex
    })
}

fn check(lex: &Lexer, word: &str, env: &MapEnv) {
    let full = lex.process_word_with_matches(word, env);
    let result = lex.process_word(word, env);
    let words = lex.process_words(word, env);
    match full {
        Ok(e) => {
            assert_eq!(result.as_ref().ok(), Some(&e.result));
            assert_eq!(words.as_ref().ok(), Some(&e.words));
            assert!(e.matched.is_disjoint(&e.unmatched));
        }
        Err(e) => {
            assert!(e.offset <= word.len());
            assert!(e.message.starts_with("failed to process \""));
            assert!(e.message.ends_with(&e.reason));
            assert_eq!(result.err().as_ref(), Some(&e));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_strings_never_panic(word in any::<String>(), lex in lexers()) {
        check(&lex, &word, &MapEnv::from_slice(["a=1", "B=x y", "P=*"]));
    }

    #[test]
    fn shell_like_strings_never_panic(
        word in r#"([${}:+?#%/'"\\`<*a-cA-C0-9@!=. \t\n-]|\$\{|\$\{[aB]|é|한|\u{FEFF}){0,40}"#,
        lex in lexers(),
        value in r#"([ab*?\\/ \n$]){0,12}"#,
    ) {
        let env = MapEnv::from_pairs([("a", value.as_str()), ("B", "b"), ("E", "")]);
        check(&lex, &word, &env);
    }
}
