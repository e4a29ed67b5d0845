//! `parse` never panics and every span it returns lies in the text, on char boundaries:
//! property tests over random token soups and random edits of real Dockerfiles.
//! The same invariants drive the longer-running fuzzer (`scripts/fuzz.sh`).

#[path = "support/mod.rs"]
mod support;

use proptest::prelude::*;
use slipway_parser::lint::Lint;
use slipway_parser::model::Model;
use support::{floor, sorted};

fn check(text: &str) -> Result<(), TestCaseError> {
    let parsed = slipway_parser::parse(text);
    support::check(text, &parsed, true).map_err(|e| TestCaseError::fail(format!("{e}\ninput: {text:?}")))
}

/// A piece of Dockerfile: a tricky token, an instruction name, a plain word or any character.
fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(support::TRICKY_TOKENS).prop_map(String::from),
        2 => prop::sample::select(support::NAMES).prop_map(|n| format!("{n} ")),
        2 => "[a-zA-Z0-9_./:=-]{1,8}",
        1 => any::<char>().prop_map(String::from),
    ]
}

#[derive(Debug, Clone)]
enum Edit {
    Insert(prop::sample::Index, String),
    Delete(prop::sample::Index, usize),
    Duplicate(prop::sample::Index, usize, prop::sample::Index),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        3 => (any::<prop::sample::Index>(), piece()).prop_map(|(i, s)| Edit::Insert(i, s)),
        2 => (any::<prop::sample::Index>(), 1usize..16).prop_map(|(i, n)| Edit::Delete(i, n)),
        1 => (any::<prop::sample::Index>(), 1usize..32, any::<prop::sample::Index>())
            .prop_map(|(i, n, j)| Edit::Duplicate(i, n, j)),
    ]
}

fn apply(mut text: String, edits: &[Edit]) -> String {
    for e in edits {
        let at = |i: &prop::sample::Index, t: &str| floor(t, i.index(t.len() + 1));
        match e {
            Edit::Insert(i, s) => {
                let p = at(i, &text);
                text.insert_str(p, s);
            }
            Edit::Delete(i, n) => {
                let p = at(i, &text);
                let q = floor(&text, p + n);
                text.replace_range(p..q, "");
            }
            Edit::Duplicate(i, n, j) => {
                let p = at(i, &text);
                let q = floor(&text, p + n);
                let chunk = text[p..q].to_string();
                let r = at(j, &text);
                text.insert_str(r, &chunk);
            }
        }
    }
    text
}

/// One edit as an editor sends it: the old byte range replaced and the new text.
fn replacement(text: &str, e: &Edit) -> (std::ops::Range<usize>, String) {
    let at = |i: &prop::sample::Index| floor(text, i.index(text.len() + 1));
    match e {
        Edit::Insert(i, s) => (at(i)..at(i), s.clone()),
        Edit::Delete(i, n) => {
            let p = at(i);
            (p..floor(text, p + n), String::new())
        }
        Edit::Duplicate(i, n, j) => {
            let p = at(i);
            let chunk = text[p..floor(text, p + n)].to_string();
            (at(j)..at(j), chunk)
        }
    }
}

/// The parts of a model an analysis produces, comparable.
fn model_parts(m: &Model) -> String {
    format!(
        "{:#?}\n{:#?}\n{:?}\n{:?}\n{:#?}",
        m.stages, m.vars, m.stage_of, m.commands, m.diagnostics
    )
}

/// The first differing line of two texts, with a few lines before it.
fn first_difference(got: &str, want: &str) -> String {
    let (g, w): (Vec<&str>, Vec<&str>) = (got.lines().collect(), want.lines().collect());
    let at = g
        .iter()
        .zip(&w)
        .position(|(a, b)| a != b)
        .unwrap_or(g.len().min(w.len()));
    let from = at.saturating_sub(12);
    format!(
        "...\n{}\n- incremental: {:?}\n+ whole:       {:?}",
        w[from..at].join("\n"),
        g.get(at),
        w.get(at)
    )
}

/// `reparse` after each of a sequence of edits gives exactly what `parse` gives, and
/// the incremental model and checks after it exactly what a whole analysis gives.
fn check_reparse(mut text: String, edits: &[Edit]) -> Result<(), TestCaseError> {
    let options = slipway_parser::CheckOptions::default();
    let mut parsed = slipway_parser::parse(&text);
    let mut model = slipway_parser::model::analyze(&text, &parsed.file, &options);
    let mut lint = Lint::new(&text, &parsed.file, &model, &options);
    for e in edits {
        let (range, new) = replacement(&text, e);
        let old_text = text.clone();
        text.replace_range(range.clone(), &new);
        let (again, change) = slipway_parser::reparse_with_change(&text, &old_text, parsed, range, new.len());
        let full = slipway_parser::parse(&text);
        let whole = slipway_parser::model::analyze(&text, &full.file, &options);
        model = match &change {
            Some(c) => slipway_parser::model::reanalyze(&text, &again.file, &options, model, c),
            None => slipway_parser::model::analyze(&text, &again.file, &options),
        };
        lint = match &change {
            Some(c) => lint.after(&text, &again.file, &model, &options, c),
            None => Lint::new(&text, &again.file, &model, &options),
        };
        let whole_lint = Lint::new(&text, &full.file, &whole, &options);
        let (got, want) = (
            format!("{}\n{:#?}", model_parts(&model), lint.diagnostics),
            format!("{}\n{:#?}", model_parts(&whole), whole_lint.diagnostics),
        );
        prop_assert!(
            got == want,
            "model after edit {:?} ({:?}) differs from a whole analysis:\n{}\ntext: {:?}",
            e,
            change,
            first_difference(&got, &want),
            text
        );
        prop_assert_eq!(&again.file, &full.file, "tree after edit {:?}\ntext: {:?}", e, text);
        prop_assert_eq!(
            sorted(again.diagnostics.clone()),
            sorted(full.diagnostics.clone()),
            "diagnostics after edit {:?}\ntext: {:?}",
            e,
            text
        );
        parsed = again;
    }
    Ok(())
}

