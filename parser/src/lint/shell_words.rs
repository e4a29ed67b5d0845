//! A small shell command splitter for the lint rules: a script becomes its
//! simple commands (`apt-get install -y curl`), each word with its quotes
//! removed and its byte range in the script, so a finding points at the exact
//! word. Not a shell parser: it knows what the rules need and no more.
//!
//! - Commands end at `&&`, `||`, `;`, `|`, `&`, newlines, `(` and `)`.
//! - Quotes (`'…'`, `"…"`), backslash escapes and line continuations are
//!   understood; `$(…)` and backticks are scanned recursively (their commands
//!   are commands too), `${…}` and `$((…))` are kept as part of the word.
//! - Leading `NAME=value` assignments and reserved words (`if`, `then`, `do`,
//!   `!`, `{`, …) are not command names; `for`/`case`/`select` headers are
//!   not commands.
//! - Redirections (`>f`, `2>&1`, `<f`) and their targets are not words;
//!   here-document bodies in the script (`cat <<EOF`) are skipped, and each
//!   command records the delimiters it opened.
//! - `#` at the start of a word starts a comment.
//!
//! Ranges are byte ranges into the script; only ASCII bytes are special, so
//! ranges always fall on character boundaries.

use std::ops::Range;

/// A word of a command, quotes and escapes removed (expansions kept as written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Word {
    pub text: String,
    /// Where the word is in the script.
    pub range: Range<usize>,
    /// `text` is exactly the script's bytes at `range` (no quotes, escapes or expansions).
    pub literal: bool,
}

/// A simple command: its name first, then its arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Command {
    pub words: Vec<Word>,
    /// Delimiters of the here-documents this command reads (`cat <<EOF`).
    pub heredocs: Vec<String>,
}

impl Command {
    /// The command name (`apt-get`), as written.
    pub fn name(&self) -> &str {
        self.words.first().map_or("", |w| w.text.as_str())
    }

    /// The last path component of the name (`/usr/bin/pip3` → `pip3`).
    pub fn basename(&self) -> &str {
        let n = self.name();
        n.rsplit('/').next().unwrap_or(n)
    }

    /// Whether this runs a POSIX-family shell that reads its script from
    /// standard input (`bash`, `sh -e`, not `sh -c '…'`).
    pub fn reads_script_from_stdin(&self) -> bool {
        matches!(self.basename(), "sh" | "bash" | "dash" | "ash" | "ksh" | "mksh" | "zsh")
            && !self.flags().any(|(f, _)| f == "c")
            && self.operands(&["o", "O"]).is_empty()
    }

    /// The arguments after the name.
    pub fn args(&self) -> &[Word] {
        self.words.get(1..).unwrap_or(&[])
    }

    /// Whether any argument is exactly `arg`.
    pub fn has_arg(&self, arg: &str) -> bool {
        self.args().iter().any(|w| w.text == arg)
    }

    /// The first argument that is exactly one of `args`.
    pub fn find_arg(&self, args: &[&str]) -> Option<&Word> {
        self.args().iter().find(|w| args.contains(&w.text.as_str()))
    }

