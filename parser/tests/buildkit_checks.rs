//! BuildKit's build checks: for every rule, a Dockerfile where it fires (at
//! the expected line and text) and one where it must not.

use slipway_parser::{model, parse, CheckOptions};
use std::sync::Arc;

/// `(code, 1-based line, text under the span)` of every diagnostic, parse and model.
fn findings(src: &str, options: &CheckOptions) -> Vec<(String, usize, String)> {
    let parsed = parse(src);
    let m = model::analyze(src, &parsed.file, options);
    parsed
        .diagnostics
        .iter()
        .chain(&m.diagnostics)
        .map(|d| {
            (
                d.code.to_string(),
                src[..d.span.start].matches('\n').count() + 1,
                src[d.span.clone()].to_string(),
            )
        })
        .collect()
}

fn check(rule: &str, fires: &str, at: (usize, &str), quiet: &str) {
    check_with(rule, fires, at, quiet, &CheckOptions::default());
}

fn check_with(rule: &str, fires: &str, at: (usize, &str), quiet: &str, options: &CheckOptions) {
    let got = findings(fires, options);
    let hits: Vec<_> = got.iter().filter(|(c, _, _)| c == rule).collect();
    assert!(
        hits.iter().any(|(_, line, text)| *line == at.0 && text == at.1),
        "{rule} should fire at line {} on {:?} in:\n{fires}\ngot {got:?}",
        at.0,
        at.1
    );
    let got = findings(quiet, options);
    assert!(
        !got.iter().any(|(c, _, _)| c == rule),
        "{rule} must not fire in:\n{quiet}\ngot {got:?}"
    );
}

#[test]
fn stage_name_casing() {
    check(
        "StageNameCasing",
        "FROM alpine AS Build\n",
        (1, "Build"),
        "FROM alpine AS build\n",
    );
}

#[test]
fn from_as_casing() {
    check(
        "FromAsCasing",
        "FROM alpine as build\n",
        (1, "as"),
        "FROM alpine AS build\nfrom alpine as other\n",
    );
}

#[test]
fn no_empty_continuation() {
    check(
        "NoEmptyContinuation",
        "FROM alpine\nRUN echo a \\\n\n  b\n",
        (3, ""),
        "FROM alpine\nRUN echo a \\\n  # comment\n  b\n",
    );
}

#[test]
fn consistent_instruction_casing() {
    check(
        "ConsistentInstructionCasing",
        "FROM alpine\nRUN true\nrun false\nCOPY a b\n",
        (3, "run"),
        "from alpine\nrun true\ncopy a b\n",
    );
}

#[test]
fn duplicate_stage_name() {
    check(
        "DuplicateStageName",
        "FROM alpine AS a\nFROM debian AS a\n",
        (2, "a"),
        "FROM alpine AS a\nFROM debian AS b\n",
    );
}

#[test]
fn reserved_stage_name() {
    check(
        "ReservedStageName",
        "FROM alpine AS scratch\n",
        (1, "scratch"),
        "FROM alpine AS scratchy\n",
    );
}

#[test]
fn json_args_recommended() {
    check(
        "JSONArgsRecommended",
        "FROM alpine\nCMD redis-server --port 1\n",
        (2, "redis-server --port 1"),
        "FROM alpine\nCMD [\"redis-server\"]\n",
    );
    // A SHELL instruction makes shell form deliberate.
    check(
        "JSONArgsRecommended",
        "FROM alpine\nENTRYPOINT run.sh\n",
        (2, "run.sh"),
        "FROM alpine\nSHELL [\"/bin/bash\", \"-c\"]\nENTRYPOINT run.sh\n",
    );
}

#[test]
fn maintainer_deprecated() {
    check(
        "MaintainerDeprecated",
        "FROM alpine\nMAINTAINER me <me@x.y>\n",
        (2, "MAINTAINER"),
        "FROM alpine\nLABEL org.opencontainers.image.authors=me\n",
    );
}

#[test]
fn undefined_arg_in_from() {
    check(
        "UndefinedArgInFrom",
        "FROM alpine:${VERSON}\n",
        (1, "${VERSON}"),
        "ARG VERSION=3.20\nFROM alpine:${VERSION}\nFROM --platform=$BUILDPLATFORM alpine\n",
    );
}

