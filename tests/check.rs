//! The `check` command: formats, exit codes, discovery, configuration,
//! suppression comments, `--fix`, and SARIF validated against the official schema.

use crate::{root, slipway};
use std::path::Path;
use std::process::{Output, Stdio};

/// Runs `slipway` in `dir` with stable rendering.
fn slipway_in(dir: &Path, args: &[&str]) -> Output {
    crate::bin()
        .args(args)
        .env("COLUMNS", "100")
        .env("NO_COLOR", "1")
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run slipway")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(out), stderr(out)))
}

/// The codes of `--format json` output, in order.
fn codes(out: &Output) -> Vec<String> {
    json(out)["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_string())
        .collect()
}

/// Writes files (path, content) under a new temporary directory.
fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in files {
        let p = dir.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }
    dir
}

/// An unknown flag: a build error (not a parse error), so it can be suppressed.
const BUILD_ERROR: &str = "FROM alpine:3.20\nCOPY --form=x a /b\n";
/// Two BuildKit build checks (warnings).
const WARNINGS: &str = "FROM alpine:3.20 AS Build\nMAINTAINER me\n";

#[test]
fn json_has_exactly_the_documented_fields_with_character_columns() {
    // `é` is two bytes, `🚀` four: columns count characters.
    let out = slipway(
        &["check", "-f", "json", "-"],
        Some("FROM alpine:3.20\nLABEL a=\"é🚀\"\nCOPY --chown=é --form=x a /b\n"),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v = json(&out);
    let d = &v["diagnostics"][0];
    let mut keys: Vec<&String> = d.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "code",
            "column",
            "end_column",
            "end_line",
            "file",
            "fixes",
            "hadolint",
            "help",
            "line",
            "message",
            "severity"
        ]
    );
    assert_eq!(d["file"], "<stdin>");
    assert_eq!(d["code"], "slipway::flag::unknown");
    assert_eq!(d["severity"], "error");
    assert_eq!((d["line"].as_u64(), d["column"].as_u64()), (Some(3), Some(18)));
    assert_eq!((d["end_line"].as_u64(), d["end_column"].as_u64()), (Some(3), Some(22)));
    assert_eq!(d["help"], "did you mean --from?");
    assert_eq!(d["fixes"], serde_json::json!([]));
    assert_eq!(d["hadolint"], serde_json::Value::Null);
}

#[test]
fn json_fixes_carry_edit_positions() {
    let out = slipway(&["check", "-f", "json", "-"], Some("FROM alpine:3.20 AS Build\n"));
    let v = json(&out);
    let d = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["code"] == "StageNameCasing")
        .expect("StageNameCasing");
    assert_eq!(d["severity"], "warning");
    assert_eq!(
        d["fixes"][0]["edits"][0],
        serde_json::json!({"line": 1, "column": 21, "end_line": 1, "end_column": 26, "text": "build"})
    );
}

