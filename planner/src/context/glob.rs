//! Paths and globs as BuildKit treats COPY/ADD sources: Go's `path.Match`,
//! `filepath.Clean` rooted at the context, wildcard detection and splitting,
//! and the order BuildKit's content hash walks paths in.

use std::cmp::Ordering;

/// Orders paths component by component (`a`, `a/b`, `a.txt`): the order of
/// BuildKit's content-hash tree (`/` as `\0`), in which a directory is
/// followed directly by everything under it.
pub(crate) fn cmp_paths(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let n = a.len().min(b.len());
    let key = |c: u8| if c == b'/' { 0 } else { c };
    match a[..n].iter().zip(&b[..n]).position(|(x, y)| x != y) {
        Some(i) => key(a[i]).cmp(&key(b[i])),
        None => a.len().cmp(&b.len()),
    }
}

/// `system.NormalizePath("/", src)` then context-relative: cleaned, `..`
/// clamped at the context root, no leading `/`; `""` is the root itself.
pub(crate) fn normalize(src: &str) -> String {
    let cleaned = crate::dockerignore::clean(&format!("/{src}"));
    cleaned.trim_start_matches('/').to_string()
}

/// BuildKit's `containsWildcards`: `*`, `?` or `[` not escaped by `\`.
pub(crate) fn contains_wildcards(name: &str) -> bool {
    let b = name.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'*' | b'?' | b'[' => return true,
            b'\\' => i += 1,
            _ => {}
        }
        i += 1;
    }
    false
}

/// Splits a normalized path before its first component with a wildcard.
pub(crate) fn split_wildcards(p: &str) -> (String, String) {
    let parts: Vec<&str> = p.split('/').collect();
    let at = parts.iter().position(|c| contains_wildcards(c)).unwrap_or(parts.len());
    (parts[..at].join("/"), parts[at..].join("/"))
}

/// A pattern that is no valid `path.Match` pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadPattern;

