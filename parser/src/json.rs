//! Exec-form arguments: a JSON array of strings, decoded the way Go's
//! `encoding/json` decodes it (BuildKit unmarshals with it), with a span on
//! every element.
//!
//! Iterative on purpose: adversarial input nests arrays a million deep, and a
//! recursive descent would overflow the stack.

use std::ops::Range;

/// Go's `encoding/json` refuses to nest deeper than this.
const MAX_DEPTH: usize = 10_000;

/// What a top-level `[ ... ]` turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum JsonArray {
    /// Valid JSON, every element a string: `(decoded, span within the input)`.
    Strings(Vec<(String, Range<usize>)>),
    /// Valid JSON, but the element at this span is not a string.
    NotStrings(Range<usize>),
    /// Not valid JSON; the offset where decoding failed and what was expected.
    Invalid(usize, &'static str),
}

/// Decodes `input`, which must start with `[`, as one JSON value with
/// nothing but JSON whitespace after it.
pub(crate) fn parse_array(input: &str) -> JsonArray {
    let b = input.as_bytes();
    let mut p = Cursor { b, i: 0 };
    let mut items = Vec::new();
    let mut first_non_string = None;
    // Top-level array, by hand so each element gets its span.
    if !p.eat(b'[') {
        return JsonArray::Invalid(0, "'['");
    }
    p.ws();
    if !p.eat(b']') {
        loop {
            p.ws();
            let start = p.i;
            if p.peek() == Some(b'"') {
                match p.string() {
                    Ok(s) => items.push((s, start..p.i)),
                    Err(e) => return e,
                }
            } else {
                if let Err(e) = p.skip_value() {
                    return e;
                }
                first_non_string.get_or_insert(start..p.i);
            }
            p.ws();
            if p.eat(b',') {
                continue;
            }
            if p.eat(b']') {
                break;
            }
            return JsonArray::Invalid(p.i, "',' or ']'");
        }
    }
    p.ws();
    if p.i != b.len() {
        return JsonArray::Invalid(p.i, "end of input after the array");
    }
    match first_non_string {
        Some(span) => JsonArray::NotStrings(span),
        None => JsonArray::Strings(items),
    }
}

struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.i += 1;
        }
    }

    fn invalid(&self, expected: &'static str) -> JsonArray {
        JsonArray::Invalid(self.i, expected)
    }

    /// A string literal at the cursor, decoded. Lone surrogates become U+FFFD, as in Go.
    fn string(&mut self) -> Result<String, JsonArray> {
        self.i += 1; // opening quote
        let mut out = String::new();
        let mut pending_high: Option<u16> = None;
        loop {
            let start = self.i;
            // Copy the run of plain bytes in one go.
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.i += 1;
            }
            if self.i > start {
                flush_surrogate(&mut out, &mut pending_high);
                // Input is a &str and the run stops only at ASCII bytes, so this is valid UTF-8.
                out.push_str(std::str::from_utf8(&self.b[start..self.i]).unwrap_or("\u{fffd}"));
            }
            match self.peek() {
                None => return Err(self.invalid("a closing '\"'")),
                Some(b'"') => {
                    self.i += 1;
                    flush_surrogate(&mut out, &mut pending_high);
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let Some(e) = self.peek() else {
                        return Err(self.invalid("an escape sequence"));
                    };
                    self.i += 1;
                    let simple = match e {
                        b'"' => Some('"'),
                        b'\\' => Some('\\'),
                        b'/' => Some('/'),
                        b'b' => Some('\u{8}'),
                        b'f' => Some('\u{c}'),
                        b'n' => Some('\n'),
                        b'r' => Some('\r'),
                        b't' => Some('\t'),
                        b'u' => None,
                        _ => {
                            self.i -= 1;
                            return Err(self.invalid("a valid escape (\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)"));
                        }
                    };
                    if let Some(c) = simple {
                        flush_surrogate(&mut out, &mut pending_high);
                        out.push(c);
                        continue;
                    }
                    let hex = self.b.get(self.i..self.i + 4).and_then(|h| std::str::from_utf8(h).ok());
                    let Some(unit) = hex
                        .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                        .and_then(|h| u16::from_str_radix(h, 16).ok())
                    else {
                        return Err(self.invalid("four hex digits after \\u"));
                    };
                    self.i += 4;
                    match unit {
                        0xD800..=0xDBFF => {
                            flush_surrogate(&mut out, &mut pending_high);
                            pending_high = Some(unit);
                        }
                        0xDC00..=0xDFFF => match pending_high.take() {
                            Some(high) => {
                                let c = 0x10000 + ((u32::from(high) - 0xD800) << 10) + (u32::from(unit) - 0xDC00);
                                out.push(char::from_u32(c).unwrap_or('\u{fffd}'));
                            }
                            None => out.push('\u{fffd}'),
                        },
                        _ => {
                            flush_surrogate(&mut out, &mut pending_high);
                            out.push(char::from_u32(u32::from(unit)).unwrap_or('\u{fffd}'));
                        }
                    }
                }
                Some(_) => return Err(self.invalid("no control characters inside a string")),
            }
        }
    }

    /// Skips any JSON value without recursion.
    fn skip_value(&mut self) -> Result<(), JsonArray> {
        // Stack of open containers: b'[' or b'{'.
        let mut stack: Vec<u8> = Vec::new();
        loop {
            self.ws();
            // A value.
            match self.peek() {
                Some(b'"') => {
                    self.string()?;
                }
                Some(c @ (b'[' | b'{')) => {
                    self.i += 1;
                    if stack.len() + 2 > MAX_DEPTH {
                        return Err(self.invalid("less deeply nested JSON"));
                    }
                    self.ws();
                    let close = if c == b'[' { b']' } else { b'}' };
                    if self.eat(close) {
                        // empty container: fall through to "after a value"
                    } else {
                        stack.push(c);
                        if c == b'{' {
                            self.object_key()?;
                        }
                        continue;
                    }
                }
                Some(b't') => self.literal(b"true")?,
                Some(b'f') => self.literal(b"false")?,
                Some(b'n') => self.literal(b"null")?,
                Some(b'-' | b'0'..=b'9') => self.number()?,
                _ => return Err(self.invalid("a JSON value")),
            }
            // After a value: close containers or move to the next element.
            loop {
                let Some(&top) = stack.last() else {
                    return Ok(());
                };
                self.ws();
                if self.eat(b',') {
                    if top == b'{' {
                        self.ws();
                        self.object_key()?;
                    }
                    break;
                }
                let close = if top == b'[' { b']' } else { b'}' };
                if self.eat(close) {
                    stack.pop();
                    continue;
                }
                return Err(self.invalid(if top == b'[' { "',' or ']'" } else { "',' or '}'" }));
            }
        }
    }

    fn object_key(&mut self) -> Result<(), JsonArray> {
        self.ws();
        if self.peek() != Some(b'"') {
            return Err(self.invalid("an object key string"));
        }
        self.string()?;
        self.ws();
        if !self.eat(b':') {
            return Err(self.invalid("':'"));
        }
        Ok(())
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), JsonArray> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            Err(self.invalid("true, false or null"))
        }
    }

    fn number(&mut self) -> Result<(), JsonArray> {
        self.eat(b'-');
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(self.invalid("a digit")),
        }
        if self.eat(b'.') {
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.invalid("a digit after '.'"));
            }
            self.digits();
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.invalid("a digit in the exponent"));
            }
            self.digits();
        }
        Ok(())
    }

    fn digits(&mut self) {
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
    }
}

