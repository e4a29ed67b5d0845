//! RUN scripts through the real `shellcheck`: findings at their exact
//! Dockerfile line and column. Every test skips with a note when shellcheck
//! is not installed (`apt-get install shellcheck`).

use slipway_parser::{model, CheckOptions, Diagnostic, Severity};
use slipway_planner::shellcheck::{self, Config, Input};
use std::path::PathBuf;
use std::time::{Duration, Instant};

fn config(jobs: usize) -> Option<Config> {
    let Some(config) = Config::detect() else {
        eprintln!("note: shellcheck is not installed; skipping");
        return None;
    };
    Some(Config { jobs, ..config })
}

/// shellcheck's findings on `text` (with `jobs` workers), or `None` without shellcheck.
fn check_with(text: &str, jobs: usize) -> Option<Vec<Diagnostic>> {
    Some(run(text, &config(jobs)?))
}

fn run(text: &str, config: &Config) -> Vec<Diagnostic> {
    analysed(text, |input| shellcheck::check_files(&[input], config).pop().unwrap())
}

/// `f` of `text` parsed and modelled.
fn analysed<R>(text: &str, f: impl FnOnce(Input<'_>) -> R) -> R {
    let parsed = slipway_parser::parse(text);
    let model = model::analyze(text, &parsed.file, &CheckOptions::default());
    f(Input {
        text,
        file: &parsed.file,
        model: &model,
    })
}

fn check(text: &str) -> Option<Vec<Diagnostic>> {
    check_with(text, 4)
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, text[start..offset].chars().count() + 1)
}

/// `line:col code source-text` for each finding, the shape the assertions read.
fn render(text: &str, diagnostics: &[Diagnostic]) -> Vec<String> {
    diagnostics
        .iter()
        .map(|d| {
            let (line, col) = line_col(text, d.span.start);
            format!("{line}:{col} {} {}", d.code, &text[d.span.clone()])
        })
        .collect()
}

fn codes(diagnostics: &[Diagnostic]) -> Vec<&'static str> {
    diagnostics.iter().map(|d| d.code).collect()
}

/// The text after applying every fix.
fn apply_fixes(text: &str, diagnostics: &[Diagnostic]) -> String {
    let mut edits: Vec<_> = diagnostics
        .iter()
        .flat_map(|d| &d.fixes)
        .flat_map(|f| &f.edits)
        .collect();
    edits.sort_by_key(|e| std::cmp::Reverse(e.span.start));
    let mut out = text.to_string();
    for e in edits {
        out.replace_range(e.span.clone(), &e.text);
    }
    out
}

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/fixtures/shellcheck")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn continuation_lines_and_a_comment_line_map_to_the_exact_column() {
    let text = "FROM alpine\n\
                RUN echo start && \\\n    echo $VAR && \\\n# a comment between\n\n    echo \"$VAR\" && echo é$VAR\n";
    let Some(found) = check(text) else { return };
    assert_eq!(
        render(text, &found),
        ["3:10 shellcheck::SC2086 $VAR", "6:26 shellcheck::SC2086 $VAR"]
    );
    let d = &found[0];
    assert_eq!(d.severity, Severity::Advice, "SC2086 is shellcheck's `info`");
    assert_eq!(d.message, "Double quote to prevent globbing and word splitting.");
    assert_eq!(d.help.as_deref(), Some("https://www.shellcheck.net/wiki/SC2086"));
    assert_eq!(
        apply_fixes(text, &found),
        text.replace("echo $VAR", "echo \"$VAR\"").replace("é$VAR", "é\"$VAR\"")
    );
}

#[test]
fn heredoc_body_findings_are_on_their_line() {
    let text =
        "FROM alpine\nRUN <<EOF\nset -e\necho $VAR\nEOF\nRUN cat <<EOF > /etc/motd && echo $two\nhello $three\nEOF\n";
    let Some(found) = check(text) else { return };
    // The second RUN's body is data for cat: only its command line is a script.
    assert_eq!(
        render(text, &found),
        [
            "4:6 shellcheck::SC2086 $VAR",
            "6:35 shellcheck::SC2086 $two",
            "6:35 shellcheck::SC2154 $two",
            "7:7 shellcheck::SC2154 $three",
        ]
    );
}

#[test]
fn tab_stripped_heredoc_counts_columns_in_the_source() {
    let text = "FROM alpine\nRUN <<-EOF\n\t\tset -e\n\t\tif true; then\n\t\t\techo $VAR\n\t\tfi\n\tEOF\n";
    let Some(found) = check(text) else { return };
    assert_eq!(render(text, &found), ["5:9 shellcheck::SC2086 $VAR"]);
    assert_eq!(apply_fixes(text, &found), text.replace("echo $VAR", "echo \"$VAR\""));
}

