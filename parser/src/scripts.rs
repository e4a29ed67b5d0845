//! The shell scripts of RUN instructions, with an exact map back to the Dockerfile.
//!
//! Each [`Script`] is the text a build hands to the shell, built the way
//! BuildKit's `dispatchRun` builds it:
//!
//! - shell form without heredocs: the joined command (continuations joined,
//!   comment lines inside them dropped), run as `SHELL + [script]`;
//! - a lone heredoc (`RUN <<EOF`): the body (tabs stripped for `<<-`), run by
//!   its shebang's interpreter when it starts with `#!`, else by SHELL;
//! - anything else with heredocs (`RUN cat <<EOF >/f`): the command line with
//!   each body and delimiter appended after a newline, run by SHELL.
//!
//! Scripts for shells a shell linter cannot read (PowerShell, cmd, zsh, a
//! Python shebang, …) and exec-form RUNs are left out. So are Windows stages,
//! whose default SHELL is `cmd /S /C` (the OS is known only from hints: see
//! `is_windows`). The crate's own rules also see the cmd and PowerShell
//! scripts (dialect `cmd` / `powershell`), to count their commands.
//!
//! hadolint's `# hadolint shell=NAME` pragma (also `# slipway shell=NAME`) names
//! the shell RUN uses where the Dockerfile does not say: before the first FROM
//! for every stage not built on another, inside a stage for the RUNs below it
//! (and stages built on it), until a SHELL instruction or another pragma.
//! `shell=powershell` (or `pwsh`, `cmd`) turns off the POSIX-shell rules and
//! shellcheck for those RUNs, as hadolint does.
//!
//! The map sends every byte of a script to its byte in the Dockerfile; the
//! few bytes BuildKit synthesises (the newline before a reassembled heredoc)
//! map next to where they belong. Pure data: running a linter is the
//! planner's job.

use crate::model::{Base, Model, VarKind};
use crate::syntax::{Args, Dockerfile, Heredoc, Instruction, Keyword, Span, Word};
use std::collections::BTreeSet;

/// BuildKit's default `SHELL` on Linux and on Windows.
const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];
const WINDOWS_SHELL: [&str; 3] = ["cmd", "/S", "/C"];

/// A shell script run by a RUN instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    /// Index of the RUN (or of the ONBUILD wrapping it) in `Dockerfile::instructions`.
    pub instruction: usize,
    /// The script as the shell receives it.
    pub text: String,
    /// The command line running it: the SHELL in scope, or a heredoc's shebang words.
    pub shell: Vec<String>,
    /// The dialect to read it in: `sh`, `bash`, `dash` or `ksh` (inside this
    /// crate also `cmd` or `powershell`, which [`scripts`] leaves out).
    pub dialect: &'static str,
    /// ARG and ENV names in scope at the instruction (ENV only for ONBUILD,
    /// whose ARGs do not reach the downstream build), sorted.
    pub declared: Vec<String>,
    /// `(script offset, source offset)` at the start of each contiguous piece.
    map: Vec<(usize, usize)>,
}

impl Script {
    /// The source offset of byte `offset` of the script (the byte it came from;
    /// the start of the following piece at a piece boundary).
    pub fn source_offset(&self, offset: usize) -> usize {
        let i = self.map.partition_point(|&(l, _)| l <= offset).saturating_sub(1);
        self.map.get(i).map_or(offset, |&(l, s)| s + (offset - l))
    }

    /// The source offset just after the script byte before `offset`: where a
    /// range ending at `offset` ends (so an end at a joined continuation stays
    /// on the line before it).
    pub fn source_end(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        match self.text[..offset].chars().next_back() {
            Some(c) => self.source_offset(offset - c.len_utf8()) + c.len_utf8(),
            None => self.source_offset(0),
        }
    }

    /// The source span of a range of the script.
    pub fn source_span(&self, range: Span) -> Span {
        let start = self.source_offset(range.start);
        if range.end <= range.start {
            return start..start;
        }
        start..self.source_end(range.end).max(start)
    }

    /// The script offset of a 1-based `line` and 1-based `column` counted in
    /// characters (a tab is one column, as in shellcheck's `json1` format).
    /// Past the end of a line is its end; past the last line is the end of the text.
    pub fn line_col_to_offset(&self, line: usize, column: usize) -> usize {
        let mut start = 0;
        for _ in 1..line {
            match self.text[start..].find('\n') {
                Some(i) => start += i + 1,
                None => return self.text.len(),
            }
        }
        let end = self.text[start..].find('\n').map_or(self.text.len(), |i| start + i);
        self.text[start..end]
            .char_indices()
            .nth(column.saturating_sub(1))
            .map_or(end, |(i, _)| start + i)
    }