#[test]
fn workdir_relative_path() {
    check(
        "WorkdirRelativePath",
        "FROM alpine\nWORKDIR app\n",
        (2, "app"),
        "FROM alpine\nWORKDIR /srv\nWORKDIR app\n",
    );
    // Regression: a path that starts with a variable the file does not set (the base
    // image's `$GOPATH`/`$HOME`) was called relative; so was a Windows drive path.
    check(
        "WorkdirRelativePath",
        "FROM alpine\nARG DIR=app\nWORKDIR $DIR\n",
        (3, "$DIR"),
        "FROM golang:nanoserver\nWORKDIR $GOPATH\nFROM jupyter/base\nWORKDIR \"${HOME}\"\n\
         FROM mcr.microsoft.com/dotnet/framework/aspnet\nWORKDIR \"c:\\inetpub\\wwwroot\"\n",
    );
    // A known variable and a path under an unknown one are still judged.
    check(
        "WorkdirRelativePath",
        "FROM alpine\nWORKDIR src/$SUB\n",
        (2, "src/$SUB"),
        "FROM alpine\nWORKDIR $HOME/src\n",
    );
}

#[test]
fn undefined_var() {
    check(
        "UndefinedVar",
        "FROM alpine\nCOPY $SRC /dst\n",
        (2, "$SRC"),
        "FROM alpine\nARG SRC\nCOPY $SRC /dst\nENV P=$PATH:/x\nRUN echo $UNDEFINED_IN_SHELL_IS_FINE\n",
    );
    // Meta ARGs are not visible in a stage until declared there.
    check(
        "UndefinedVar",
        "ARG V=1\nFROM alpine\nENV X=${V}\n",
        (3, "${V}"),
        "ARG V=1\nFROM alpine\nARG V\nENV X=${V}\n",
    );
    // A stage inherits the environment of the stage it is built FROM.
    check(
        "UndefinedVar",
        "FROM alpine AS a\nFROM a\nENV Y=$X\n",
        (3, "$X"),
        "FROM alpine AS a\nENV X=1\nFROM a\nENV Y=$X\n",
    );
}

#[test]
fn multiple_instructions_disallowed() {
    check(
        "MultipleInstructionsDisallowed",
        "FROM alpine\nCMD [\"a\"]\nCMD [\"b\"]\n",
        (2, "CMD"),
        "FROM alpine\nCMD [\"a\"]\nFROM alpine\nCMD [\"b\"]\n",
    );
}

#[test]
fn legacy_key_value_format() {
    check(
        "LegacyKeyValueFormat",
        "FROM alpine\nENV A b\n",
        (2, "ENV A b"),
        "FROM alpine\nENV A=b\n",
    );
}

#[test]
fn redundant_target_platform() {
    check(
        "RedundantTargetPlatform",
        "FROM --platform=$TARGETPLATFORM alpine\n",
        (1, "--platform=$TARGETPLATFORM"),
        "FROM --platform=$BUILDPLATFORM alpine\n",
    );
}

#[test]
fn secrets_used_in_arg_or_env() {
    check(
        "SecretsUsedInArgOrEnv",
        "FROM alpine\nARG GITHUB_TOKEN\n",
        (2, "GITHUB_TOKEN"),
        "FROM alpine\nARG PUBLIC_KEY\nENV KEYBOARD=us\nARG TOKENIZER_VERSION=1\n",
    );
    check(
        "SecretsUsedInArgOrEnv",
        "FROM alpine\nENV DB_PASSWORD=x\n",
        (2, "DB_PASSWORD"),
        "FROM alpine\nENV PASSWORD_FILE=/run/secrets/pw\n",
    );
}

#[test]
fn invalid_default_arg_in_from() {
    check(
        "InvalidDefaultArgInFrom",
        "ARG TAG\nFROM alpine:${TAG}\n",
        (2, "alpine:${TAG}"),
        "ARG TAG=3.20\nARG IMG=alpine\nFROM alpine:${TAG}\nFROM ${IMG}\n",
    );
}

#[test]
fn from_platform_flag_const_disallowed() {
    check(
        "FromPlatformFlagConstDisallowed",
        "FROM --platform=linux/amd64 alpine AS build\n",
        (1, "linux/amd64"),
        "FROM --platform=linux/amd64 alpine AS build-amd64\nFROM --platform=$BUILDPLATFORM alpine\n",
    );
    // Regression: one word that containerd's platforms.Parse accepts (an architecture
    // means linux/<arch>, an OS the host's architecture) is a constant too.
    check(
        "FromPlatformFlagConstDisallowed",
        "FROM --platform=amd64 alpine AS prepare\n",
        (1, "amd64"),
        "FROM --platform=x86_64 alpine AS build-amd64\nFROM --platform=arm64 alpine AS linux-build\n\
         FROM --platform=banana alpine AS prepare\nFROM --platform=Linux/ARM64 alpine AS on-arm64\n",
    );
    check(
        "FromPlatformFlagConstDisallowed",
        "FROM --platform=windows alpine AS prepare\n",
        (1, "windows"),
        "FROM --platform=windows alpine AS windows-base\n",
    );
}