    /// Option names given, hadolint's way: `--name[=v]` gives `name`, `-abc`
    /// gives `a`, `b`, `c`; `-` is not an option, and none follow `--`.
    pub fn flags(&self) -> impl Iterator<Item = (&str, &Word)> + '_ {
        self.args().iter().take_while(|w| w.text != "--").flat_map(|w| {
            let t = w.text.as_str();
            let names: Vec<&str> = if t == "-" || t == "--" || !t.starts_with('-') {
                Vec::new()
            } else if let Some(long) = t.strip_prefix("--") {
                vec![long.split('=').next().unwrap_or(long)]
            } else {
                let short = &t[1..];
                short.char_indices().map(|(i, c)| &short[i..i + c.len_utf8()]).collect()
            };
            names.into_iter().map(move |n| (n, w))
        })
    }

    /// Whether any of the options `names` is given.
    pub fn has_flag(&self, names: &[&str]) -> bool {
        self.flags().any(|(n, _)| names.contains(&n))
    }

    /// How many times option `name` is given (`-qq` counts two).
    pub fn count_flag(&self, name: &str) -> usize {
        self.flags().filter(|(n, _)| *n == name).count()
    }

    /// The arguments that are not options, skipping the value that follows
    /// each option in `with_value` (`-t bookworm`, `--target-release bookworm`)
    /// unless it was given inline (`--target-release=bookworm`).
    pub fn operands(&self, with_value: &[&str]) -> Vec<&Word> {
        let mut out = Vec::new();
        let mut skip = false;
        let mut after_dashdash = false;
        for w in self.args() {
            let t = w.text.as_str();
            if skip {
                skip = false;
                continue;
            }
            if after_dashdash || !t.starts_with('-') || t == "-" {
                out.push(w);
                continue;
            }
            if t == "--" {
                after_dashdash = true;
                continue;
            }
            if let Some(long) = t.strip_prefix("--") {
                skip = !long.contains('=') && with_value.contains(&long);
            } else if let Some(last) = t[1..].chars().last() {
                // `-t value`: a value-taking short option last in a cluster.
                let mut buf = [0; 4];
                skip = with_value.contains(&&*last.encode_utf8(&mut buf));
            }
        }
        out
    }
}

/// A script split into commands.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Script {
    /// Every simple command, in order of where its name starts (commands inside
    /// `$(…)` included).
    pub commands: Vec<Command>,
    /// Every pipe operator `|` (not `||`).
    pub pipes: Vec<Range<usize>>,
}

/// Splits a script into simple commands.
pub(crate) fn split(script: &str) -> Script {
    let mut out = Script::default();
    Splitter {
        s: script.as_bytes(),
        out: &mut out,
        depth: 0,
        cases: 0,
        pattern: false,
    }
    .list(0, script.len());
    out.commands.sort_by_key(|c| c.words[0].range.start);
    out
}

/// Words reserved at command position that are not commands.
const RESERVED: [&str; 13] = [
    "if", "then", "else", "elif", "do", "while", "until", "!", "{", "}", "fi", "done", "esac",
];

/// Nesting limit for `$(…)` and backticks: deeper text is kept in the word, unscanned.
const MAX_DEPTH: usize = 16;

struct Splitter<'a, 'o> {
    s: &'a [u8],
    out: &'o mut Script,
    depth: usize,
    /// `case` statements open in the list being read.
    cases: usize,
    /// Reading a `case` pattern (`a|b)`): `|` is not a pipe, the words no command.
    pattern: bool,
}

/// The word being read.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    start: Option<usize>,
    /// Where the word read so far ends.
    end: usize,
    literal: bool,
}

/// The command being read.
#[derive(Default)]
struct Current {
    words: Vec<Word>,
    heredocs: Vec<String>,
    /// The next word is a redirection target, not an argument.
    redirect_target: bool,
    /// The next word is a here-document delimiter (`<<-`: tabs stripped).
    heredoc_delimiter: Option<bool>,
    /// Indices of the here-documents this command opened, into the pending bodies.
    opened: Vec<usize>,
}

/// A here-document opened on the current line, read after its end.
struct Body {
    delimiter: String,
    strip_tabs: bool,
    /// Read by a shell (`bash <<EOF`): the body is a script too.
    script: bool,
}