    /// The number of lines of the script (a final newline does not start another).
    pub fn line_count(&self) -> usize {
        let newlines = self.text.matches('\n').count();
        newlines + usize::from(!self.text.is_empty() && !self.text.ends_with('\n'))
    }
}

/// Every RUN script of the file (ONBUILD RUN included), in instruction order.
pub fn scripts(text: &str, file: &Dockerfile, model: &Model) -> Vec<Script> {
    // The SHELL each stage ends with (a stage built on another starts with it), and its OS.
    let mut final_shell: Vec<(Vec<String>, bool)> = Vec::with_capacity(model.stages.len());
    let mut out = Vec::new();
    // Each stage's variables, so a RUN looks at its stages' definitions, not at every one.
    let mut by_stage: Vec<Vec<usize>> = vec![Vec::new(); model.stages.len()];
    for (i, v) in model.vars.iter().enumerate() {
        if let Some(list) = v.stage.and_then(|s| by_stage.get_mut(s)) {
            list.push(i);
        }
    }
    let declared_at = |stage: usize, at: usize, env_only: bool| declared(model, &by_stage, stage, at, env_only);
    for stage in &model.stages {
        let base = match stage.base {
            Base::Stage(p) => final_shell.get(p),
            _ => None,
        };
        let start = start_shell(file, stage, base);
        let end = stage_scripts(
            text,
            file,
            stage,
            start,
            |i, env_only| declared_at(stage.index, i, env_only),
            &mut out,
        );
        final_shell.push(end);
    }
    out.retain(|s| !matches!(s.dialect, "cmd" | "powershell"));
    out
}

/// The shell a `# hadolint shell=NAME` (or `# slipway shell=NAME`) comment names, read
/// as hadolint reads it: the word after `shell =`, then an optional `# comment`.
pub(crate) fn shell_pragma(comment: &str) -> Option<&str> {
    let rest = comment.trim_start_matches([' ', '\t']);
    let rest = rest.strip_prefix("hadolint").or_else(|| rest.strip_prefix("slipway"))?;
    let trimmed = rest.trim_start_matches([' ', '\t']);
    if trimmed.len() == rest.len() {
        return None;
    }
    let rest = trimmed.strip_prefix("shell")?.trim_start_matches([' ', '\t']);
    let rest = rest.strip_prefix('=')?.trim_start_matches([' ', '\t']);
    let end = rest.find([' ', '\t', '\n']).unwrap_or(rest.len());
    let (name, after) = rest.split_at(end);
    let after = after.trim_start_matches([' ', '\t']);
    (!name.is_empty() && (after.is_empty() || after.starts_with('#'))).then_some(name)
}

/// The SHELL a shell pragma stands for.
fn pragma_shell(name: &str) -> Vec<String> {
    vec![name.to_string(), "-c".to_string()]
}

/// The shell pragmas in comments that start in `range` of the source and lie between
/// instructions (not in a continuation), in order.
fn pragmas_in(file: &Dockerfile, range: Span) -> impl Iterator<Item = (usize, &str)> + '_ {
    let first = file.comments.partition_point(|c| c.span.start < range.start);
    file.comments[first..]
        .iter()
        .take_while(move |c| c.span.start < range.end)
        .filter_map(|c| Some((c.span.start, shell_pragma(&c.text)?)))
        .filter(|&(at, _)| {
            let i = file.instructions.partition_point(|inst| inst.span.end <= at);
            file.instructions.get(i).is_none_or(|inst| inst.span.start > at)
        })
}

/// The SHELL a stage starts with, and whether it runs Windows: `base`, the SHELL its base
/// stage ends with when it is built on an earlier stage, or the image's default.
pub(crate) fn start_shell(
    file: &Dockerfile,
    stage: &crate::model::Stage,
    base: Option<&(Vec<String>, bool)>,
) -> (Vec<String>, bool) {
    let argv = |w: &[&str]| -> Vec<String> { w.iter().map(|s| s.to_string()).collect() };
    let windows = is_windows(file, stage);
    // A shell pragma before the first FROM names the shell of every base image.
    let first_from = file
        .instructions
        .iter()
        .find(|i| i.keyword == Some(Keyword::From))
        .map_or(usize::MAX, |i| i.span.start);
    let pragma = pragmas_in(file, 0..first_from)
        .last()
        .map(|(_, name)| pragma_shell(name));
    match (base, pragma) {
        (Some(shell), _) => shell.clone(),
        (None, Some(shell)) => (shell, windows),
        (None, None) if windows => (argv(&WINDOWS_SHELL), true),
        (None, None) => (argv(&DEFAULT_SHELL), false),
    }
}