#[test]
fn exit_codes_follow_the_fail_level() {
    let clean = "FROM alpine:3.20\nCMD [\"true\"]\n";
    let cases: &[(&str, &[&str], i32)] = &[
        (clean, &[], 0),
        (clean, &["--fail-level", "info"], 0),
        (WARNINGS, &[], 0),
        (WARNINGS, &["--fail-level", "warning"], 1),
        (WARNINGS, &["--fail-level", "info"], 1),
        (BUILD_ERROR, &[], 1),
        (BUILD_ERROR, &["--fail-level", "none"], 0),
    ];
    for (text, flags, want) in cases {
        let mut args = vec!["check", "-f", "gnu"];
        args.extend_from_slice(flags);
        args.push("-");
        let out = slipway(&args, Some(text));
        assert_eq!(
            out.status.code(),
            Some(*want),
            "{flags:?} on {text:?}: {}",
            stdout(&out)
        );
    }
    let out = slipway(&["check", "does/not/exist"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("cannot read does/not/exist"), "{}", stderr(&out));
    let out = slipway(&["check", "--format", "yaml", "-"], Some(""));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn human_output_renders_and_summarises() {
    let out = slipway(&["check", "-"], Some(BUILD_ERROR));
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("× unknown flag --form for COPY"), "{text}");
    assert!(text.contains("╭─[<stdin>:2:8]"), "{text}");
    assert!(text.ends_with("1 error, 0 warnings in 1 file\n"), "{text}");
    let out = slipway(&["check", "-"], Some("FROM alpine:3.20\n"));
    assert_eq!(stdout(&out), "0 errors, 0 warnings in 1 file\n");
}

#[test]
fn github_gnu_and_checkstyle_formats() {
    let input = "FROM alpine:3.20\nCOPY --form=x a /b\nMAINTAINER a, b\n";
    let out = slipway(&["check", "-f", "github", "-"], Some(input));
    assert_eq!(
        stdout(&out),
        "::error file=<stdin>,line=2,col=8,endLine=2,endColumn=12,title=slipway%3A%3Aflag%3A%3Aunknown::unknown flag --form for COPY\n\
         ::warning file=<stdin>,line=3,col=1,endLine=3,endColumn=11,title=MaintainerDeprecated::Maintainer instruction is deprecated in favor of using label\n"
    );
    let out = slipway(&["check", "-f", "gnu", "-"], Some(input));
    assert_eq!(
        stdout(&out),
        "<stdin>:2.8-2.12: error: unknown flag --form for COPY [slipway::flag::unknown]\n\
         <stdin>:3.1-3.11: warning: Maintainer instruction is deprecated in favor of using label [MaintainerDeprecated]\n"
    );
    let out = slipway(&["check", "-f", "checkstyle", "-"], Some(input));
    assert_eq!(
        stdout(&out),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<checkstyle version=\"4.3\">\n  <file name=\"&lt;stdin&gt;\">\n    \
         <error line=\"2\" column=\"8\" severity=\"error\" message=\"unknown flag --form for COPY\" source=\"slipway::flag::unknown\"/>\n    \
         <error line=\"3\" column=\"1\" severity=\"warning\" message=\"Maintainer instruction is deprecated in favor of using label\" source=\"MaintainerDeprecated\"/>\n  \
         </file>\n</checkstyle>\n"
    );
}

#[test]
fn sarif_validates_against_the_official_schema() {
    // The OASIS SARIF 2.1.0 schema (errata 01), shipped as test data.
    let schema: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("tests/data/sarif-schema-2.1.0.json")).unwrap())
            .unwrap();
    let validator = jsonschema::draft4::new(&schema).expect("the schema compiles");
    let dir = tree(&[
        // Findings with fixes, related locations, an error and a non-ASCII path.
        (
            "sub dir/é.Dockerfile",
            "FROM a AS Build\nFROM b AS build\nMAINTAINER me\nCOPY --form=x a /b\ncmd echo hi\n",
        ),
        ("Dockerfile", "FROM alpine:3.20\n"),
    ]);
    let out = slipway_in(dir.path(), &["check", "-f", "sarif"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let log = json(&out);
    let errors: Vec<String> = validator
        .iter_errors(&log)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));

    let run = &log["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "slipway");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(rules.iter().any(|r| r["id"] == "StageNameCasing"
        && r["helpUri"] == "https://docs.docker.com/go/dockerfile/rule/stage-name-casing/"));
    let results = run["results"].as_array().unwrap();
    let unknown = results
        .iter()
        .find(|r| r["ruleId"] == "slipway::flag::unknown")
        .unwrap();
    assert_eq!(unknown["level"], "error");
    assert_eq!(
        rules[unknown["ruleIndex"].as_u64().unwrap() as usize]["id"],
        "slipway::flag::unknown"
    );
    let loc = &unknown["locations"][0]["physicalLocation"];
    assert_eq!(loc["artifactLocation"]["uri"], "sub%20dir/%C3%A9.Dockerfile");
    assert_eq!(
        loc["region"],
        serde_json::json!({"startLine": 4, "startColumn": 8, "endLine": 4, "endColumn": 12})
    );
    assert!(results.iter().any(|r| r["fixes"].is_array()), "no fix in {results:?}");
    // The schema really checks: a broken log is rejected.
    let mut broken = log.clone();
    broken["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(!validator.is_valid(&broken));
}

#[test]
fn directories_are_searched_recursively_for_dockerfiles() {
    let bad = BUILD_ERROR;
    let dir = tree(&[
        ("Dockerfile", bad),
        ("api/api.Dockerfile", bad),
        ("api/web.dockerfile", bad),
        ("deploy/Dockerfile.prod", bad),
        ("deploy/Containerfile", bad),
        ("deploy/Containerfile.arm", bad),
        ("deploy/Dockerfile.dockerignore", "x\n"),
        ("deploy/README.md", bad),
        ("node_modules/pkg/Dockerfile", bad),
        ("target/Dockerfile", bad),
        (".git/Dockerfile", bad),
    ]);
    let out = slipway_in(dir.path(), &["check", "-f", "json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let mut files: Vec<String> = json(&out)["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["file"].as_str().unwrap().to_string())
        .collect();
    files.dedup();
    assert_eq!(
        files,
        [
            "Dockerfile",
            "api/api.Dockerfile",
            "api/web.dockerfile",
            "deploy/Containerfile",
            "deploy/Containerfile.arm",
            "deploy/Dockerfile.prod"
        ]
    );
    // A directory given by name, and an explicit file of any name.
    let out = slipway_in(dir.path(), &["check", "-f", "gnu", "deploy", "deploy/README.md"]);
    assert_eq!(stdout(&out).lines().count(), 4, "{}", stdout(&out));
    let out = slipway_in(dir.path(), &["check", "api"]);
    assert!(
        stdout(&out).ends_with("2 errors, 0 warnings in 2 files\n"),
        "{}",
        stdout(&out)
    );
    let empty = tree(&[("notes.txt", "")]);
    let out = slipway_in(empty.path(), &["check"]);
    assert_eq!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("no Dockerfiles found"), "{}", stderr(&out));
}

