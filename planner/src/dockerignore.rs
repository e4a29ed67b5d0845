//! `.dockerignore`: which paths of a build context the client leaves out.
//!
//! Docker reads the file with `moby/patternmatcher/ignorefile.ReadAll` and
//! matches with `patternmatcher` (`MatchesOrParentMatches`); this module
//! follows both rule for rule:
//!
//! - lines starting with `#` are comments; blank lines are skipped; a UTF-8 BOM
//!   is dropped; each pattern is trimmed, `filepath.Clean`ed, and a leading `/`
//!   removed (so `/a`, `./a` and `a` are the same pattern);
//! - `!` re-includes what an earlier pattern excluded; the last matching
//!   pattern wins;
//! - a pattern is a `filepath.Match` glob (`*` and `?` never match `/`,
//!   `[a-z]` classes, `\` escapes) where `**` matches any number of directories;
//! - a pattern that matches a parent directory excludes everything under it.
//!
//! Paths are context-relative and `/`-separated (`src/main.rs`).

use regex::Regex;
use std::fmt;

/// Parsed `.dockerignore` patterns.
#[derive(Debug, Clone, Default)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
}

#[derive(Debug, Clone)]
struct Pattern {
    /// The cleaned pattern, without `!`.
    text: String,
    exclusion: bool,
    matcher: Matcher,
}

#[derive(Debug, Clone)]
enum Matcher {
    Exact,
    /// `foo/**`: everything starting with `foo/` (and `foo/` itself).
    Prefix,
    /// `**/foo`: anything ending in `/foo`, or `foo` itself.
    Suffix,
    Regex(Regex),
}

/// A pattern that is no valid glob (`[` unclosed, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    /// 1-based line of the `.dockerignore` file.
    pub line: usize,
    pub pattern: String,
    pub message: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}: invalid pattern {:?}: {}",
            self.line, self.pattern, self.message
        )
    }
}

impl std::error::Error for PatternError {}

