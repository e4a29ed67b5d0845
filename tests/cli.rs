//! The `parse` command: formats, stdin, exit codes.

use crate::slipway;

#[test]
fn buildkit_dump_of_stdin() {
    let out = slipway(
        &["parse", "--format", "buildkit-dump", "-"],
        Some("FROM alpine\nRUN echo hi\nCMD [\"redis-server\"]\n"),
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "(from \"alpine\")\n(run \"echo hi\")\n(cmd \"redis-server\")\n"
    );
}

#[test]
fn buildkit_json_has_exactly_the_oracle_fields() {
    let out = slipway(
        &["parse", "--format", "buildkit-json", "-"],
        Some("FROM a\nENV K=v\nRUN <<EOF\nhi\nEOF\n"),
    );
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let cmds = v.as_array().unwrap();
    assert_eq!(cmds.len(), 3);
    let mut keys: Vec<&String> = cmds[0].as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "cmd",
            "end_line",
            "flags",
            "heredocs",
            "json",
            "original",
            "start_line",
            "sub_cmd",
            "value"
        ]
    );
    assert_eq!(cmds[1]["value"], serde_json::json!(["K", "v"]));
    assert_eq!(
        cmds[2]["heredocs"],
        serde_json::json!([{"name": "EOF", "file_descriptor": 0, "content": "hi\n"}])
    );
    assert_eq!(cmds[2]["end_line"], 5);
}

#[test]
fn rejected_file_exits_1_with_diagnostics_on_stderr() {
    let out = slipway(
        &["parse", "--format", "buildkit-json", "-"],
        Some("FROM a\nENV ONLYNAME\n"),
    );
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["error"], "ENV must have two arguments");
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("slipway::syntax::missing-value"));
}

#[test]
fn build_errors_do_not_fail_parse() {
    // BuildKit's parser accepts unknown instructions; the build rejects them later.
    let out = slipway(&["parse", "-"], Some("FROM a\nFORM b\n"));
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8(out.stderr).unwrap().contains("did you mean FROM?"));
}

#[test]
fn missing_file_is_a_usage_error() {
    let out = slipway(&["parse", "does/not/exist"], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr)
        .unwrap()
        .contains("cannot read does/not/exist"));
}

#[test]
fn shipped_examples_parse_cleanly() {
    for (file, instructions, directives) in [
        ("examples/redis/Dockerfile", 3, 0),
        ("examples/redis/alpine.Dockerfile", 7, 1),
    ] {
        let out = slipway(&["parse", "--format", "json", file], None);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            out.stderr.is_empty(),
            "{file}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["tree"]["directives"].as_array().unwrap().len(), directives, "{file}");
        assert_eq!(
            v["tree"]["instructions"].as_array().unwrap().len(),
            instructions,
            "{file}"
        );
    }
}