#[test]
fn copy_ignored_file() {
    let options = CheckOptions {
        ignored: Some(Arc::new(|p: &str| p == "secret.txt" || p.starts_with("node_modules"))),
        ..CheckOptions::default()
    };
    check_with(
        "CopyIgnoredFile",
        "FROM alpine\nCOPY secret.txt /etc/\n",
        (2, "secret.txt"),
        "FROM alpine\nCOPY app.js /srv/\nCOPY --from=build secret.txt /x\n",
        &options,
    );
}

#[test]
fn invalid_definition_description() {
    check(
        "InvalidDefinitionDescription",
        "# the version of alpine\nARG VERSION=3.20\nFROM alpine\n",
        (2, "ARG"),
        "# VERSION of alpine to use\nARG VERSION=3.20\n\n# unrelated comment\n\nFROM alpine\n",
    );
}

#[test]
fn expose_proto_casing() {
    check(
        "ExposeProtoCasing",
        "FROM alpine\nEXPOSE 80/TCP\n",
        (2, "80/TCP"),
        "FROM alpine\nEXPOSE 80/tcp 53/udp 8080\n",
    );
}

#[test]
fn expose_invalid_format() {
    check(
        "ExposeInvalidFormat",
        "FROM alpine\nEXPOSE 127.0.0.1:80:80\n",
        (2, "127.0.0.1:80:80"),
        "FROM alpine\nEXPOSE 80\n",
    );
}

#[test]
fn build_args_only_reach_declared_args() {
    let src = "ARG V=default\nFROM alpine:${V}\nARG V\nENV X=$V\n";
    let parsed = parse(src);
    let options = CheckOptions {
        build_args: vec![("V".into(), "3.19".into())],
        ..CheckOptions::default()
    };
    let m = model::analyze(src, &parsed.file, &options);
    assert_eq!(m.stages[0].base, model::Base::Image("alpine:3.19".into()));
    let x = m.vars.iter().find(|v| v.name == "X").unwrap();
    assert_eq!(x.value.as_deref(), Some("3.19"));
    // Undeclared build args change nothing.
    let options = CheckOptions {
        build_args: vec![("OTHER".into(), "1".into())],
        ..CheckOptions::default()
    };
    let m = model::analyze(src, &parsed.file, &options);
    assert_eq!(m.stages[0].base, model::Base::Image("alpine:default".into()));
}

#[test]
fn stages_and_dependencies() {
    let src = "FROM golang AS Build\nRUN go build\nFROM build AS test\nFROM scratch\nCOPY --from=build /out /\nRUN --mount=from=test,target=/t true\n";
    let parsed = parse(src);
    let m = model::analyze(src, &parsed.file, &CheckOptions::default());
    assert_eq!(m.stages.len(), 3);
    assert_eq!(m.stages[0].name.as_deref(), Some("build"));
    assert_eq!(m.stages[1].base, model::Base::Stage(0));
    assert_eq!(m.stages[2].base, model::Base::Scratch);
    assert_eq!(m.stages[2].depends_on.iter().copied().collect::<Vec<_>>(), vec![0, 1]);
    assert_eq!(m.stage_by_ref("1"), Some(1));
}

#[test]
fn instructions_before_from_are_errors() {
    let got = findings("RUN true\nFROM alpine\n", &CheckOptions::default());
    assert!(
        got.iter().any(|(c, l, _)| c == "slipway::stage::no-stage" && *l == 1),
        "{got:?}"
    );
}

#[test]
fn invalid_stage_names_are_errors() {
    let got = findings("FROM alpine AS 1st\n", &CheckOptions::default());
    assert!(
        got.iter()
            .any(|(c, _, t)| c == "slipway::stage::invalid-name" && t == "1st"),
        "{got:?}"
    );
}

fn errors(src: &str) -> Vec<(String, String)> {
    findings(src, &CheckOptions::default())
        .into_iter()
        .filter(|(c, _, _)| c.starts_with("slipway::"))
        .map(|(c, _, t)| (c, t))
        .collect()
}

#[test]
fn conversion_errors_buildkit_raises() {
    let e = errors("FROM alpine AS a\nCOPY --from=b /x /y\nFROM alpine AS b\n");
    assert!(e.contains(&("slipway::stage::order".into(), "b".into())), "{e:?}");
    let e = errors("FROM alpine AS a\nCOPY --from=a /x /y\n");
    assert!(e.contains(&("slipway::stage::order".into(), "a".into())), "{e:?}");
    let e = errors("ARG SRC=a\nFROM alpine AS a\nFROM alpine\nCOPY --from=$SRC /x /y\n");
    assert!(
        e.contains(&("slipway::flag::from-variable".into(), "$SRC".into())),
        "{e:?}"
    );
    let e = errors("FROM alpine\nCOPY x <<EOF\nhi\nEOF\n");
    assert!(
        e.contains(&("slipway::heredoc::misuse".into(), "<<EOF".into())),
        "{e:?}"
    );
    let e = errors("FROM alpine\nVOLUME [\"\"]\n");
    assert!(
        e.iter().any(|(c, _)| c == "slipway::syntax::missing-arguments"),
        "{e:?}"
    );
    let e = errors("ARG IMG\nFROM $IMG\n");
    assert!(
        e.contains(&("slipway::stage::blank-base".into(), "$IMG".into())),
        "{e:?}"
    );
    let e = errors("FROM alpine\nENV =x\nARG =y\n");
    assert_eq!(
        e.iter()
            .filter(|(c, _)| c == "slipway::syntax::missing-arguments")
            .count(),
        2,
        "{e:?}"
    );
    // And none of these in a correct file.
    assert!(errors(
        "ARG IMG=alpine\nFROM $IMG AS a\nFROM a\nCOPY --from=a /x /y\nCOPY <<EOF /etc/x\nhi\nEOF\nVOLUME /data\n"
    )
    .is_empty());
}