impl DockerIgnore {
    /// Reads a `.dockerignore` file's text.
    pub fn parse(text: &str) -> Result<DockerIgnore, PatternError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut patterns = Vec::new();
        // bufio.Scanner lines: split at `\n`, a trailing `\r` dropped.
        for (i, line) in text.split('\n').enumerate() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.starts_with('#') {
                continue;
            }
            let Some(p) = read_line(line) else { continue };
            if let Some(p) = compile(&p).map_err(|message| PatternError {
                line: i + 1,
                pattern: line.trim().to_string(),
                message,
            })? {
                patterns.push(p);
            }
        }
        Ok(DockerIgnore { patterns })
    }

    /// No patterns at all.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether any pattern re-includes (`!`) paths.
    pub fn has_exclusions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether the context path is left out of the build context
    /// (`patternmatcher.MatchesOrParentMatches`, after cleaning the path).
    pub fn excludes(&self, path: &str) -> bool {
        let file = clean(path);
        if file == "." {
            // "Don't let them exclude everything, kind of silly."
            return false;
        }
        self.matches_or_parent_matches(&file)
    }

    /// What BuildKit's CopyIgnoredFile check asks of a COPY/ADD source:
    /// nothing is reported when a pattern re-includes paths (too hard to decide
    /// statically), and the context root only when a pattern excludes every entry.
    pub fn copy_source_ignored(&self, src: &str) -> bool {
        if self.patterns.is_empty() || self.has_exclusions() {
            return false;
        }
        let src = clean(src);
        if (src == "." || src == "/")
            && !self
                .patterns
                .iter()
                .any(|p| !p.exclusion && matches!(p.text.as_str(), "*" | "**" | "**/*"))
        {
            return false;
        }
        self.matches_or_parent_matches(&src)
    }

    fn matches_or_parent_matches(&self, file: &str) -> bool {
        let mut matched = false;
        for p in &self.patterns {
            // An inclusion needs evaluating only while unmatched, an exclusion only while matched.
            if p.exclusion != matched {
                continue;
            }
            if p.matches_or_parent(file) {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// `patternmatcher.New`: patterns as COPY `--exclude` and the `--parents`
    /// include patterns give them (trimmed and cleaned; no comments, and a
    /// leading `/` is kept).
    pub fn from_patterns<S: AsRef<str>>(patterns: &[S]) -> Result<DockerIgnore, PatternError> {
        let mut out = Vec::new();
        for (i, raw) in patterns.iter().enumerate() {
            let raw = raw.as_ref();
            if let Some(p) = compile(raw).map_err(|message| PatternError {
                line: i + 1,
                pattern: raw.trim().to_string(),
                message,
            })? {
                out.push(p);
            }
        }
        Ok(DockerIgnore { patterns: out })
    }

    /// `PatternMatcher.MatchesUsingParentResults`, as BuildKit's context walk
    /// and COPY use it: `parent` holds, per pattern, whether it matched the
    /// parent directory (`None`: nothing known, so parents are checked by
    /// name); `info` receives the same for `file`, for its children. Unlike
    /// `excludes`, a pattern skipped for the parent is not inherited (so
    /// `a/b` then `!a` keeps `a/b/c` excluded, as BuildKit does).
    pub(crate) fn matches_using_parent_results(
        &self,
        file: &str,
        parent: Option<&[bool]>,
        info: &mut Vec<bool>,
    ) -> bool {
        info.clear();
        info.resize(self.patterns.len(), false);
        let mut matched = false;
        for (i, p) in self.patterns.iter().enumerate() {
            let mut hit = parent.is_some_and(|m| m[i]);
            if !hit {
                if p.exclusion != matched {
                    continue;
                }
                hit = match parent {
                    Some(_) => p.matches(file),
                    None => p.matches_or_parent(file),
                };
            }
            info[i] = hit;
            if hit {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// Whether BuildKit's context walk (fsutil's filter) still descends into
    /// an excluded directory: when a `!` pattern has a wildcard, always;
    /// otherwise when some `!` pattern (without a trailing `/**` or `/*`)
    /// lies under `dir`.
    pub(crate) fn may_reinclude_under(&self, dir: &str) -> bool {
        let exceptions = || self.patterns.iter().filter(|p| p.exclusion);
        let trimmed = |p: &Pattern| -> String {
            let t = p.text.strip_suffix("/**").unwrap_or(&p.text);
            let t = t.strip_suffix("/*").unwrap_or(t);
            t.to_string()
        };
        if exceptions().any(|p| trimmed(p).contains(['*', '[', ']', '?', '^', '\\'])) {
            return true;
        }
        let dir_slash = format!("{dir}/");
        exceptions().any(|p| format!("{}/", trimmed(p)).starts_with(&dir_slash))
    }
}

impl Pattern {
    /// The path or one of its parent directories matches
    /// (split as Go does, so `/a` yields `""` first).
    fn matches_or_parent(&self, file: &str) -> bool {
        if self.matches(file) {
            return true;
        }
        let parent = match file.rfind('/') {
            Some(0) => "/",
            Some(i) => &file[..i],
            None => return false,
        };
        parent
            .match_indices('/')
            .map(|(i, _)| i)
            .chain(std::iter::once(parent.len()))
            .any(|end| self.matches(&parent[..end]))
    }

    fn matches(&self, path: &str) -> bool {
        match &self.matcher {
            Matcher::Exact => path == self.text,
            Matcher::Prefix => path.starts_with(&self.text[..self.text.len() - 2]),
            Matcher::Suffix => {
                let suffix = &self.text[2..];
                path.ends_with(suffix) || suffix.strip_prefix('/').is_some_and(|s| path == s)
            }
            Matcher::Regex(re) => re.is_match(path),
        }
    }
}

/// `ignorefile.ReadAll` for one line: trim, `!`, clean, drop a leading `/`.
fn read_line(line: &str) -> Option<String> {
    let mut pattern = line.trim();
    if pattern.is_empty() {
        return None;
    }
    let invert = pattern.starts_with('!');
    if invert {
        pattern = pattern[1..].trim();
    }
    let mut out = String::new();
    if !pattern.is_empty() {
        let cleaned = clean(pattern);
        let cleaned = match cleaned.strip_prefix('/') {
            Some(rest) if cleaned.len() > 1 => rest.to_string(),
            _ => cleaned,
        };
        out = cleaned;
    }
    Some(if invert { format!("!{out}") } else { out })
}

/// `patternmatcher.New` for one pattern: trim, clean (the `!` included, as
/// Docker does), split off `!`, check the syntax and build the matcher.
fn compile(raw: &str) -> Result<Option<Pattern>, String> {
    let p = raw.trim();
    if p.is_empty() {
        return Ok(None);
    }
    let mut p = clean(p);
    let mut exclusion = false;
    if let Some(rest) = p.strip_prefix('!') {
        if rest.is_empty() {
            return Err("illegal exclusion pattern: \"!\"".into());
        }
        exclusion = true;
        p = rest.to_string();
    }
    check_glob(&p)?;
    let matcher = to_matcher(&p)?;
    Ok(Some(Pattern {
        text: p,
        exclusion,
        matcher,
    }))
}

/// The syntax errors `filepath.Match(pattern, ".")` reports (`ErrBadPattern`):
/// unclosed or empty character classes, a trailing `\`, an unescaped `-` or `]`
/// in the wrong place of a class.
fn check_glob(p: &str) -> Result<(), String> {
    const BAD: &str = "syntax error in pattern";
    let mut chars = p.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.next().is_none() => return Err(BAD.into()),
            '[' => {
                if chars.peek() == Some(&'^') {
                    chars.next();
                }
                let mut n = 0;
                loop {
                    let Some(c) = chars.next() else { return Err(BAD.into()) };
                    if c == ']' && n > 0 {
                        break;
                    }
                    // One class character, optionally a range `lo-hi`.
                    match c {
                        '\\' => {
                            chars.next().ok_or(BAD)?;
                        }
                        '-' | ']' => return Err(BAD.into()),
                        _ => {}
                    }
                    if chars.peek() == Some(&'-') {
                        chars.next();
                        match chars.next() {
                            Some('\\') => {
                                chars.next().ok_or(BAD)?;
                            }
                            Some('-' | ']') | None => return Err(BAD.into()),
                            Some(_) => {}
                        }
                    }
                    n += 1;
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// `Pattern.compile`: the pattern as a regular expression, or one of the fast paths.
fn to_matcher(pattern: &str) -> Result<Matcher, String> {
    #[derive(PartialEq)]
    enum Kind {
        Exact,
        Prefix,
        Suffix,
        Regex,
    }
    let mut re = String::from("^");
    let mut kind = Kind::Exact;
    let mut chars = pattern.chars().peekable();
    // Inside `[...]`: Go passes the class to its regexp as written, but Rust's
    // classes nest and have set operators, so escape what they would read.
    let mut in_class = false;
    let mut i = 0;
    while let Some(ch) = chars.next() {
        if in_class {
            match ch {
                ']' => {
                    re.push(']');
                    in_class = false;
                }
                '\\' => match chars.next() {
                    Some(next) => re.push_str(&regex::escape(&next.to_string())),
                    None => re.push_str("\\\\"),
                },
                '-' => re.push('-'),
                c => re.push_str(&regex::escape(&c.to_string())),
            }
        } else if ch == '*' {
            if chars.peek() == Some(&'*') {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                }
                if chars.peek().is_none() {
                    if kind == Kind::Exact {
                        kind = Kind::Prefix;
                    } else {
                        re.push_str(".*");
                        kind = Kind::Regex;
                    }
                } else {
                    re.push_str("(.*/)?");
                    kind = Kind::Regex;
                }
                if i == 0 {
                    kind = Kind::Suffix;
                }
            } else {
                re.push_str("[^/]*");
                kind = Kind::Regex;
            }
        } else if ch == '?' {
            re.push_str("[^/]");
            kind = Kind::Regex;
        } else if ch == '\\' {
            match chars.next() {
                Some(next) => {
                    re.push_str(&regex::escape(&next.to_string()));
                    kind = Kind::Regex;
                }
                None => re.push_str("\\\\"),
            }
        } else if ch == '[' {
            re.push('[');
            if chars.peek() == Some(&'^') {
                chars.next();
                re.push('^');
            }
            in_class = true;
            kind = Kind::Regex;
        } else if ch == ']' {
            re.push_str("\\]");
            kind = Kind::Regex;
        } else {
            re.push_str(&regex::escape(&ch.to_string()));
        }
        i += 1;
    }
    Ok(match kind {
        Kind::Exact => Matcher::Exact,
        Kind::Prefix => Matcher::Prefix,
        Kind::Suffix => Matcher::Suffix,
        Kind::Regex => {
            re.push('$');
            Matcher::Regex(Regex::new(&re).map_err(|e| e.to_string())?)
        }
    })
}

/// Go's `filepath.Clean` on a `/`-separated path.
pub fn clean(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ignore(text: &str) -> DockerIgnore {
        DockerIgnore::parse(text).unwrap()
    }

    #[test]
    fn clean_is_go_filepath_clean() {
        for (input, want) in [
            ("", "."),
            (".", "."),
            ("./a", "a"),
            ("a//b/", "a/b"),
            ("a/../b", "b"),
            ("../a", "../a"),
            ("/../a", "/a"),
            ("/", "/"),
            ("a/..", "."),
            ("!a/../b", "b"),
        ] {
            assert_eq!(clean(input), want, "{input:?}");
        }
    }

    /// The example of Docker's documentation ("Dockerfile reference: .dockerignore file").
    #[test]
    fn docker_documentation_example() {
        let di = ignore("# comment\n*/temp*\n*/*/temp*\ntemp?\n");
        assert!(di.excludes("somedir/temporary.txt"));
        assert!(di.excludes("somedir/temp"));
        assert!(di.excludes("somedir/subdir/temporary.txt"));
        assert!(di.excludes("tempa"));
        assert!(di.excludes("tempb"));
        assert!(!di.excludes("temp"));
        assert!(!di.excludes("temporary.txt"));
        assert!(!di.excludes("a/b/c/temp"));
        // `# comment` is not a pattern.
        assert!(!di.excludes("# comment"));
        assert_eq!(di.patterns.len(), 3);
    }

    #[test]
    fn double_star_matches_any_number_of_directories() {
        let di = ignore("**/*.go\n");
        assert!(di.excludes("main.go"));
        assert!(di.excludes("a/b/c/main.go"));
        assert!(!di.excludes("main.rs"));
        let di = ignore("a/**/b\n");
        assert!(di.excludes("a/b"));
        assert!(di.excludes("a/x/y/b"));
        assert!(!di.excludes("x/a/b"));
        let di = ignore("node_modules/**\n");
        assert!(di.excludes("node_modules/x/y"));
        assert!(!di.excludes("node_modulesx"));
    }

    /// Docker's documented exception example: `*.md`, `!README*.md`, `README-secret.md`.
    #[test]
    fn exceptions_and_last_match_wins() {
        let di = ignore("*.md\n!README*.md\nREADME-secret.md\n");
        assert!(di.excludes("CHANGES.md"));
        assert!(!di.excludes("README.md"));
        assert!(di.excludes("README-secret.md"));
        let di = ignore("*.md\nREADME-secret.md\n!README*.md\n");
        assert!(!di.excludes("README-secret.md"));
        assert!(di.has_exclusions());
    }

    #[test]
    fn a_matching_directory_excludes_its_content() {
        let di = ignore("build\n/vendor/\n./dist\n");
        assert!(di.excludes("build"));
        assert!(di.excludes("build/out/a.o"));
        assert!(di.excludes("vendor/x"));
        assert!(di.excludes("dist/app.js"));
        assert!(!di.excludes("src/build"));
        // Re-including a file inside an excluded directory works.
        let di = ignore("docs\n!docs/README.md\n");
        assert!(di.excludes("docs/guide.md"));
        assert!(!di.excludes("docs/README.md"));
    }

    #[test]
    fn globs_follow_filepath_match() {
        let di = ignore("file[0-9].txt\n*.log\nq?.c\nlit\\*\n[!a]x\n");
        assert!(di.excludes("file1.txt"));
        assert!(!di.excludes("filea.txt"));
        assert!(di.excludes("x.log"));
        assert!(!di.excludes("dir/x.log"));
        assert!(di.excludes("q1.c"));
        assert!(!di.excludes("q/.c"));
        assert!(di.excludes("lit*"));
        assert!(!di.excludes("litx"));
        // Regex metacharacters are literal.
        let di = ignore("a+b(c).txt\n$x{1}\n");
        assert!(di.excludes("a+b(c).txt"));
        assert!(!di.excludes("aab(c)xtxt"));
        assert!(di.excludes("$x{1}"));
    }

    #[test]
    fn the_context_root_is_never_excluded() {
        let di = ignore("*\n");
        assert!(!di.excludes("."));
        assert!(!di.excludes(""));
        assert!(di.excludes("anything"));
    }

    #[test]
    fn comments_blank_lines_bom_and_crlf() {
        let di = ignore("\u{feff}# c\r\n\r\n  a.txt  \r\n#b.txt\n ! c.txt\n");
        assert!(di.excludes("a.txt"));
        assert!(!di.excludes("b.txt"));
        assert!(!di.excludes("#b.txt"));
        assert!(di.has_exclusions());
    }

    #[test]
    fn bad_patterns_are_errors() {
        let e = DockerIgnore::parse("ok\n[a-\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(
            e.to_string(),
            "line 2: invalid pattern \"[a-\": syntax error in pattern"
        );
        assert!(DockerIgnore::parse("[]a]\n").is_err());
        assert!(DockerIgnore::parse("!\n").is_err());
        assert!(DockerIgnore::parse("a\\\n").is_err());
        assert!(DockerIgnore::parse("[^a]b\n[a-z]\n").is_ok());
    }

    #[test]
    fn copy_sources_as_buildkit_checks_them() {
        let di = ignore("*.md\nsecret\n");
        assert!(di.copy_source_ignored("README.md"));
        assert!(di.copy_source_ignored("./secret/key"));
        assert!(!di.copy_source_ignored("src"));
        assert!(!di.copy_source_ignored("."));
        assert!(ignore("*\n").copy_source_ignored("."));
        // With a `!` pattern BuildKit does not check at all.
        assert!(!ignore("*.md\n!README.md\n").copy_source_ignored("CHANGES.md"));
        assert!(!DockerIgnore::default().copy_source_ignored("x"));
    }
}