impl<'a, 'o> Splitter<'a, 'o> {
    /// Scans `s[from..to]`, a list of commands.
    fn list(&mut self, from: usize, to: usize) {
        let s = self.s;
        let mut i = from;
        let mut word = Pending::default();
        let mut cmd = Current::default();
        let mut bodies: Vec<Body> = Vec::new();
        while i < to {
            let c = s[i];
            match c {
                b' ' | b'\t' | b'\r' => {
                    self.end_word(&mut word, &mut cmd, &mut bodies);
                    i += 1;
                }
                b'\n' => {
                    self.end_word(&mut word, &mut cmd, &mut bodies);
                    self.end_command(&mut cmd, &mut bodies);
                    i += 1;
                    for body in std::mem::take(&mut bodies) {
                        let (end, next) = heredoc_body(s, i, to, &body.delimiter, body.strip_tabs);
                        if body.script {
                            self.nested(i, end);
                        }
                        i = next;
                    }
                }
                b'#' if word.start.is_none() => {
                    while i < to && s[i] != b'\n' {
                        i += 1;
                    }
                }
                b'\\' => {
                    if s.get(i + 1) == Some(&b'\n') && i + 1 < to {
                        i += 2;
                        continue;
                    }
                    start(&mut word, i);
                    word.literal = false;
                    let n = char_len(s, i + 1).min(to.saturating_sub(i + 1));
                    word.bytes.extend_from_slice(&s[i + 1..i + 1 + n]);
                    i += 1 + n;
                    word.end = i;
                }
                b'\'' => {
                    start(&mut word, i);
                    word.literal = false;
                    let end = find_byte(s, i + 1, to, b'\'');
                    word.bytes.extend_from_slice(&s[i + 1..end]);
                    i = (end + 1).min(to);
                    word.end = i;
                }
                b'"' => {
                    start(&mut word, i);
                    word.literal = false;
                    i = self.double_quoted(i + 1, to, &mut word);
                    word.end = i;
                }
                b'$' => {
                    start(&mut word, i);
                    i = self.dollar(i, to, &mut word);
                    word.end = i;
                }
                b'`' => {
                    start(&mut word, i);
                    word.literal = false;
                    let end = find_backtick(s, i + 1, to);
                    self.nested(i + 1, end);
                    word.bytes.extend_from_slice(&s[i..(end + 1).min(to)]);
                    i = (end + 1).min(to);
                    word.end = i;
                }
                b';' => {
                    self.end_word(&mut word, &mut cmd, &mut bodies);
                    self.end_command(&mut cmd, &mut bodies);
                    i += 1;
                    // `;;`, `;&`, `;;&` end a case branch: a pattern follows.
                    if i < to && matches!(s[i], b';' | b'&') && self.cases > 0 {
                        i += 1;
                        if i < to && s[i] == b'&' {
                            i += 1;
                        }
                        self.pattern = true;
                    }
                }
                b'|' | b'(' | b')' if self.pattern => {
                    self.end_word(&mut word, &mut cmd, &mut bodies);
                    if c == b')' {
                        cmd.words.clear();
                        self.pattern = false;
                    }
                    i += 1;
                }
                b'&' | b'|' | b'(' | b')' => {
                    if c == b'&' && s.get(i + 1) == Some(&b'>') && i + 1 < to {
                        // `&>file`: a redirection.
                        self.end_word(&mut word, &mut cmd, &mut bodies);
                        i += 2;
                        if i < to && s[i] == b'>' {
                            i += 1;
                        }
                        cmd.redirect_target = true;
                        continue;
                    }
                    self.end_word(&mut word, &mut cmd, &mut bodies);
                    self.end_command(&mut cmd, &mut bodies);
                    let double = i + 1 < to && s[i + 1] == c && (c == b'&' || c == b'|');
                    if c == b'|' && !double {
                        self.out.pipes.push(i..i + 1);
                        if i + 1 < to && s[i + 1] == b'&' {
                            i += 1;
                        }
                    }
                    i += if double { 2 } else { 1 };
                }
                b'<' | b'>' => {
                    // An all-digit word right before is a file descriptor (`2>`).
                    if word.start.is_some() && word.literal && word.bytes.iter().all(u8::is_ascii_digit) {
                        word = Pending::default();
                    } else {
                        self.end_word(&mut word, &mut cmd, &mut bodies);
                    }
                    let rest = &s[i..to];
                    if rest.starts_with(b"<<<") {
                        i += 3;
                        cmd.redirect_target = true;
                    } else if rest.starts_with(b"<<") {
                        let tabs = rest.get(2) == Some(&b'-');
                        i += if tabs { 3 } else { 2 };
                        cmd.heredoc_delimiter = Some(tabs);
                    } else {
                        i += 1;
                        if i < to && matches!(s[i], b'>' | b'&' | b'|') {
                            i += 1;
                        }
                        cmd.redirect_target = true;
                    }
                }
                _ => {
                    start(&mut word, i);
                    let n = char_len(s, i).min(to - i);
                    word.bytes.extend_from_slice(&s[i..i + n]);
                    i += n;
                    word.end = i;
                }
            }
        }
        self.end_word(&mut word, &mut cmd, &mut bodies);
        self.end_command(&mut cmd, &mut bodies);
    }