#[test]
fn args_and_envs_in_scope_are_declared() {
    let text = "FROM alpine AS base\nARG version\nENV home=/opt\n\
                RUN echo \"$version\" \"$home\" \"$undeclared\" \"$later\"\nARG later\n\
                FROM base\nRUN echo \"$version\" \"$later\"\n";
    let Some(found) = check(text) else { return };
    assert_eq!(
        render(text, &found),
        ["4:30 shellcheck::SC2154 $undeclared", "4:44 shellcheck::SC2154 $later"]
    );
    assert_eq!(found[0].message, "undeclared is referenced but not assigned.");
}

#[test]
fn bash_syntax_is_fine_under_a_bash_shell_only() {
    let run = "RUN [[ -n \"$HOME\" ]] && echo ok\n";
    let Some(sh) = check(&format!("FROM alpine\n{run}")) else {
        return;
    };
    assert_eq!(codes(&sh), ["shellcheck::SC3010"]);
    assert_eq!(sh[0].severity, Severity::Warning);
    let bash = check(&format!(
        "FROM alpine\nSHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\n{run}"
    ))
    .unwrap();
    assert_eq!(codes(&bash), [] as [&str; 0]);
}

#[test]
fn powershell_scripts_are_skipped() {
    let text = "FROM mcr.microsoft.com/powershell\nSHELL [\"pwsh\", \"-Command\"]\nRUN echo $VAR; [[ x ]]\n";
    let Some(found) = check(text) else { return };
    assert_eq!(codes(&found), [] as [&str; 0]);
}

#[test]
fn syntax_errors_are_errors_and_exec_form_is_not_a_script() {
    let text = "FROM alpine\nRUN if true; then echo\nRUN [\"echo\", \"$VAR\"]\n";
    let Some(found) = check(text) else { return };
    assert!(
        !found.is_empty() && found.iter().all(|d| d.code.starts_with("shellcheck::SC1")),
        "{found:?}"
    );
    assert!(found.iter().any(|d| d.severity == Severity::Error));
    assert!(found.iter().all(|d| (12..35).contains(&d.span.start)), "{found:?}");
}

#[test]
fn parallel_runs_give_the_same_sorted_findings() {
    let text = fixture("many-runs.Dockerfile");
    let Some(one) = check_with(&text, 1) else { return };
    let many = check_with(&text, 8).unwrap();
    assert_eq!(one, many);
    // One process per script finds the same as batches.
    let alone = Config {
        max_batch: 1,
        ..config(2).unwrap()
    };
    assert_eq!(one, run(&text, &alone));
    assert!(one.len() > 100, "{} findings", one.len());
    assert!(one
        .windows(2)
        .all(|w| (w[0].span.start, w[0].span.end) <= (w[1].span.start, w[1].span.end)));
    // Every RUN reports its own `$stepN`: nothing is lost or crossed between scripts.
    for i in 0..24 {
        let needle = format!("$step{i}");
        let at = text.find(&format!("{needle} ")).unwrap();
        assert!(found_at(&text, &one, at, &needle, "shellcheck::SC2154"), "{needle}");
    }
    // Several files in one call: one list per file, in order.
    let config = config(3).unwrap();
    let texts = [
        text.clone(),
        fixture("mixed.Dockerfile"),
        "FROM alpine\n".to_string(),
        text.clone(),
    ];
    let parsed: Vec<_> = texts.iter().map(|t| slipway_parser::parse(t)).collect();
    let models: Vec<_> = texts
        .iter()
        .zip(&parsed)
        .map(|(t, p)| model::analyze(t, &p.file, &CheckOptions::default()))
        .collect();
    let inputs: Vec<Input<'_>> = (0..texts.len())
        .map(|i| Input {
            text: &texts[i],
            file: &parsed[i].file,
            model: &models[i],
        })
        .collect();
    let all = shellcheck::check_files(&inputs, &config);
    assert_eq!(all.len(), 4);
    assert_eq!(all[0], one);
    assert_eq!(all[3], one);
    assert!(all[2].is_empty());
    assert_eq!(all[1], check(&texts[1]).unwrap());
}

fn found_at(text: &str, found: &[Diagnostic], at: usize, source: &str, code: &str) -> bool {
    found
        .iter()
        .any(|d| d.span.start == at && &text[d.span.clone()] == source && d.code == code)
}