#[test]
fn targetstage_is_the_target_or_the_last_stage() {
    let src = "FROM alpine AS one\nFROM alpine AS two\nARG TARGETSTAGE\nENV T=$TARGETSTAGE\n";
    let parsed = parse(src);
    let value = |options: &CheckOptions| {
        let m = model::analyze(src, &parsed.file, options);
        m.vars.iter().find(|v| v.name == "T").unwrap().value.clone().unwrap()
    };
    assert_eq!(value(&CheckOptions::default()), "two");
    assert_eq!(
        value(&CheckOptions {
            target: Some("one".into()),
            ..CheckOptions::default()
        }),
        "one"
    );
}

#[test]
fn commands_are_expanded_where_buildkit_expands_them() {
    let src = "FROM alpine\nARG V=1.2\nENV A=old\nENV A=new B=$A\nCOPY --chown=$V app-$V.tgz /opt/$V/\nRUN echo $V\nCMD echo $V\nWORKDIR /srv/${V}\nRUN --mount=type=cache,target=/c/$V true\nHEALTHCHECK --interval=1m30s --retries=3 CMD [\"curl\", \"-f\"]\n";
    let parsed = parse(src);
    let m = model::analyze(src, &parsed.file, &CheckOptions::default());
    let cmd = |i: usize| m.commands[i].clone().unwrap();
    // Pairs of one ENV see the environment before it.
    assert_eq!(
        cmd(3),
        model::Command::Env {
            pairs: vec![("A".into(), "new".into()), ("B".into(), "old".into())]
        }
    );
    let model::Command::Copy(c) = cmd(4) else { panic!() };
    assert_eq!(
        (c.sources, c.dest, c.chown),
        (
            vec!["app-1.2.tgz".to_string()],
            "/opt/1.2/".to_string(),
            Some("1.2".to_string())
        )
    );
    // RUN and CMD are left to the shell.
    assert_eq!(
        cmd(5),
        model::Command::Run {
            command: model::CommandLine::Shell("echo $V".into()),
            mounts: vec![],
            network: None,
            security: None
        }
    );
    assert_eq!(
        cmd(6),
        model::Command::Cmd {
            command: model::CommandLine::Shell("echo $V".into())
        }
    );
    assert_eq!(
        cmd(7),
        model::Command::Workdir {
            path: "/srv/1.2".into()
        }
    );
    // Mount values are expanded.
    let model::Command::Run { mounts, .. } = cmd(8) else {
        panic!()
    };
    assert_eq!(mounts[0].target.as_deref(), Some("/c/1.2"));
    let model::Command::Healthcheck(h) = cmd(9) else {
        panic!()
    };
    assert_eq!((h.interval.map(|d| d.as_secs()), h.retries), (Some(90), Some(3)));
    assert_eq!(h.test, Some(model::CommandLine::Exec(vec!["curl".into(), "-f".into()])));
}

#[test]
fn predefined_platform_args_take_the_target_platform() {
    let src = "FROM scratch\nARG TARGETPLATFORM TARGETOS TARGETARCH TARGETVARIANT BUILDPLATFORM\n";
    let parsed = slipway_parser::parse(src);
    let options = CheckOptions {
        platform: Some(slipway_parser::model::PlatformArgs {
            os: "linux".into(),
            architecture: "arm".into(),
            variant: Some("v7".into()),
        }),
        ..CheckOptions::default()
    };
    let m = slipway_parser::model::analyze(src, &parsed.file, &options);
    let value = |name: &str| {
        m.vars
            .iter()
            .find(|v| v.name == name)
            .and_then(|v| v.value.clone())
            .unwrap_or_default()
    };
    assert_eq!(value("TARGETPLATFORM"), "linux/arm/v7");
    assert_eq!(value("TARGETARCH"), "arm");
    assert_eq!(value("TARGETVARIANT"), "v7");
    assert_eq!(
        value("BUILDPLATFORM"),
        slipway_parser::model::PlatformArgs::host().specifier()
    );
}
