//! Spans and source offsets of words joined across continuation lines.

use slipway_parser::{parse, Args};

#[test]
fn shell_words_map_back_across_continuations_and_comments() {
    let src = "FROM a\nRUN apt-get update \\\n    # refresh first\n    && apt-get install -y curl \\\n\n    && rm -rf /var/lib/apt/lists/*\n";
    let parsed = parse(src);
    let run = &parsed.file.instructions[1];
    let Args::Shell(w) = &run.args else {
        panic!("{:?}", run.args)
    };
    for needle in [
        "apt-get update",
        "&& apt-get install -y curl",
        "rm -rf /var/lib/apt/lists/*",
    ] {
        let at = w.text.find(needle).unwrap();
        let start = run.source_offset(w, at);
        let end = run.source_offset(w, at + needle.len() - 1) + 1;
        assert_eq!(&src[start..end], needle);
    }
}

#[test]
fn every_span_is_inside_the_text() {
    let src = "# escape=`\nFROM a AS b\nCOPY --from=b `\n  x y\nENV A=1 `\n  B=2\n";
    let parsed = parse(src);
    for inst in &parsed.file.instructions {
        assert!(inst.span.end <= src.len());
        for w in inst.args.words() {
            assert!(w.span.start <= w.span.end && w.span.end <= src.len());
        }
    }
    let Args::KeyValues(kvs) = &parsed.file.instructions[2].args else {
        panic!()
    };
    assert_eq!(&src[kvs[1].key.span.clone()], "B");
    assert_eq!(&src[kvs[1].value.span.clone()], "2");
}