#[test]
fn config_file_is_found_upward_from_each_dockerfile() {
    let dir = tree(&[
        (
            ".slipway.toml",
            "ignore = [\"MaintainerDeprecated\"]\ntrusted_registries = [\"docker.io\"]\n\n[severity]\n\"slipway::flag::unknown\" = \"warning\"\nStageNameCasing = \"error\"\n",
        ),
        ("a/b/Dockerfile", "FROM alpine:3.20 AS Build\nMAINTAINER me\nCOPY --form=x a /b\n"),
        // A nearer configuration wins (no merging).
        ("c/.slipway.toml", "ignore = [\"StageNameCasing\"]\n"),
        ("c/Dockerfile", "FROM alpine:3.20 AS Build\nMAINTAINER me\n"),
    ]);
    let out = slipway_in(dir.path(), &["check", "-f", "gnu", "a/b/Dockerfile"]);
    assert_eq!(
        stdout(&out),
        "a/b/Dockerfile:1.21-1.26: error: Stage name 'Build' should be lowercase [StageNameCasing]\n\
         a/b/Dockerfile:3.8-3.12: warning: unknown flag --form for COPY [slipway::flag::unknown]\n"
    );
    assert_eq!(out.status.code(), Some(1));
    let out = slipway_in(dir.path(), &["check", "-f", "json", "c"]);
    assert_eq!(codes(&out), ["MaintainerDeprecated"]);
    // --config replaces the lookup; --ignore adds to it.
    let out = slipway_in(
        dir.path(),
        &["check", "-f", "json", "--config", "c/.slipway.toml", "a/b/Dockerfile"],
    );
    assert_eq!(codes(&out), ["MaintainerDeprecated", "slipway::flag::unknown"]);
    let out = slipway_in(
        dir.path(),
        &[
            "check",
            "-f",
            "json",
            "--ignore",
            "slipway::flag::unknown",
            "a/b/Dockerfile",
        ],
    );
    assert_eq!(codes(&out), ["StageNameCasing"]);
}