    /// Reads a double-quoted string from after the opening quote; returns the
    /// offset after the closing quote.
    fn double_quoted(&mut self, mut i: usize, to: usize, word: &mut Pending) -> usize {
        let s = self.s;
        while i < to {
            match s[i] {
                b'"' => return i + 1,
                b'\\' if i + 1 < to => {
                    let next = s[i + 1];
                    if next == b'\n' {
                    } else if matches!(next, b'$' | b'`' | b'"' | b'\\') {
                        word.bytes.push(next);
                    } else {
                        word.bytes.extend_from_slice(&s[i..i + 2]);
                    }
                    i += 2;
                }
                b'$' => i = self.dollar(i, to, word),
                b'`' => {
                    let end = find_backtick(s, i + 1, to);
                    self.nested(i + 1, end);
                    word.bytes.extend_from_slice(&s[i..(end + 1).min(to)]);
                    i = (end + 1).min(to);
                }
                _ => {
                    let n = char_len(s, i).min(to - i);
                    word.bytes.extend_from_slice(&s[i..i + n]);
                    i += n;
                }
            }
        }
        to
    }

    /// Reads `$…` at `i` into the word; returns the offset after it.
    fn dollar(&mut self, i: usize, to: usize, word: &mut Pending) -> usize {
        let s = self.s;
        let rest = &s[i..to];
        let end = if rest.starts_with(b"$((") {
            find_close(s, i + 3, to, b'(', b')').map_or(to, |e| (e + 2).min(to))
        } else if rest.starts_with(b"$(") {
            let close = find_close(s, i + 2, to, b'(', b')').unwrap_or(to);
            self.nested(i + 2, close);
            (close + 1).min(to)
        } else if rest.starts_with(b"${") {
            find_close(s, i + 2, to, b'{', b'}').map_or(to, |e| e + 1)
        } else if rest.starts_with(b"$'") {
            // `$'…'`: ANSI-C quoting; the text is kept without the quotes.
            let close = find_byte(s, i + 2, to, b'\'');
            word.bytes.extend_from_slice(&s[i + 2..close]);
            word.literal = false;
            return (close + 1).min(to);
        } else {
            word.bytes.push(b'$');
            word.literal = false;
            return i + 1;
        };
        word.literal = false;
        word.bytes.extend_from_slice(&s[i..end]);
        end
    }

    /// Scans the commands of a `$(…)` or backtick substitution.
    fn nested(&mut self, from: usize, to: usize) {
        if self.depth >= MAX_DEPTH || from >= to {
            return;
        }
        let saved = (std::mem::take(&mut self.cases), std::mem::take(&mut self.pattern));
        self.depth += 1;
        self.list(from, to);
        self.depth -= 1;
        (self.cases, self.pattern) = saved;
    }