/// Go's `path.Match`: `*` and `?` never match `/`, `[...]` classes with `^`
/// negation and ranges, `\` escapes.
pub fn go_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let (mut pattern, mut name) = (pattern.as_bytes(), name.as_bytes());
    'pattern: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            // A trailing `*` matches the rest unless it has a `/`.
            return Ok(!name.contains(&b'/'));
        }
        let (t, ok) = match_chunk(chunk, name)?;
        if ok && (t.is_empty() || !pattern.is_empty()) {
            name = t;
            continue;
        }
        if star {
            // Look for a match skipping i+1 bytes; `*` cannot skip `/`.
            let mut i = 0;
            while i < name.len() && name[i] != b'/' {
                let (t, ok) = match_chunk(chunk, &name[i + 1..])?;
                if ok {
                    // The last chunk must exhaust the name.
                    if pattern.is_empty() && !t.is_empty() {
                        i += 1;
                        continue;
                    }
                    name = t;
                    continue 'pattern;
                }
                i += 1;
            }
        }
        // Before answering no, check the rest of the pattern is well-formed.
        while !pattern.is_empty() {
            let (_, chunk, rest) = scan_chunk(pattern);
            pattern = rest;
            match_chunk(chunk, b"")?;
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

fn scan_chunk(mut pattern: &[u8]) -> (bool, &[u8], &[u8]) {
    let mut star = false;
    while pattern.first() == Some(&b'*') {
        pattern = &pattern[1..];
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'\\' if i + 1 < pattern.len() => i += 1,
            b'[' => in_range = true,
            b']' => in_range = false,
            b'*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &pattern[..i], &pattern[i..])
}

/// Go's `utf8.DecodeRune`: the rune and its length (U+FFFD, 1 when invalid).
fn decode(b: &[u8]) -> (char, usize) {
    let n = match b.first() {
        None => return ('\u{FFFD}', 0),
        Some(0..=0x7f) => 1,
        Some(0xc0..=0xdf) => 2,
        Some(0xe0..=0xef) => 3,
        Some(0xf0..=0xf7) => 4,
        Some(_) => 1,
    };
    match b.get(..n).map(std::str::from_utf8) {
        Some(Ok(s)) => (s.chars().next().unwrap_or('\u{FFFD}'), n),
        _ => ('\u{FFFD}', 1),
    }
}

fn match_chunk<'a>(mut chunk: &[u8], mut s: &'a [u8]) -> Result<(&'a [u8], bool), BadPattern> {
    // After a failure, go on only to check that the chunk is well-formed.
    let mut failed = false;
    while let Some(&c) = chunk.first() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match c {
            b'[' => {
                let mut r = '\0';
                if !failed {
                    let (rune, n) = decode(s);
                    r = rune;
                    s = &s[n..];
                }
                chunk = &chunk[1..];
                let negated = chunk.first() == Some(&b'^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut ranges = 0;
                loop {
                    if chunk.first() == Some(&b']') && ranges > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = get_esc(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if chunk[0] == b'-' {
                        let (h, rest) = get_esc(&chunk[1..])?;
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    ranges += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            b'?' => {
                if !failed {
                    if s[0] == b'/' {
                        failed = true;
                    }
                    let (_, n) = decode(s);
                    s = &s[n..];
                }
                chunk = &chunk[1..];
            }
            _ => {
                if c == b'\\' {
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return Err(BadPattern);
                    }
                }
                if !failed {
                    if chunk[0] != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    Ok(if failed { (&[], false) } else { (s, true) })
}

fn get_esc(mut chunk: &[u8]) -> Result<(char, &[u8]), BadPattern> {
    if chunk.is_empty() || chunk[0] == b'-' || chunk[0] == b']' {
        return Err(BadPattern);
    }
    if chunk[0] == b'\\' {
        chunk = &chunk[1..];
        if chunk.is_empty() {
            return Err(BadPattern);
        }
    }
    let (r, n) = decode(chunk);
    if r == '\u{FFFD}' && n == 1 {
        return Err(BadPattern);
    }
    let rest = &chunk[n..];
    if rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cases from Go's `path/match_test.go`.
    #[test]
    fn go_path_match_table() {
        let ok = |p: &str, s: &str, want: bool| assert_eq!(go_match(p, s), Ok(want), "{p:?} {s:?}");
        let bad = |p: &str, s: &str| assert_eq!(go_match(p, s), Err(BadPattern), "{p:?} {s:?}");
        ok("abc", "abc", true);
        ok("*", "abc", true);
        ok("*c", "abc", true);
        ok("a*", "a", true);
        ok("a*", "abc", true);
        ok("a*", "ab/c", false);
        ok("a*/b", "abc/b", true);
        ok("a*/b", "a/c/b", false);
        ok("a*b*c*d*e*/f", "axbxcxdxe/f", true);
        ok("a*b*c*d*e*/f", "axbxcxdxexxx/f", true);
        ok("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false);
        ok("a*b*c*d*e*/f", "axbxcxdxexxx/fff", false);
        ok("a*b?c*x", "abxbbxdbxebxczzx", true);
        ok("a*b?c*x", "abxbbxdbxebxczzy", false);
        ok("ab[c]", "abc", true);
        ok("ab[b-d]", "abc", true);
        ok("ab[e-g]", "abc", false);
        ok("ab[^c]", "abc", false);
        ok("ab[^b-d]", "abc", false);
        ok("ab[^e-g]", "abc", true);
        ok("a\\*b", "a*b", true);
        ok("a\\*b", "ab", false);
        ok("a?b", "a☺b", true);
        ok("a[^a]b", "a☺b", true);
        ok("a???b", "a☺b", false);
        ok("a[^a][^a][^a]b", "a☺b", false);
        ok("[a-ζ]*", "α", true);
        ok("*[a-ζ]", "A", false);
        ok("a?b", "a/b", false);
        ok("a*b", "a/b", false);
        ok("[\\]a]", "]", true);
        ok("[\\-]", "-", true);
        ok("[x\\-]", "x", true);
        ok("[x\\-]", "-", true);
        ok("[x\\-]", "z", false);
        ok("[\\-x]", "x", true);
        ok("[\\-x]", "-", true);
        ok("[\\-x]", "a", false);
        bad("[]a]", "]");
        bad("[-]", "-");
        bad("[x-]", "x");
        bad("[x-]", "-");
        bad("[x-]", "z");
        bad("[-x]", "x");
        bad("[-x]", "-");
        bad("[-x]", "a");
        bad("\\", "a");
        bad("[a-b-c]", "a");
        bad("[", "a");
        bad("[^", "a");
        bad("[^bc", "a");
        bad("a[", "a");
        bad("a[", "ab");
        bad("a[", "x");
        bad("a/b[", "x");
        ok("*x", "xxx", true);
    }

    #[test]
    fn paths_sort_component_by_component() {
        let mut v = vec!["a.txt", "a/b", "a", "a/b/c", "a-b", "b", "a/a"];
        v.sort_by(|x, y| cmp_paths(x, y));
        assert_eq!(v, ["a", "a/a", "a/b", "a/b/c", "a-b", "a.txt", "b"]);
    }

    #[test]
    fn normalize_clamps_at_the_root() {
        assert_eq!(normalize("./a/b/"), "a/b");
        assert_eq!(normalize("/a/../../b"), "b");
        assert_eq!(normalize("../x"), "x");
        assert_eq!(normalize("."), "");
        assert_eq!(normalize("/"), "");
        assert_eq!(split_wildcards("a/b/*.go/c"), ("a/b".into(), "*.go/c".into()));
        assert_eq!(split_wildcards("*"), ("".into(), "*".into()));
        assert!(!contains_wildcards("a\\*b"));
        assert!(contains_wildcards("a[0]"));
    }
}