#[test]
fn mixed_fixture_findings() {
    let text = fixture("mixed.Dockerfile");
    let Some(found) = check(&text) else { return };
    assert_eq!(
        render(&text, &found),
        [
            // `for f in $(ls ...)` across a comment line and a blank line.
            "8:14 shellcheck::SC2045 $(ls /etc/*.conf)",
            "10:14 shellcheck::SC2086 $f",
            "10:20 shellcheck::SC2086 $prefix",
            // `<<-` with a tab before `#!`: BuildKit runs the body with SHELL (sh), not bash.
            "15:5 shellcheck::SC3010 [[ -n $target ]]",
            "16:31 shellcheck::SC2086 $prefix",
            // The body after `cat <<EOF` is data; the command line is the script.
            "19:35 shellcheck::SC2086 $unset_var",
            "19:35 shellcheck::SC2154 $unset_var",
            // ONBUILD runs downstream: the stage's ARG is gone, its ENV stays.
            "24:18 shellcheck::SC2086 $target",
            "24:18 shellcheck::SC2154 $target",
            "24:26 shellcheck::SC2086 $prefix",
        ]
    );
}

#[cfg(unix)]
#[test]
fn a_hanging_or_failing_shellcheck_yields_nothing_in_bounded_time() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let text = fixture("many-runs.Dockerfile");
    let parsed = slipway_parser::parse(&text);
    let model = model::analyze(&text, &parsed.file, &CheckOptions::default());
    let input = Input {
        text: &text,
        file: &parsed.file,
        model: &model,
    };
    for (name, body) in [
        ("hang", "#!/bin/sh\nsleep 30\n"),
        ("fail", "#!/bin/sh\necho '{}'\nexit 3\n"),
    ] {
        let program = dir.path().join(name);
        std::fs::write(&program, body).unwrap();
        std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
        let config = Config {
            program,
            jobs: 8,
            timeout: Duration::from_millis(300),
            max_batch: 64,
        };
        let started = Instant::now();
        let found = shellcheck::check_files(&[input], &config);
        assert_eq!(found, [Vec::<Diagnostic>::new()], "{name}");
        // Batches time out, then each script alone: 45 scripts / 8 workers, 300 ms each.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{name}: {:?}",
            started.elapsed()
        );
    }
}

/// The document's previous check keeps shellcheck's findings per script: checking it
/// again runs shellcheck on no script, and after an edit of one RUN on that one only;
/// the findings are those of a whole check every time.
#[cfg(unix)]
#[test]
fn a_cached_check_runs_shellcheck_on_changed_scripts_only() {
    use std::os::unix::fs::PermissionsExt;
    let Some(real) = config(2) else { return };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    // A shellcheck that notes how many scripts each run was given, then runs the real one.
    let program = dir.path().join("shellcheck");
    std::fs::write(
        &program,
        format!(
            "#!/bin/sh\nn=0\nfor a; do case \"$a\" in *.sh) n=$((n+1));; esac; done\necho $n >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.program.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let config = Config { program, ..real };
    let scripts_checked = || -> usize {
        let n = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .map(|l| l.trim().parse::<usize>().unwrap())
            .sum();
        let _ = std::fs::remove_file(&log);
        n
    };
    let mut cache = shellcheck::Cache::default();
    let check = |text: &str, cache: &mut shellcheck::Cache| {
        let cached = analysed(text, |input| shellcheck::check_with(input, &config, cache));
        (cached, run(text, &config))
    };
    let text = fixture("many-runs.Dockerfile");
    let (cached, whole) = check(&text, &mut cache);
    assert_eq!(cached, whole);
    assert!(!whole.is_empty(), "the fixture has findings");
    let runs = text.matches("RUN ").count();
    // The cached check and the whole one each gave every script to shellcheck.
    assert_eq!(scripts_checked(), 2 * runs);

    let (cached, whole) = check(&text, &mut cache);
    assert_eq!(cached, whole);
    assert_eq!(scripts_checked(), runs, "only the whole check ran shellcheck");

    // One RUN changed (and every later line moved): one script checked again.
    let at = text.find("RUN ").unwrap();
    let edited = format!("{}RUN echo $undefined_here\n{}", &text[..at], &text[at..]);
    let (cached, whole) = check(&edited, &mut cache);
    assert_eq!(cached, whole);
    assert!(
        cached.iter().any(|d| d.code == "shellcheck::SC2154"),
        "the new script's finding"
    );
    assert_eq!(scripts_checked(), runs + 2, "the whole check, and the one new script");
}
