//! Byte offsets ↔ LSP positions (line, character) in the negotiated encoding,
//! and incremental edits. The analysis speaks byte offsets; this module is
//! the only place that counts UTF-16 (or UTF-32) code units.

/// How `Position::character` counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    Utf8,
    #[default]
    Utf16,
    Utf32,
}

/// A (line, character) position, both 0-based, character in the document's encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    pub line: u32,
    pub character: u32,
}

/// The start offset of every line of a text.
#[derive(Debug, Clone, Default)]
pub struct LineIndex {
    starts: Vec<usize>,
    len: usize,
}

impl LineIndex {
    pub fn new(text: &str) -> LineIndex {
        let mut starts = vec![0];
        starts.extend(memchr::memchr_iter(b'\n', text.as_bytes()).map(|i| i + 1));
        LineIndex {
            starts,
            len: text.len(),
        }
    }

    /// The index after bytes `span` of the text were replaced by `inserted`, without
    /// reading the rest of the text: line starts after the edit move, those inside it
    /// give way to the inserted text's.
    pub fn replace(&mut self, span: std::ops::Range<usize>, inserted: &str) {
        // A line starts inside the replaced bytes when the '\n' before it was one of them.
        let first = self.starts.partition_point(|&s| s <= span.start);
        let last = self.starts.partition_point(|&s| s <= span.end);
        let count = self.starts.len();
        self.starts.splice(
            first..last,
            memchr::memchr_iter(b'\n', inserted.as_bytes()).map(|i| span.start + i + 1),
        );
        let moved = first + (self.starts.len() + (last - first) - count);
        for s in &mut self.starts[moved..] {
            *s = *s - span.end + span.start + inserted.len();
        }
        self.len = self.len - span.len() + inserted.len();
    }

    pub fn line_count(&self) -> usize {
        self.starts.len()
    }

    /// The 0-based line holding byte `offset`.
    pub fn line_of(&self, offset: usize) -> usize {
        self.starts.partition_point(|&s| s <= offset).saturating_sub(1)
    }

    /// The byte range of line `line` without its line ending.
    pub fn line_range(&self, text: &str, line: usize) -> std::ops::Range<usize> {
        let start = self.starts.get(line).copied().unwrap_or(self.len);
        let mut end = self.starts.get(line + 1).map_or(self.len, |&s| s - 1);
        if end > start && text.as_bytes().get(end - 1) == Some(&b'\r') {
            end -= 1;
        }
        start..end.max(start)
    }

    pub fn line_start(&self, line: usize) -> usize {
        self.starts.get(line).copied().unwrap_or(self.len)
    }

    /// The position of byte `offset` (clamped to the text, moved back to a char boundary).
    pub fn position(&self, text: &str, offset: usize, enc: Encoding) -> Pos {
        let mut offset = offset.min(text.len());
        while !text.is_char_boundary(offset) {
            offset -= 1;
        }
        let line = self.line_of(offset);
        let start = self.starts[line];
        let prefix = &text[start..offset];
        Pos {
            line: line as u32,
            character: units(prefix, enc) as u32,
        }
    }

    /// The byte offset of a position; positions past a line's end clamp to its end,
    /// positions past the last line to the end of the text, positions inside a
    /// character (half a surrogate pair) to its start.
    pub fn offset(&self, text: &str, pos: Pos, enc: Encoding) -> usize {
        let line = pos.line as usize;
        if line >= self.starts.len() {
            return text.len();
        }
        let range = self.line_range(text, line);
        let mut left = pos.character as usize;
        for (i, c) in text[range.clone()].char_indices() {
            let w = char_units(c, enc);
            if left < w {
                return range.start + i;
            }
            left -= w;
        }
        range.end
    }
}

fn char_units(c: char, enc: Encoding) -> usize {
    match enc {
        Encoding::Utf8 => c.len_utf8(),
        Encoding::Utf16 => c.len_utf16(),
        Encoding::Utf32 => 1,
    }
}

/// The length of `s` in `enc` code units.
pub fn units(s: &str, enc: Encoding) -> usize {
    match enc {
        // One unit per byte, in every encoding (checking is much faster than counting).
        _ if s.is_ascii() => s.len(),
        Encoding::Utf8 => s.len(),
        Encoding::Utf16 => s.chars().map(char::len_utf16).sum(),
        Encoding::Utf32 => s.chars().count(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edited_indexes_equal_fresh_ones() {
        let mut text = String::from("FROM a\r\nRUN é 🚀\n\nX\n");
        let mut index = LineIndex::new(&text);
        let pieces = ["", "\n", "a", "\r\n", "é\nb\n", "\n\n\n", "🚀 x"];
        // A fixed pseudo-random walk of edits: every start, end and piece mixes.
        let mut seed = 7u64;
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) as usize % n
        };
        for _ in 0..2000 {
            let bounds: Vec<usize> = text.char_indices().map(|(i, _)| i).chain([text.len()]).collect();
            let (a, b) = (bounds[next(bounds.len())], bounds[next(bounds.len())]);
            let span = a.min(b)..a.max(b);
            let piece = pieces[next(pieces.len())];
            text.replace_range(span.clone(), piece);
            index.replace(span, piece);
            let fresh = LineIndex::new(&text);
            assert_eq!((&index.starts, index.len), (&fresh.starts, fresh.len), "{text:?}");
        }
    }

    #[test]
    fn positions_round_trip_in_every_encoding() {
        let text = "FROM é AS b\nRUN echo 🚀 ok\r\nLABEL x=\"ü\"\n";
        let index = LineIndex::new(text);
        for enc in [Encoding::Utf8, Encoding::Utf16, Encoding::Utf32] {
            for (offset, _) in text.char_indices() {
                if text[..offset].ends_with('\r') {
                    continue; // between \r and \n: no position of its own
                }
                let pos = index.position(text, offset, enc);
                assert_eq!(index.offset(text, pos, enc), offset, "{enc:?} {offset} {pos:?}");
            }
        }
        let rocket = text.find('🚀').unwrap();
        let after = rocket + '🚀'.len_utf8();
        assert_eq!(
            index.position(text, after, Encoding::Utf16),
            Pos { line: 1, character: 11 }
        );
        assert_eq!(
            index.position(text, after, Encoding::Utf8),
            Pos { line: 1, character: 13 }
        );
        assert_eq!(
            index.position(text, after, Encoding::Utf32),
            Pos { line: 1, character: 10 }
        );
        // Half a surrogate pair clamps to the character's start; past the end clamps to the line end.
        assert_eq!(
            index.offset(text, Pos { line: 1, character: 10 }, Encoding::Utf16),
            rocket
        );
        assert_eq!(
            index.offset(text, Pos { line: 1, character: 99 }, Encoding::Utf16),
            text.find("\r\n").unwrap()
        );
        assert_eq!(
            index.offset(text, Pos { line: 9, character: 0 }, Encoding::Utf16),
            text.len()
        );
    }
}