/// The RUN scripts of one stage, started with `shell` (see [`start_shell`]); returns the
/// SHELL it ends with. `declared(instruction, env_only)`: the names in scope there.
pub(crate) fn stage_scripts(
    text: &str,
    file: &Dockerfile,
    stage: &crate::model::Stage,
    (mut shell, windows): (Vec<String>, bool),
    declared: impl Fn(usize, bool) -> Vec<String>,
    out: &mut Vec<Script>,
) -> (Vec<String>, bool) {
    // Shell pragmas from the FROM to the next stage's FROM apply in order.
    let from_end = file.instructions.get(stage.from).map_or(0, |f| f.span.end);
    let next = stage.instructions.last().map_or(stage.from + 1, |&i| i + 1);
    let stage_end = file.instructions.get(next).map_or(usize::MAX, |n| n.span.start);
    let mut pragmas = pragmas_in(file, from_end..stage_end).peekable();
    for &i in &stage.instructions {
        let Some(inst) = file.instructions.get(i) else { continue };
        while let Some((_, name)) = pragmas.next_if(|&(at, _)| at < inst.span.start) {
            shell = pragma_shell(name);
        }
        match (inst.keyword, &inst.args) {
            (Some(Keyword::Shell), Args::Json(words)) if !words.is_empty() => {
                shell = words.iter().map(|w| w.text.clone()).collect();
            }
            (Some(Keyword::Run), _) => {
                run_scripts(text, i, inst, (&shell, windows), declared(i, false), out);
            }
            (Some(Keyword::Onbuild), Args::Onbuild(inner)) if inner.keyword == Some(Keyword::Run) => {
                run_scripts(text, i, inner, (&shell, windows), declared(i, true), out);
            }
            _ => {}
        }
    }
    if let Some((_, name)) = pragmas.last() {
        shell = pragma_shell(name);
    }
    (shell, windows)
}

/// Whether a stage (not built on another stage) runs Windows, from hints: a
/// `windows/…` platform, a Windows base image (`mcr.microsoft.com/windows/…`,
/// a `nanoserver` or `servercore` name or tag), or a file written with the
/// backtick escape that Windows Dockerfiles use.
fn is_windows(file: &Dockerfile, stage: &crate::model::Stage) -> bool {
    let platform = stage.platform.as_deref().unwrap_or("").to_ascii_lowercase();
    let image = match &stage.base {
        Base::Image(r) => r.to_ascii_lowercase(),
        _ => String::new(),
    };
    file.escape == '`'
        || platform.starts_with("windows")
        || image.starts_with("mcr.microsoft.com/windows")
        || image.contains("nanoserver")
        || image.contains("servercore")
}

/// ARG/ENV names defined before instruction `at` in `stage` and in the stages it builds on.
fn declared(model: &Model, by_stage: &[Vec<usize>], stage: usize, at: usize, env_only: bool) -> Vec<String> {
    let mut names = BTreeSet::new();
    let (mut current, mut before) = (Some(stage), at);
    while let Some(k) = current {
        for v in by_stage.get(k).into_iter().flatten().map(|&i| &model.vars[i]) {
            let kind = v.kind == VarKind::Env || (!env_only && v.kind == VarKind::Arg);
            if kind && v.instruction < before {
                names.insert(v.name.clone());
            }
        }
        current = match model.stages.get(k).map(|s| &s.base) {
            Some(&Base::Stage(p)) if p < k => Some(p),
            _ => None,
        };
        before = usize::MAX;
    }
    names.into_iter().collect()
}