    fn end_word(&mut self, word: &mut Pending, cmd: &mut Current, bodies: &mut Vec<Body>) {
        let Some(start) = word.start else { return };
        let w = std::mem::take(word);
        let text = String::from_utf8(w.bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
        if let Some(strip_tabs) = cmd.heredoc_delimiter.take() {
            cmd.opened.push(bodies.len());
            bodies.push(Body {
                delimiter: text.clone(),
                strip_tabs,
                script: false,
            });
            cmd.heredocs.push(text);
            return;
        }
        if std::mem::take(&mut cmd.redirect_target) {
            return;
        }
        if text == "esac" && self.cases > 0 && (self.pattern || cmd.words.is_empty()) {
            self.cases -= 1;
            self.pattern = false;
            return;
        }
        cmd.words.push(Word {
            text,
            range: start..w.end,
            literal: w.literal,
        });
        if let [case, _, kw] = cmd.words.as_slice() {
            if case.text == "case" && kw.text == "in" {
                cmd.words.clear();
                self.cases += 1;
                self.pattern = true;
            }
        }
    }

    fn end_command(&mut self, cmd: &mut Current, bodies: &mut [Body]) {
        let c = std::mem::take(cmd);
        let mut words = c.words.into_iter().peekable();
        // Reserved words and assignments before the name.
        while let Some(w) = words.peek() {
            if RESERVED.contains(&w.text.as_str()) || is_assignment(&w.text) {
                words.next();
            } else {
                break;
            }
        }
        let words: Vec<Word> = words.collect();
        match words.first().map(|w| w.text.as_str()) {
            None | Some("for" | "case" | "select" | "function" | "in" | ";;") => {}
            _ => {
                let command = Command {
                    words,
                    heredocs: c.heredocs,
                };
                if command.reads_script_from_stdin() {
                    for &b in &c.opened {
                        if let Some(body) = bodies.get_mut(b) {
                            body.script = true;
                        }
                    }
                }
                self.out.commands.push(command);
            }
        }
    }
}

fn start(word: &mut Pending, i: usize) {
    if word.start.is_none() {
        word.start = Some(i);
        word.literal = true;
    }
}

/// `NAME=…` with a valid variable name.
fn is_assignment(w: &str) -> bool {
    match w.split_once('=') {
        Some((name, _)) => {
            let name = name.strip_suffix('+').unwrap_or(name);
            name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        }
        None => false,
    }
}

/// The length of the UTF-8 character starting at `i` (1 for a stray byte, 0 at the end).
fn char_len(s: &[u8], i: usize) -> usize {
    match s.get(i) {
        None => 0,
        Some(&b) if b < 0xC0 => 1,
        Some(&b) if b < 0xE0 => 2,
        Some(&b) if b < 0xF0 => 3,
        Some(_) => 4,
    }
    .min(s.len().saturating_sub(i))
}

/// The offset of the first `b` in `s[from..to]`, or `to`.
fn find_byte(s: &[u8], from: usize, to: usize, b: u8) -> usize {
    s[from.min(to)..to]
        .iter()
        .position(|&x| x == b)
        .map_or(to, |p| from + p)
}

/// The closing backtick from `from`, honouring backslash escapes, or `to`.
fn find_backtick(s: &[u8], from: usize, to: usize) -> usize {
    let mut i = from;
    while i < to {
        match s[i] {
            b'\\' => i += 2,
            b'`' => return i,
            _ => i += 1,
        }
    }
    to
}

/// Skips a double-quoted string from after its opening quote to `to`.
fn skip_double_quoted_at(s: &[u8], mut i: usize, to: usize, depth: usize) -> usize {
    while i < to {
        match s[i] {
            b'"' => return i + 1,
            b'\\' => i += 2,
            b'$' if s.get(i + 1) == Some(&b'(') && depth < MAX_DEPTH => {
                i = find_close_at(s, i + 2, to, b'(', b')', depth + 1).map_or(to, |e| e + 1);
            }
            b'`' => i = (find_backtick(s, i + 1, to) + 1).min(to),
            _ => i += 1,
        }
    }
    to
}

/// The offset of the `close` that balances an already opened `open`, skipping
/// quoted text and escapes.
fn find_close(s: &[u8], from: usize, to: usize, open: u8, close: u8) -> Option<usize> {
    find_close_at(s, from, to, open, close, 0)
}

fn find_close_at(s: &[u8], from: usize, to: usize, open: u8, close: u8, depth: usize) -> Option<usize> {
    let mut level = 1usize;
    let mut i = from;
    while i < to {
        match s[i] {
            b'\\' => i += 1,
            b'\'' if open == b'(' => i = find_byte(s, i + 1, to, b'\''),
            b'"' => i = skip_double_quoted_at(s, i + 1, to, depth + 1).saturating_sub(1),
            b if b == open => level += 1,
            b if b == close => {
                level -= 1;
                if level == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// A here-document body starting at `i`: where it ends (the start of the
/// delimiter line) and where reading goes on (after that line).
fn heredoc_body(s: &[u8], mut i: usize, to: usize, delim: &str, tabs: bool) -> (usize, usize) {
    while i < to {
        let end = find_byte(s, i, to, b'\n');
        let mut line = &s[i..end];
        if tabs {
            while let [b'\t', rest @ ..] = line {
                line = rest;
            }
        }
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line == delim.as_bytes() {
            return (i, (end + 1).min(to));
        }
        i = (end + 1).min(to);
    }
    (to, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each command as its words joined by spaces.
    fn commands(script: &str) -> Vec<String> {
        split(script)
            .commands
            .iter()
            .map(|c| c.words.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" "))
            .collect()
    }

    #[test]
    fn splits_on_every_operator() {
        assert_eq!(
            commands("a 1 && b 2 || c; d | e & f\ng (h) "),
            ["a 1", "b 2", "c", "d", "e", "f", "g", "h"]
        );
        assert_eq!(split("a | b |& c || d").pipes, [2..3, 6..7]);
    }

    #[test]
    fn quotes_and_escapes_are_removed() {
        assert_eq!(
            commands(r#"echo 'a b' "c \"d\" \$e" f\ g "h"'i'"#),
            [r#"echo a b c "d" $e f g hi"#]
        );
        assert_eq!(commands("echo 'a;b' \"c&&d\" e\\;f"), ["echo a;b c&&d e;f"]);
    }

    #[test]
    fn word_ranges_cover_the_written_word() {
        let script = "apt-get  install -y 'cu rl' \"x\"y $(echo z) w\\ v";
        let s = split(script);
        let outer = s.commands.iter().find(|c| c.name() == "apt-get").unwrap();
        let slices: Vec<&str> = outer.words.iter().map(|w| &script[w.range.clone()]).collect();
        assert_eq!(
            slices,
            ["apt-get", "install", "-y", "'cu rl'", "\"x\"y", "$(echo z)", "w\\ v"]
        );
        let literal: Vec<bool> = outer.words.iter().map(|w| w.literal).collect();
        assert_eq!(literal, [true, true, true, false, false, false, false]);
    }

    #[test]
    fn substitutions_are_scanned_for_commands() {
        assert_eq!(
            commands("echo $(curl -s x | sh) `wget y` \"$(sudo z)\" $((1+2)) ${a:-$(b)}"),
            [
                "echo $(curl -s x | sh) `wget y` $(sudo z) $((1+2)) ${a:-$(b)}",
                "curl -s x",
                "sh",
                "wget y",
                "sudo z"
            ]
        );
    }

    #[test]
    fn assignments_and_reserved_words_are_not_names() {
        assert_eq!(
            commands("DEBIAN_FRONTEND=noninteractive apt-get update; if [ -f x ]; then cd /; fi"),
            ["apt-get update", "[ -f x ]", "cd /"]
        );
        assert_eq!(
            commands("for p in a b; do pip install $p; done\nwhile true; do ! false; done"),
            ["pip install $p", "true", "false"]
        );
        assert_eq!(commands("{ echo a; } && (cd b && make)"), ["echo a", "cd b", "make"]);
    }

    #[test]
    fn redirections_are_not_words() {
        assert_eq!(commands("cmd >out 2>&1 <in arg 2> err &>all >>app x"), ["cmd arg x"]);
        assert_eq!(commands("echo a>b c"), ["echo a c"]);
    }

    #[test]
    fn heredoc_bodies_in_scripts_are_skipped() {
        let s = split("cat <<EOF > /etc/x && echo after\nsudo in body\nEOF\nnext\ncat <<-'E'\n\tvim\n\tE\nlast");
        let names: Vec<&str> = s.commands.iter().map(Command::name).collect();
        assert_eq!(names, ["cat", "echo", "next", "cat", "last"]);
        assert_eq!(s.commands[0].heredocs, ["EOF"]);
        assert_eq!(s.commands[3].heredocs, ["E"]);
    }

    #[test]
    fn case_patterns_are_not_commands_or_pipes() {
        let s = split("case \"$arch\" in\n  x86_64|aarch64) apk add a ;;\n  (*) echo no; exit 1 ;;\nesac; b | c");
        let names: Vec<&str> = s.commands.iter().map(Command::name).collect();
        assert_eq!(names, ["apk", "echo", "exit", "b", "c"]);
        assert_eq!(s.pipes.len(), 1);
        assert_eq!(commands("case $a in a) x;; esac && y"), ["x", "y"]);
    }

    #[test]
    fn heredoc_bodies_read_by_a_shell_are_scripts() {
        let script =
            "bash -e <<EOF\napt-get install x\nEOF\ncat <<EOF >f\nsudo no\nEOF\nsh -c 'a' <<EOF\nnot a script\nEOF";
        let s = split(script);
        let names: Vec<&str> = s.commands.iter().map(Command::name).collect();
        assert_eq!(names, ["bash", "apt-get", "cat", "sh"]);
    }

    #[test]
    fn comments_and_continuations() {
        assert_eq!(commands("a \\\n  b # c && d\n# whole line\ne#f"), ["a b", "e#f"]);
    }

    #[test]
    fn flags_and_operands_follow_hadolint() {
        let s = split("apt-get -qq -t bookworm install --no-install-recommends=1 -- -a curl");
        let c = &s.commands[0];
        let flags: Vec<&str> = c.flags().map(|(n, _)| n).collect();
        assert_eq!(flags, ["q", "q", "t", "no-install-recommends"]);
        assert_eq!(c.count_flag("q"), 2);
        let ops: Vec<&str> = c.operands(&["t"]).iter().map(|w| w.text.as_str()).collect();
        assert_eq!(ops, ["install", "-a", "curl"]);
    }

    #[test]
    fn unterminated_constructs_do_not_panic() {
        for s in [
            "echo 'a",
            "echo \"a",
            "echo $(a",
            "echo ${a",
            "echo `a",
            "a \\",
            "cat <<",
            "cat <<EOF\nx",
            "$((1",
            "é 'ü",
            "echo \"$(\"",
            "a >",
            "))))",
            "$'x",
        ] {
            let out = split(s);
            for c in &out.commands {
                for w in &c.words {
                    assert!(w.range.end <= s.len() && w.range.start <= w.range.end, "{s:?}: {w:?}");
                    assert!(s.is_char_boundary(w.range.start) && s.is_char_boundary(w.range.end));
                }
            }
        }
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let deep = "$(".repeat(5000) + &")".repeat(5000);
        split(&deep);
        let ticks = "echo $(a $(b $(c)))";
        assert_eq!(commands(ticks), ["echo $(a $(b $(c)))", "a $(b $(c))", "b $(c)", "c"]);
    }
}