/// An edit inside one stage re-analyses that stage and the stages built on it whose
/// start changed, and moves the others over.
#[test]
fn an_edit_inside_a_stage_moves_the_other_stages_over() {
    let options = slipway_parser::CheckOptions::default();
    let text = support::chained(8);
    let parsed = slipway_parser::parse(&text);
    let model = slipway_parser::model::analyze(&text, &parsed.file, &options);
    assert!(
        model.moved_stages().iter().all(|m| !m),
        "a whole analysis moves nothing"
    );
    let edit = |old: &str, new: &str| {
        let at = text.find(old).expect("the chained file has it");
        let mut edited = text.clone();
        edited.replace_range(at..at + old.len(), new);
        let parsed = slipway_parser::parse(&text);
        let model = slipway_parser::model::analyze(&text, &parsed.file, &options);
        let lint = Lint::new(&text, &parsed.file, &model, &options);
        let (again, change) =
            slipway_parser::reparse_with_change(&edited, &text, parsed, at..at + old.len(), new.len());
        let change = change.expect("an edit inside a stage re-parses in part");
        let model = slipway_parser::model::reanalyze(&edited, &again.file, &options, model, &change);
        let lint = lint.after(&edited, &again.file, &model, &options, &change);
        let redone = |moved: &[bool]| -> Vec<usize> { (0..moved.len()).filter(|&k| !moved[k]).collect() };
        // The checks redo what the model redid (here no stage's checks start differently).
        assert_eq!(
            redone(model.moved_stages()),
            redone(lint.moved_stages()),
            "after replacing {old:?}"
        );
        redone(model.moved_stages())
    };
    // A command of stage 4 (no stage is built on s4): only it.
    assert_eq!(edit("curl$P4", "wget$P4"), vec![4]);
    // stage 2's environment: stage 2 and the stages built on it (s4, s5 on s2; s1 is not).
    assert_eq!(edit("HOME=/h2", "HOME=/x2"), vec![2, 4, 5]);
    // A blank line after stage 2's FROM: only stage 2, although every later stage moved.
    assert_eq!(edit("AS s2\n", "AS s2\n\n"), vec![2]);
    // At the start of that FROM line: stage 1 too, whose `COPY --from=s2` error points at
    // the FROM keyword (a finding that touches the edit is not moved but found again).
    assert_eq!(edit("FROM s1 AS s2", "\nFROM s1 AS s2"), vec![1, 2]);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn reparse_of_edited_seeds_equals_parse(
        seed in prop::sample::select(support::SEEDS),
        edits in prop::collection::vec(edit(), 1..12),
    ) {
        check_reparse(seed.to_string(), &edits)?;
    }

    #[test]
    fn reparse_of_edited_realistic_file_equals_parse(edits in prop::collection::vec(edit(), 1..12)) {
        check_reparse(support::realistic(300), &edits)?;
    }

    #[test]
    fn reparse_of_edited_chained_stages_equals_parse(edits in prop::collection::vec(edit(), 1..16)) {
        check_reparse(support::chained(8), &edits)?;
    }

    #[test]
    fn token_soup_parses_with_valid_spans(pieces in prop::collection::vec(piece(), 0..48)) {
        check(&pieces.concat())?;
    }

    #[test]
    fn arbitrary_strings_parse_with_valid_spans(text in any::<String>()) {
        check(&text)?;
    }

    #[test]
    fn edited_seeds_parse_with_valid_spans(
        seed in prop::sample::select(support::SEEDS),
        edits in prop::collection::vec(edit(), 1..8),
    ) {
        check(&apply(seed.to_string(), &edits))?;
    }

    #[test]
    fn edited_realistic_file_parses_with_valid_spans(edits in prop::collection::vec(edit(), 1..8)) {
        check(&apply(support::realistic(2000), &edits))?;
    }
}

#[test]
fn seeds_parse_with_valid_spans() {
    for seed in support::SEEDS {
        let parsed = slipway_parser::parse(seed);
        if let Err(e) = support::check(seed, &parsed, true) {
            panic!("{e}\ninput: {seed:?}");
        }
    }
}

#[test]
fn pathological_shapes_parse_with_valid_spans() {
    // Small versions of the fuzzer's scaling inputs (its timing check runs in release).
    for (name, shape) in support::SHAPES {
        let text = shape(4096);
        let parsed = slipway_parser::parse(&text);
        if let Err(e) = support::check(&text, &parsed, true) {
            panic!("{name}: {e}");
        }
    }
}