/// The scripts of one RUN (or ONBUILD's inner RUN) run by `shell`.
fn run_scripts(
    text: &str,
    index: usize,
    inst: &Instruction,
    (shell, windows): (&[String], bool),
    declared: Vec<String>,
    out: &mut Vec<Script>,
) {
    // Exec form runs no shell of ours.
    let Args::Shell(word) = &inst.args else { return };
    let (body, argv, map) = match inst.heredocs.as_slice() {
        [] => (word.text.clone(), shell.to_vec(), word_map(inst, word)),
        [doc] if lone_heredoc(&word.text) => {
            let (body, map) = chomped(doc);
            // BuildKit tests the raw body (`<<-` with a tab before `#!` runs in
            // SHELL) and ignores shebangs on Windows.
            let argv = match doc.content.strip_prefix("#!") {
                Some(rest) if !windows => rest
                    .lines()
                    .next()
                    .unwrap_or("")
                    .split_whitespace()
                    .map(str::to_string)
                    .collect(),
                _ => shell.to_vec(),
            };
            (body, argv, map)
        }
        docs => {
            let (body, map) = reassembled(text, inst, word, docs);
            (body, shell.to_vec(), map)
        }
    };
    if body.trim().is_empty() {
        return;
    }
    if let Some(dialect) = dialect(&argv) {
        out.push(Script {
            instruction: index,
            text: body,
            shell: argv,
            dialect,
            declared,
            map,
        });
    }
}

/// The shellcheck dialect of a command line running a script, if it is a POSIX-family shell.
fn dialect(argv: &[String]) -> Option<&'static str> {
    let base = |s: &str| {
        let name = s.rsplit(['/', '\\']).next().unwrap_or(s).to_ascii_lowercase();
        name.strip_suffix(".exe").map(str::to_string).unwrap_or(name)
    };
    let mut words = argv.iter().map(|s| base(s));
    let mut program = words.next()?;
    // `/usr/bin/env [-S] bash`, `busybox sh`: the shell is the next word.
    while program == "env" || program == "busybox" {
        program = words.find(|w| !w.starts_with('-') && !w.contains('='))?;
    }
    match program.as_str() {
        "sh" | "ash" => Some("sh"),
        "bash" => Some("bash"),
        "dash" => Some("dash"),
        "ksh" | "ksh93" | "mksh" | "pdksh" | "oksh" => Some("ksh"),
        "cmd" => Some("cmd"),
        "powershell" | "pwsh" => Some("powershell"),
        _ => None,
    }
}

/// Whether the command is one heredoc marker and nothing else (BuildKit's
/// `MustParseHeredoc(args[0])`: `^(\d*)<<(-?)([^<]*)$` with one word after it).
fn lone_heredoc(command: &str) -> bool {
    let rest = command.trim().trim_start_matches(|c: char| c.is_ascii_digit());
    let Some(rest) = rest.strip_prefix("<<") else {
        return false;
    };
    let rest = rest.strip_prefix('-').unwrap_or(rest);
    !rest.contains('<') && rest.split_whitespace().count() == 1
}

/// A shell-form command's map: breaks wherever consecutive characters are not
/// consecutive in the source (joined continuations, dropped comment lines).
fn word_map(inst: &Instruction, word: &Word) -> Vec<(usize, usize)> {
    let mut map = Vec::new();
    let mut expected = None;
    for (o, c) in word.text.char_indices() {
        let s = inst.source_offset(word, o);
        if expected != Some(s) {
            map.push((o, s));
        }
        expected = Some(s + c.len_utf8());
    }
    if map.is_empty() {
        map.push((0, word.span.start));
    }
    map
}

/// A heredoc body as the build sees it (`<<-` tabs stripped) and its map.
fn chomped(doc: &Heredoc) -> (String, Vec<(usize, usize)>) {
    let mut body = String::with_capacity(doc.content.len());
    let mut map = Vec::new();
    let mut at = doc.content_span.start;
    for line in doc.content.split_inclusive('\n') {
        let strip = if doc.chomp {
            line.len() - line.trim_start_matches('\t').len()
        } else {
            0
        };
        map.push((body.len(), at + strip));
        body.push_str(&line[strip..]);
        at += line.len();
    }
    if map.is_empty() {
        map.push((0, doc.content_span.start));
    }
    (body, map)
}