fn flush_surrogate(out: &mut String, pending: &mut Option<u16>) {
    if pending.take().is_some() {
        out.push('\u{fffd}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(input: &str) -> Vec<String> {
        match parse_array(input) {
            JsonArray::Strings(items) => items.into_iter().map(|(s, _)| s).collect(),
            other => panic!("{input}: {other:?}"),
        }
    }

    #[test]
    fn decodes_strings_with_spans() {
        let JsonArray::Strings(items) = parse_array(r#"["a", "b c"]"#) else {
            panic!()
        };
        assert_eq!(items, vec![("a".to_string(), 1..4), ("b c".to_string(), 6..11)]);
        assert_eq!(strings("[]"), Vec::<String>::new());
        assert_eq!(strings("[ ]"), Vec::<String>::new());
        assert_eq!(strings(r#"["\u00e9\n\"\\\/"]"#), vec!["é\n\"\\/"]);
        assert_eq!(strings(r#"["\ud83d\ude80", "\ud83d"]"#), vec!["🚀", "\u{fffd}"]);
    }

    #[test]
    fn non_strings_are_reported_not_invalid() {
        assert_eq!(parse_array(r#"["a", 1]"#), JsonArray::NotStrings(6..7));
        assert_eq!(
            parse_array(r#"["a", ["b", {"c": [true, null, -1.5e3]}]]"#),
            JsonArray::NotStrings(6..40)
        );
    }

    #[test]
    fn invalid_json_is_invalid() {
        for bad in [
            r#"['a']"#,
            r#"["a""#,
            r#"["a",]"#,
            r#"["a"] b"#,
            "[\"a\tb\"]",
            r#"["\x"]"#,
            "[01]",
            "[1.]",
            "[tru]",
        ] {
            assert!(matches!(parse_array(bad), JsonArray::Invalid(..)), "{bad}");
        }
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let deep = format!("[{}{}]", "[".repeat(200_000), "]".repeat(200_000));
        assert!(matches!(parse_array(&deep), JsonArray::Invalid(..)));
        let ok = format!("[{}{}]", "[".repeat(5_000), "]".repeat(5_000));
        assert!(matches!(parse_array(&ok), JsonArray::NotStrings(..)));
    }
}