#[test]
fn bad_config_is_a_usage_error() {
    let dir = tree(&[
        (".slipway.toml", "ignore = [\"x\"]\nunknown_key = 1\n"),
        ("Dockerfile", "FROM a\n"),
    ]);
    let out = slipway_in(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown field `unknown_key`"), "{}", stderr(&out));
    let dir = tree(&[
        (".slipway.toml", "[severity]\nDL3008 = \"loud\"\n"),
        ("Dockerfile", "FROM a\n"),
    ]);
    let out = slipway_in(dir.path(), &["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown severity \"loud\" for DL3008"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn hadolint_and_slipway_ignore_comments() {
    let text = "FROM alpine:3.20\n\
                # hadolint ignore=slipway::flag::unknown\n\
                COPY --form=x a /b\n\
                COPY --form=y a /b\n\
                # slipway ignore=MaintainerDeprecated\n\
                MAINTAINER me\n\
                MAINTAINER you\n";
    let out = slipway(&["check", "-f", "gnu", "-"], Some(text));
    assert_eq!(
        stdout(&out),
        "<stdin>:4.8-4.12: error: unknown flag --form for COPY [slipway::flag::unknown]\n\
         <stdin>:7.1-7.11: warning: Maintainer instruction is deprecated in favor of using label [MaintainerDeprecated]\n"
    );
    let global = format!("# hadolint global ignore=slipway::flag::unknown,MaintainerDeprecated\n{text}");
    let out = slipway(&["check", "-f", "json", "-"], Some(&global));
    assert_eq!(codes(&out), Vec::<String>::new());
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn check_directive_skip_and_error() {
    let out = slipway(
        &["check", "-f", "json", "-"],
        Some(&format!("# check=skip=StageNameCasing\n{WARNINGS}")),
    );
    assert_eq!(codes(&out), ["MaintainerDeprecated"]);
    let out = slipway(
        &["check", "-f", "json", "-"],
        Some(&format!("# check=skip=all\n{WARNINGS}")),
    );
    assert_eq!(codes(&out), Vec::<String>::new());
    // error=true: build checks fail the build.
    let out = slipway(
        &["check", "-f", "gnu", "-"],
        Some(&format!("# check=error=true\n{WARNINGS}")),
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        stdout(&out),
        "<stdin>:2.21-2.26: error: Stage name 'Build' should be lowercase [StageNameCasing]\n\
         <stdin>:3.1-3.11: error: Maintainer instruction is deprecated in favor of using label [MaintainerDeprecated]\n"
    );
    // An invalid value is an error on the value (BuildKit fails the build on it).
    let out = slipway(
        &["check", "-f", "gnu", "-"],
        Some(&format!("# check=skip=all;bogus\n{WARNINGS}")),
    );
    assert!(
        stdout(&out).starts_with(
            "<stdin>:1.18-1.23: error: failed to parse check options: invalid check option \"bogus\" [slipway::directive::invalid-check]\n"
        ),
        "{}",
        stdout(&out)
    );
    // BUILDKIT_DOCKERFILE_CHECK replaces the directive, as in BuildKit.
    let out = slipway(
        &[
            "check",
            "-f",
            "json",
            "--build-arg",
            "BUILDKIT_DOCKERFILE_CHECK=skip=MaintainerDeprecated",
            "-",
        ],
        Some(&format!("# check=skip=StageNameCasing\n{WARNINGS}")),
    );
    assert_eq!(codes(&out), ["StageNameCasing"]);
}

#[test]
fn dockerignore_next_to_the_dockerfile_feeds_copy_ignored_file() {
    let text = "FROM alpine:3.20\nCOPY secret.txt app /\n";
    let dir = tree(&[
        ("a/.dockerignore", "secret.txt\n"),
        ("a/Dockerfile", text),
        // `<Dockerfile>.dockerignore` wins over `.dockerignore`.
        ("b/.dockerignore", "secret.txt\n"),
        ("b/Dockerfile", text),
        ("b/Dockerfile.dockerignore", "app\n"),
        ("c/Dockerfile", text),
    ]);
    let out = slipway_in(dir.path(), &["check", "-f", "gnu"]);
    assert_eq!(
        stdout(&out),
        "a/Dockerfile:2.6-2.16: warning: Attempting to Copy file \"secret.txt\" that is excluded by .dockerignore [CopyIgnoredFile]\n\
         b/Dockerfile:2.17-2.20: warning: Attempting to Copy file \"app\" that is excluded by .dockerignore [CopyIgnoredFile]\n"
    );
}

#[test]
fn dockerfiles_sharing_a_directory_each_get_their_own_dockerignore() {
    // The directory's lookups are made once, but `<Dockerfile>.dockerignore` is still each
    // file's own; a bad `.dockerignore` shared by two Dockerfiles is said once.
    let text = "FROM alpine:3.20\nCOPY secret.txt app /\n";
    let dir = tree(&[
        ("d/.dockerignore", "secret.txt\n"),
        ("d/Dockerfile", text),
        ("d/api.Dockerfile", text),
        ("d/api.Dockerfile.dockerignore", "app\n"),
        ("d/web.Dockerfile", text),
        ("bad/.dockerignore", "!\n"),
        ("bad/Dockerfile", text),
        ("bad/web.Dockerfile", text),
    ]);
    let out = slipway_in(dir.path(), &["check", "-f", "gnu", "d", "bad"]);
    let found = stdout(&out);
    let mut lines: Vec<&str> = found.lines().filter(|l| l.contains("CopyIgnoredFile")).collect();
    lines.sort();
    assert_eq!(
        lines,
        [
            "d/Dockerfile:2.6-2.16: warning: Attempting to Copy file \"secret.txt\" that is excluded by .dockerignore [CopyIgnoredFile]",
            "d/api.Dockerfile:2.17-2.20: warning: Attempting to Copy file \"app\" that is excluded by .dockerignore [CopyIgnoredFile]",
            "d/web.Dockerfile:2.6-2.16: warning: Attempting to Copy file \"secret.txt\" that is excluded by .dockerignore [CopyIgnoredFile]",
        ],
        "{found}"
    );
    assert_eq!(stderr(&out).matches("bad/.dockerignore").count(), 1, "{}", stderr(&out));
}

#[test]
fn fix_round_trip_on_a_copy() {
    let original = "FROM alpine:3.20 AS Build\nMAINTAINER me\ncmd echo hi\nCOPY --form=x a /b\n";
    let dir = tree(&[("Dockerfile", original)]);
    let before = slipway_in(dir.path(), &["check", "-f", "json"]);
    let fixable = json(&before)["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| !d["fixes"].as_array().unwrap().is_empty())
        .count();
    assert!(fixable >= 3, "{}", stdout(&before));

    let out = slipway_in(dir.path(), &["check", "--fix", "-f", "json"]);
    let fixed = std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap();
    assert_ne!(fixed, original);
    assert!(
        stderr(&out).contains(&format!("applied {fixable} fixes in 1 file")),
        "{}",
        stderr(&out)
    );
    // What remains has no fix, and the unknown flag is still there.
    let remaining = json(&out);
    let remaining = remaining["diagnostics"].as_array().unwrap();
    assert!(
        remaining.iter().all(|d| d["fixes"].as_array().unwrap().is_empty()),
        "{remaining:?}"
    );
    assert!(remaining.iter().any(|d| d["code"] == "slipway::flag::unknown"));
    assert!(fixed.contains("AS build\n"), "{fixed}");
    assert!(fixed.contains("CMD [\"echo\", \"hi\"]\n"), "{fixed}");
    assert!(fixed.ends_with("COPY --form=x a /b\n"), "{fixed}");
    // A second run has nothing left to fix.
    let again = slipway_in(dir.path(), &["check", "--fix", "-f", "gnu"]);
    assert!(
        stderr(&again).contains("applied 0 fixes in 0 files"),
        "{}",
        stderr(&again)
    );
    assert_eq!(std::fs::read_to_string(dir.path().join("Dockerfile")).unwrap(), fixed);
    // Standard input cannot be fixed.
    let out = slipway(&["check", "--fix", "-"], Some(original));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn hadolint_codes_suppress_the_rules_they_map_to() {
    let install = "RUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*\n";
    let text = format!(
        "FROM debian:12\n# hadolint ignore=DL3008,DL3015\n{install}{install}# hadolint ignore=DL4000\nMAINTAINER me\nMAINTAINER you\n"
    );
    let out = slipway(&["check", "-f", "gnu", "-"], Some(&text));
    let report = stdout(&out);
    let lines: Vec<&str> = report.lines().map(|l| l.split_once(": ").unwrap().0).collect();
    // Only the second RUN and the second MAINTAINER are reported.
    assert_eq!(
        lines,
        ["<stdin>:4.23-4.38", "<stdin>:4.42-4.46", "<stdin>:7.1-7.11"],
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).contains("[slipway::lint::apt-pin]"));
    // The same through the configuration's severity table, by hadolint code.
    let dir = tree(&[
        (".slipway.toml", "[severity]\nDL3008 = \"error\"\nDL3015 = \"ignore\"\n"),
        ("Dockerfile", &text),
    ]);
    let out = slipway_in(dir.path(), &["check", "-f", "json"]);
    let v = json(&out);
    let apt_pin: Vec<&serde_json::Value> = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "slipway::lint::apt-pin")
        .collect();
    assert_eq!(apt_pin.len(), 1, "{v}");
    assert_eq!(apt_pin[0]["severity"], "error");
    assert!(!v.to_string().contains("apt-get-recommends"));
    assert_eq!(out.status.code(), Some(1));
    // SARIF rules name the hadolint rule(s) they correspond to.
    let out = slipway(&["check", "-f", "sarif", "-"], Some("FROM a\n"));
    let rules = json(&out)["runs"][0]["tool"]["driver"]["rules"].clone();
    let rule = |id: &str| {
        rules
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(rule("slipway::lint::apt-pin")["properties"]["hadolint"], "DL3008");
    assert_eq!(rule("MaintainerDeprecated")["properties"]["hadolint"], "DL4000");
}

/// Issue 20: a rule that corresponds to a hadolint rule shows its code, in every
/// format people and tools read it in.
#[test]
fn check_shows_the_hadolint_code_of_a_rule() {
    let text = "FROM debian:12\nRUN apt-get update && apt-get install -y --no-install-recommends curl \\\n && rm -rf /var/lib/apt/lists/*\nMAINTAINER me\n";
    let human = stdout(&slipway(&["check", "-"], Some(text)));
    assert!(human.contains("slipway::lint::apt-pin (DL3008)"), "{human}");
    assert!(human.contains("MaintainerDeprecated (DL4000)"), "{human}");

    let out = slipway(&["check", "-f", "json", "-"], Some(text));
    let v = json(&out);
    let by_code = |code: &str| {
        v["diagnostics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["code"] == code)
            .cloned()
            .unwrap_or_else(|| panic!("no {code} in {v}"))
    };
    assert_eq!(by_code("slipway::lint::apt-pin")["hadolint"], "DL3008");
    assert_eq!(by_code("MaintainerDeprecated")["hadolint"], "DL4000");

    let out = slipway(&["check", "-f", "sarif", "-"], Some(text));
    let sarif = json(&out);
    let result = sarif["runs"][0]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ruleId"] == "slipway::lint::apt-pin")
        .cloned()
        .unwrap();
    assert_eq!(result["properties"]["hadolint"], "DL3008");
}

/// Runs `slipway` in `dir` with `HOME` there too (no user configuration) and `env` set.
fn slipway_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = crate::bin();
    cmd.args(args)
        .env("COLUMNS", "100")
        .env("NO_COLOR", "1")
        .env("HOME", dir)
        .env_remove("XDG_CONFIG_HOME")
        .current_dir(dir)
        .stdin(Stdio::null());
    for (k, _) in std::env::vars().filter(|(k, _)| k.starts_with("HADOLINT_")) {
        cmd.env_remove(k);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run slipway")
}

/// A team's `.hadolint.yaml` using every key slipway reads.
const HADOLINT_YAML: &str = "\
failure-threshold: warning
no-fail: false
format: tty
ignored:
  - DL3007
override:
  error:
    - DL3003
  warning:
    - DL3059
  info:
    - DL3057
  style:
    - DL1001
trustedRegistries:
  - docker.io
label-schema:
  version: semver
strict-labels: true
disable-ignore-pragma: true
";

const HADOLINT_DOCKERFILE: &str = "\
FROM alpine:latest AS base
FROM quay.io/x/y:1
LABEL version=v1 other=x
# hadolint ignore=DL3003
RUN cd /tmp
";

/// `(code, level)` of `--format hadolint-json` output.
fn hadolint_findings(out: &Output) -> Vec<(String, String)> {
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(out), stderr(out)));
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| {
            for key in ["code", "column", "file", "level", "line", "message"] {
                assert!(d.get(key).is_some(), "{key} missing in {d}");
            }
            (
                d["code"].as_str().unwrap().to_string(),
                d["level"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn a_real_hadolint_yaml_is_read_with_every_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".hadolint.yaml"), HADOLINT_YAML).unwrap();
    std::fs::write(dir.path().join("Dockerfile"), HADOLINT_DOCKERFILE).unwrap();
    let out = slipway_env(
        dir.path(),
        &["check", "--no-shellcheck", "-f", "hadolint-json", "Dockerfile"],
        &[],
    );
    let got = hadolint_findings(&out);
    let has = |code: &str, level: &str| got.iter().any(|(c, l)| c == code && l == level);
    // ignored; trustedRegistries; label-schema + strict-labels; override + disable-ignore-pragma.
    assert!(!got.iter().any(|(c, _)| c == "DL3007"), "{got:?}");
    assert!(has("DL3026", "error"), "{got:?}");
    assert!(
        has("DL3056", "warning") && has("DL3050", "info") && has("DL3049", "info"),
        "{got:?}"
    );
    assert!(
        has("DL3003", "error") && has("DL1001", "info") && has("DL3057", "info"),
        "{got:?}"
    );
    // failure-threshold: warning, so the warnings and errors fail the check.
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    // HADOLINT_* on top of the file; --fail-level and .slipway.toml win over both.
    let env = [("HADOLINT_NOFAIL", "true"), ("HADOLINT_IGNORE", "DL3026")];
    let out = slipway_env(
        dir.path(),
        &["check", "--no-shellcheck", "-f", "hadolint-json", "Dockerfile"],
        &env,
    );
    assert!(!hadolint_findings(&out).iter().any(|(c, _)| c == "DL3026"));
    assert_eq!(out.status.code(), Some(0));
    let out = slipway_env(
        dir.path(),
        &[
            "check",
            "--no-shellcheck",
            "--fail-level",
            "error",
            "-f",
            "gnu",
            "Dockerfile",
        ],
        &env,
    );
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    std::fs::write(
        dir.path().join(".slipway.toml"),
        "[severity]\nDL3003 = \"info\"\nDL3007 = \"warning\"\n",
    )
    .unwrap();
    let out = slipway_env(
        dir.path(),
        &["check", "--no-shellcheck", "-f", "hadolint-json", "Dockerfile"],
        &[],
    );
    let got = hadolint_findings(&out);
    assert!(got.contains(&("DL3003".into(), "info".into())), "{got:?}");
    assert!(got.contains(&("DL3007".into(), "warning".into())), "{got:?}");

    // An invalid file is a configuration error.
    std::fs::write(dir.path().join(".hadolint.yaml"), "failure-threshold: loud\n").unwrap();
    let out = slipway_env(dir.path(), &["check", "--no-shellcheck", "Dockerfile"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("failure-threshold"), "{}", stderr(&out));
}

/// Every key hadolint's README lists, in a second real file: `no-fail: true`, the whole
/// label schema, `format: json` (hadolint's JSON when no --format is given).
const HADOLINT_YAML_NO_FAIL: &str = "\
failure-threshold: style
no-fail: true
format: json
no-color: true
verbose: false
ignored: [DL3006]
override:
  error: [DL3025]
trustedRegistries: docker.io
label-schema:
  author: text
  contact: email
  created: rfc3339
  version: semver
  documentation: url
  git-revision: hash
  license: spdx
strict-labels: true
disable-ignore-pragma: false
";

#[test]
fn hadolint_yaml_no_fail_label_schema_and_format() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".hadolint.yaml"), HADOLINT_YAML_NO_FAIL).unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM alpine\nLABEL author=me contact=nobody created=yesterday version=1.0 \\\n  \
         documentation=docs git-revision=xyz license=MIT-ish other=1\nCMD echo hi\n",
    )
    .unwrap();
    let out = slipway_env(dir.path(), &["check", "--no-shellcheck", "Dockerfile"], &[]);
    // `format: json` is hadolint's JSON.
    let got = hadolint_findings(&out);
    let codes: Vec<&str> = got.iter().map(|(c, _)| c.as_str()).collect();
    for code in [
        "DL3058", "DL3053", "DL3054", "DL3052", "DL3055", "DL3056", "DL3050", "DL3025",
    ] {
        assert!(codes.contains(&code), "{code} missing: {got:?}");
    }
    assert!(got.contains(&("DL3025".into(), "error".into())), "{got:?}");
    assert!(!codes.contains(&"DL3006") && !codes.contains(&"DL3049"), "{got:?}");
    // no-fail: true, although errors are there and the threshold is style.
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // --format wins over the file's, HADOLINT_FORMAT over the file's too.
    let out = slipway_env(
        dir.path(),
        &["check", "--no-shellcheck", "-f", "gnu", "Dockerfile"],
        &[],
    );
    assert!(stdout(&out).starts_with("Dockerfile:"), "{}", stdout(&out));
    let out = slipway_env(
        dir.path(),
        &["check", "--no-shellcheck", "Dockerfile"],
        &[("HADOLINT_FORMAT", "gitlab_codeclimate")],
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v[0]["fingerprint"].is_string(), "{v}");
    // A format slipway does not write: said, and the human format instead.
    let out = slipway_env(
        dir.path(),
        &["check", "--no-shellcheck", "Dockerfile"],
        &[("HADOLINT_FORMAT", "junit")],
    );
    assert!(stderr(&out).contains("junit"), "{}", stderr(&out));
    assert!(stdout(&out).contains("DL3025"), "{}", stdout(&out));
}

/// hadolint's command-line flags work on `slipway check` and win over the files.
#[test]
fn hadolint_command_line_flags() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hadolint.yml"),
        "ignored: [DL3003]\nfailure-threshold: error\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM quay.io/a/b:1\nLABEL version=x\nRUN cd /x\n# hadolint ignore=DL3059\nRUN echo\n",
    )
    .unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec!["check", "--no-shellcheck", "-f", "hadolint-json"];
        args.extend_from_slice(extra);
        args.push("Dockerfile");
        slipway_env(dir.path(), &args, &[])
    };
    // -c names the hadolint file: DL3003 ignored, only errors fail.
    let out = run(&["-c", "hadolint.yml"]);
    let got = hadolint_findings(&out);
    assert!(!got.iter().any(|(c, _)| c == "DL3003" || c == "DL3059"), "{got:?}");
    assert_eq!(out.status.code(), Some(0));
    // -t / --failure-threshold with hadolint's names; --error/--warning/--style.
    let out = run(&["-t", "style"]);
    assert_eq!(out.status.code(), Some(1));
    let out = run(&["-t", "warning", "--style", "DL3003"]);
    assert!(hadolint_findings(&out).contains(&("DL3003".into(), "info".into())));
    assert_eq!(out.status.code(), Some(0));
    let out = run(&["--failure-threshold", "ignore", "--error", "DL3003"]);
    assert!(hadolint_findings(&out).contains(&("DL3003".into(), "error".into())));
    assert_eq!(out.status.code(), Some(0));
    // --trusted-registry, --require-label, --strict-labels, --disable-ignore-pragma.
    let out = run(&[
        "--trusted-registry",
        "docker.io",
        "--require-label",
        "version:semver",
        "--require-label",
        "maintainer:text",
        "--strict-labels",
        "--disable-ignore-pragma",
        "--file-path-in-report",
        "src/Dockerfile",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let codes: Vec<&str> = v
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap())
        .collect();
    for code in ["DL3026", "DL3056", "DL3049", "DL3059"] {
        assert!(codes.contains(&code), "{code} missing: {codes:?}");
    }
    assert!(
        v.as_array().unwrap().iter().all(|d| d["file"] == "src/Dockerfile"),
        "{v}"
    );
    // A bad --require-label is a usage error; -V says which files it read.
    let out = run(&["--require-label", "version:colour"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("colour"), "{}", stderr(&out));
    std::fs::write(dir.path().join(".hadolint.yaml"), "ignored: [DL3059]\n").unwrap();
    let out = run(&["-V", "--no-color"]);
    assert!(stderr(&out).contains(".hadolint.yaml"), "{}", stderr(&out));
}

#[test]
fn hadolint_output_formats_have_hadolints_shapes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), "FROM alpine\nRUN cd /x\nCMD echo hi\n").unwrap();
    let args = |f: &'static str| ["check", "--no-shellcheck", "-f", f, "Dockerfile"];
    let out = slipway_env(dir.path(), &args("hadolint-json"), &[]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let first = &v[0];
    assert_eq!(first["code"], "DL3006");
    assert_eq!(
        (first["file"].as_str(), first["line"].as_u64(), first["column"].as_u64()),
        (Some("Dockerfile"), Some(1), Some(6))
    );
    assert_eq!(first["level"], "warning");
    // A BuildKit check under the hadolint code that names it.
    assert!(v.as_array().unwrap().iter().any(|d| d["code"] == "DL3025"), "{v}");

    let out = slipway_env(dir.path(), &args("codeclimate"), &[]);
    let issues: Vec<serde_json::Value> = out
        .stdout
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| serde_json::from_slice(s).unwrap())
        .collect();
    assert_eq!(issues.len(), v.as_array().unwrap().len());
    assert_eq!(issues[0]["type"], "issue");
    assert_eq!(issues[0]["check_name"], "DL3006");
    assert_eq!(issues[0]["severity"], "major");
    assert_eq!(
        issues[0]["location"],
        serde_json::json!({"path": "Dockerfile", "lines": {"begin": 1, "end": 1}})
    );

    let out = slipway_env(dir.path(), &args("gitlab_codeclimate"), &[]);
    let g: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let g = g.as_array().unwrap();
    assert_eq!(g.len(), issues.len());
    assert!(g
        .iter()
        .all(|i| i["fingerprint"].as_str().is_some_and(|f| f.len() == 64)));
    let mut prints: Vec<&str> = g.iter().map(|i| i["fingerprint"].as_str().unwrap()).collect();
    prints.dedup();
    assert_eq!(prints.len(), g.len(), "fingerprints are distinct");
}