/// BuildKit's "more complex heredoc": `cmd + "\n" + body + name` for each heredoc.
fn reassembled(text: &str, inst: &Instruction, word: &Word, docs: &[Heredoc]) -> (String, Vec<(usize, usize)>) {
    let mut body = word.text.clone();
    let mut map = word_map(inst, word);
    let mut after = word.span.end;
    for doc in docs {
        map.push((body.len(), after));
        body.push('\n');
        map.push((body.len(), doc.content_span.start));
        body.push_str(&doc.content);
        // The delimiter ends the terminator line (after `<<-` tabs).
        let t = &doc.terminator_span;
        let name_at = match text.get(t.clone()) {
            Some(line) if line.ends_with(doc.name.as_str()) => t.end - doc.name.len(),
            _ => t.start,
        };
        map.push((body.len(), name_at));
        body.push_str(&doc.name);
        after = t.end;
    }
    (body, map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_pragmas_parse_like_hadolint() {
        assert_eq!(shell_pragma("hadolint shell=powershell"), Some("powershell"));
        assert_eq!(
            shell_pragma("  hadolint\tshell = /bin/bash  # the base image's"),
            Some("/bin/bash")
        );
        assert_eq!(shell_pragma("slipway shell=pwsh"), Some("pwsh"));
        for not in [
            "hadolint shell=",
            "hadolintshell=sh",
            "hadolint shell=a b",
            "hadolint ignore=DL3003",
            "shell=sh",
        ] {
            assert_eq!(shell_pragma(not), None, "{not}");
        }
    }

    fn scripts_of(text: &str) -> Vec<Script> {
        let parsed = crate::parse(text);
        let model = crate::model::analyze(text, &parsed.file, &crate::CheckOptions::default());
        scripts(text, &parsed.file, &model)
    }

    /// Every script character outside `synthetic` script ranges is the same character in the source.
    fn assert_exact(text: &str, script: &Script, synthetic: &[Span]) {
        for (o, c) in script.text.char_indices() {
            if synthetic.iter().any(|r| r.contains(&o)) {
                continue;
            }
            let s = script.source_offset(o);
            assert_eq!(
                text[s..].chars().next(),
                Some(c),
                "script byte {o} ({c:?}) maps to source byte {s} of {text:?}"
            );
            assert_eq!(script.source_end(o + c.len_utf8()), s + c.len_utf8());
        }
    }

    /// The source text under the span of the first occurrence of `needle` in the script.
    fn source_of<'a>(text: &'a str, script: &Script, needle: &str) -> &'a str {
        let at = script.text.find(needle).expect("needle in script");
        &text[script.source_span(at..at + needle.len())]
    }

    #[test]
    fn continuation_lines_and_comment_lines_map_exactly() {
        let text = "FROM alpine\nRUN echo a && \\\n# a comment\n    echo $VAR é && \\\n\n\techo \"$x\"\n";
        let s = &scripts_of(text)[0];
        assert_eq!(s.text, "echo a &&     echo $VAR é && \techo \"$x\"");
        assert_eq!((s.instruction, s.dialect), (1, "sh"));
        assert_eq!(s.shell, ["/bin/sh", "-c"]);
        assert_exact(text, s, &[]);
        assert_eq!(source_of(text, s, "$VAR"), "$VAR");
        // A range ending where a continuation was joined stays on its line.
        let end = s.text.find("&&     echo").unwrap() + 2;
        assert_eq!(&text[s.source_span(0..end)], "echo a &&");
    }

    #[test]
    fn lone_heredoc_is_its_body_and_tab_stripped_with_chomp() {
        let text = "FROM alpine\nRUN <<-EOF\n\techo $a\n\t\tif true; then\n\t\t\techo é\n\t\tfi\n\tEOF\nRUN <<EOF\n\techo $b\nEOF\n";
        let s = scripts_of(text);
        assert_eq!(s.len(), 2);
        assert_eq!(s[0].text, "echo $a\nif true; then\necho é\nfi\n");
        assert_exact(text, &s[0], &[]);
        assert_eq!(source_of(text, &s[0], "echo é"), "echo é");
        assert_eq!(s[1].text, "\techo $b\n");
        assert_exact(text, &s[1], &[]);
        assert_eq!(s[1].line_col_to_offset(1, 7), s[1].text.find("$b").unwrap());
    }

    #[test]
    fn heredoc_shebang_picks_the_interpreter() {
        let text = "FROM alpine\nSHELL [\"pwsh\", \"-c\"]\nRUN <<EOF\n#!/usr/bin/env bash\necho $a\nEOF\nRUN <<EOF\n#!/usr/bin/python3\nprint(1)\nEOF\nRUN <<EOF\necho $b\nEOF\n";
        let s = scripts_of(text);
        assert_eq!(s.len(), 1, "python and pwsh scripts are left out: {s:?}");
        assert_eq!((s[0].dialect, s[0].instruction), ("bash", 2));
        assert_eq!(s[0].shell, ["/usr/bin/env", "bash"]);
    }

    #[test]
    fn heredocs_after_a_command_are_reassembled_as_buildkit_does() {
        let text = "FROM alpine\nRUN cat <<EOF >/a && \\\n  cat <<-END >/b\nhello $x\nEOF\n\tworld\n\tEND\n";
        let s = &scripts_of(text)[0];
        assert_eq!(s.text, "cat <<EOF >/a &&   cat <<-END >/b\nhello $x\nEOF\n\tworld\nEND");
        // Only the newlines before each body are made up.
        let first = s.text.find('\n').unwrap();
        let second = s.text.find("EOF\n").unwrap() + 3;
        assert_exact(text, s, &[first..first + 1, second..second + 1]);
        assert_eq!(source_of(text, s, "$x"), "$x");
    }

    #[test]
    fn shell_follows_shell_instructions_and_stage_inheritance() {
        let text = "FROM alpine AS a\nRUN x\nSHELL [\"/bin/bash\", \"-eo\", \"pipefail\", \"-c\"]\nRUN y\n\
                    FROM a AS b\nRUN z\nSHELL [\"cmd\", \"/S\", \"/C\"]\nRUN skipped\n\
                    FROM alpine\nSHELL [\"/usr/bin/env\", \"-S\", \"ksh\", \"-c\"]\nRUN w\nONBUILD RUN v\nRUN [\"exec\", \"form\"]\n";
        let s = scripts_of(text);
        let got: Vec<(&str, &str)> = s.iter().map(|s| (s.text.as_str(), s.dialect)).collect();
        assert_eq!(
            got,
            [("x", "sh"), ("y", "bash"), ("z", "bash"), ("w", "ksh"), ("v", "ksh")]
        );
    }

    #[test]
    fn declared_names_are_the_args_and_envs_in_scope() {
        let text = "ARG META\nFROM alpine AS a\nARG one\nENV two=2\nRUN x\nARG later\n\
                    FROM a\nARG three\nRUN y\nONBUILD RUN z\nARG four\n";
        let s = scripts_of(text);
        assert_eq!(s[0].declared, ["one", "two"]);
        assert_eq!(s[1].declared, ["later", "one", "three", "two"]);
        assert_eq!(s[2].declared, ["two"], "ONBUILD sees only ENV");
        assert_eq!(s[2].instruction, 9);
    }

    #[test]
    fn line_and_column_count_characters_and_tabs_as_one() {
        let text = "FROM alpine\nRUN <<EOF\n\té\t$a\n🚀 $b\nEOF\n";
        let s = &scripts_of(text)[0];
        assert_eq!(s.line_col_to_offset(1, 4), s.text.find("$a").unwrap());
        assert_eq!(s.line_col_to_offset(2, 3), s.text.find("$b").unwrap());
        assert_eq!(s.line_col_to_offset(2, 99), s.text.len() - 1, "end of the line");
        assert_eq!(s.line_col_to_offset(9, 1), s.text.len(), "end of the text");
        assert_eq!(s.line_count(), 2);
    }

    #[test]
    fn onbuild_run_maps_across_continuations() {
        let text = "FROM alpine\nONBUILD RUN echo a \\\n# note\n  && echo $b\n";
        let s = &scripts_of(text)[0];
        assert_eq!(s.text, "echo a   && echo $b");
        assert_exact(text, s, &[]);
    }

    #[test]
    fn windows_stages_default_to_cmd() {
        let text = "FROM mcr.microsoft.com/windows/servercore:ltsc2022 AS w\nRUN dir\n\
                    FROM w\nRUN <<EOF\n#!/bin/sh\necho\nEOF\nSHELL [\"bash\", \"-c\"]\nRUN bash-on-windows\n\
                    FROM --platform=windows/amd64 alpine\nRUN x\nFROM dockcross/windows-static-x64\nRUN linux\n";
        let s = scripts_of(text);
        let got: Vec<&str> = s.iter().map(|s| s.text.as_str()).collect();
        assert_eq!(got, ["bash-on-windows", "linux"]);
        assert!(scripts_of("# escape=`\nFROM alpine\nRUN echo\n").is_empty());
    }

    #[test]
    fn empty_scripts_and_runs_outside_stages_yield_nothing() {
        assert!(scripts_of("RUN echo\nFROM alpine\nRUN <<EOF\nEOF\n").is_empty());
    }
}