#[test]
fn check_for_a_foreign_platform_reports_a_build_stage_under_emulation() {
    let dir = tree(&[(
        "Dockerfile",
        "FROM golang:1.22 AS build\nRUN go build -o /app .\nFROM alpine:3.20\nCOPY --from=build /app /app\n",
    )]);
    let host = slipway_store::platform::Platform::host();
    let foreign = if host.architecture == "arm64" {
        "linux/amd64"
    } else {
        "linux/arm64"
    };
    let rule = "slipway::lint::emulated-build-stage".to_string();
    let out = slipway_in(
        dir.path(),
        &["check", "--format", "json", "--platform", foreign, "Dockerfile"],
    );
    assert!(codes(&out).contains(&rule), "{}", stdout(&out));
    // The host's platform, or none: nothing runs under emulation.
    let out = slipway_in(
        dir.path(),
        &[
            "check",
            "--format",
            "json",
            "--platform",
            &host.to_string(),
            "Dockerfile",
        ],
    );
    assert!(!codes(&out).contains(&rule), "{}", stdout(&out));
    let out = slipway_in(dir.path(), &["check", "--format", "json", "Dockerfile"]);
    assert!(!codes(&out).contains(&rule));
    // A bad platform is a usage error.
    let out = slipway_in(dir.path(), &["check", "--platform", "linux", "Dockerfile"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}
