//! slipway's best-practice rules (`slipway::lint::*`): for every rule, a
//! Dockerfile where it fires (at the expected line, on the expected text) and
//! one where it must not, including the hadolint false positives it avoids.
//! Rules are named by the hadolint code they correspond to.

use slipway_parser::diagnostics::Diagnostic;
use slipway_parser::suppress::Config;
use slipway_parser::{check, lint, rules, CheckOptions, Severity};

/// The diagnostic code of the rule mapped to a hadolint code.
fn code(hadolint: &str) -> &'static str {
    lint::RULES
        .iter()
        .find(|r| r.hadolint == Some(hadolint))
        .unwrap_or_else(|| panic!("no rule for {hadolint}"))
        .code
}

fn run(src: &str, options: &CheckOptions) -> Vec<Diagnostic> {
    check(src, options).diagnostics
}

/// `(1-based line, text under the span)` of each finding of a rule.
fn hits(src: &str, hadolint: &str, options: &CheckOptions) -> Vec<(usize, String)> {
    run(src, options)
        .iter()
        .filter(|d| d.code == code(hadolint))
        .map(|d| (line_of(src, d.span.start), src[d.span.clone()].to_string()))
        .collect()
}

fn line_of(src: &str, offset: usize) -> usize {
    src[..offset].matches('\n').count() + 1
}

fn column_of(src: &str, offset: usize) -> usize {
    src[..offset].rsplit('\n').next().unwrap_or("").chars().count() + 1
}

fn rule_fires(hadolint: &str, fires: &str, at: (usize, &str), quiet: &str) {
    rule_fires_with(hadolint, fires, at, quiet, &CheckOptions::default());
}

fn rule_fires_with(hadolint: &str, fires: &str, at: (usize, &str), quiet: &str, options: &CheckOptions) {
    let got = hits(fires, hadolint, options);
    assert!(
        got.iter().any(|(line, text)| *line == at.0 && text == at.1),
        "{hadolint} should fire at line {} on {:?} in:\n{fires}\ngot {got:?}\nall: {:?}",
        at.0,
        at.1,
        run(fires, options).iter().map(|d| d.code).collect::<Vec<_>>()
    );
    quiet_for(hadolint, quiet, options);
}

fn quiet_for(hadolint: &str, quiet: &str, options: &CheckOptions) {
    let got = hits(quiet, hadolint, options);
    assert!(got.is_empty(), "{hadolint} must not fire in:\n{quiet}\ngot {got:?}");
}

fn quiet(hadolint: &str, src: &str) {
    quiet_for(hadolint, src, &CheckOptions::default());
}

/// The text after applying the first fix of the rule's first finding.
fn fixed(src: &str, hadolint: &str) -> String {
    let diags = run(src, &CheckOptions::default());
    let d = diags
        .iter()
        .find(|d| d.code == code(hadolint))
        .unwrap_or_else(|| panic!("{hadolint} should fire in:\n{src}"));
    let fix = d
        .fixes
        .first()
        .unwrap_or_else(|| panic!("{hadolint} should have a fix"));
    let mut edits = fix.edits.clone();
    edits.sort_by_key(|e| std::cmp::Reverse(e.span.start));
    let mut out = src.to_string();
    for e in edits {
        out.replace_range(e.span.clone(), &e.text);
    }
    out
}

fn no_fix(src: &str, hadolint: &str) {
    let diags = run(src, &CheckOptions::default());
    let d = diags.iter().find(|d| d.code == code(hadolint)).expect("fires");
    assert!(
        d.fixes.is_empty(),
        "{hadolint} should offer no fix in:\n{src}\ngot {:?}",
        d.fixes
    );
}

// --- The registry ---------------------------------------------------------

#[test]
fn every_rule_is_registered_once_with_hadolint_metadata() {
    let mut seen = std::collections::BTreeSet::new();
    for r in lint::RULES {
        assert!(r.code.starts_with("slipway::lint::"), "{}", r.code);
        assert_eq!(rules::find(r.code).map(|f| f.code), Some(r.code));
        // slipway's own rules (no hadolint counterpart) document themselves elsewhere.
        let Some(h) = r.hadolint else {
            assert!(
                r.url.starts_with("https://") && !r.url.contains("hadolint"),
                "{}",
                r.url
            );
            continue;
        };
        assert!(seen.insert(h), "{h} registered twice");
        assert_eq!(r.url, format!("https://github.com/hadolint/hadolint/wiki/{h}"));
        assert!(!r.buildkit && !r.experimental);
        assert_eq!(rules::find(r.code).map(|f| f.code), Some(r.code));
        assert_eq!(rules::find(h).map(|f| f.code), Some(r.code), "rules::find({h})");
    }
    assert!(lint::RULES.len() >= 45, "{} rules", lint::RULES.len());
}

#[test]
fn aliases_name_buildkit_rules_and_no_rule_of_ours() {
    for (h, bk) in lint::HADOLINT_ALIASES {
        assert!(
            rules::BUILDKIT.iter().any(|r| r.code == *bk),
            "{h} → {bk} is no BuildKit rule"
        );
        let ours = lint::RULES.iter().any(|r| r.hadolint == Some(*h));
        // DL3000 is split: the first relative WORKDIR of a stage is BuildKit's, later ones ours.
        assert_eq!(ours, *h == "DL3000", "{h} is both aliased and a rule of ours");
    }
    for (h, _) in lint::HADOLINT_ERRORS {
        assert!(!lint::RULES.iter().any(|r| r.hadolint == Some(*h)), "{h}");
    }
}

#[test]
fn severities_follow_hadolint_defaults() {
    let sev = |h: &str| rules::find(h).unwrap().severity;
    assert_eq!(sev("DL3000"), Severity::Error);
    assert_eq!(sev("DL3008"), Severity::Warning);
    assert_eq!(sev("DL3059"), Severity::Advice);
    assert_eq!(sev("DL3048"), Severity::Advice, "style is advice");
}

#[test]
fn buildkit_covered_rules_are_not_reported_twice() {
    // DL3025 (JSON args), DL4000 (MAINTAINER), DL4003/DL4004/DL3012 (multiple CMD, ...),
    // DL3024 (duplicate stage) are BuildKit checks: one diagnostic each.
    let src = "FROM alpine:3 AS a\nMAINTAINER me\nCMD echo a\nCMD echo b\nFROM alpine:3 AS a\n";
    let codes: Vec<&str> = run(src, &CheckOptions::default()).iter().map(|d| d.code).collect();
    assert!(codes.iter().all(|c| !c.starts_with("slipway::lint::")), "{codes:?}");
    for bk in [
        "MaintainerDeprecated",
        "JSONArgsRecommended",
        "MultipleInstructionsDisallowed",
        "DuplicateStageName",
    ] {
        assert!(codes.contains(&bk), "{bk} in {codes:?}");
    }
}

// --- Rules on instructions ------------------------------------------------

#[test]
fn dl3000_absolute_workdir() {
    // The first relative WORKDIR of a stage is BuildKit's WorkdirRelativePath: not reported twice.
    let first = "FROM alpine:3\nWORKDIR app\n";
    quiet("DL3000", first);
    assert!(run(first, &CheckOptions::default())
        .iter()
        .any(|d| d.code == "WorkdirRelativePath"));
    rule_fires(
        "DL3000",
        "FROM alpine:3\nWORKDIR /app\nWORKDIR src\n",
        (3, "src"),
        "FROM alpine:3\nWORKDIR /app\nWORKDIR $HOME/src\nARG D=/x\nWORKDIR ${D}/y\nWORKDIR C:\\app\n",
    );
    assert_eq!(
        fixed("FROM alpine:3\nWORKDIR /app\nWORKDIR src/../lib\n", "DL3000"),
        "FROM alpine:3\nWORKDIR /app\nWORKDIR /app/lib\n"
    );
}

#[test]
fn dl3002_last_user_root() {
    rule_fires(
        "DL3002",
        "FROM alpine:3\nUSER 1000\nRUN x\nUSER root\n",
        (4, "root"),
        "FROM alpine:3\nUSER root\nRUN x\nUSER 1000\n",
    );
    // Inherited from the stage it builds on; a build stage only copied from is not an image.
    rule_fires(
        "DL3002",
        "FROM alpine:3 AS base\nUSER 0:0\nFROM base\nRUN x\n",
        (2, "0:0"),
        "FROM alpine:3 AS build\nUSER root\nRUN make\nFROM alpine:3\nCOPY --from=build /out /out\nUSER app\n",
    );
    // ARGs resolved.
    rule_fires(
        "DL3002",
        "FROM alpine:3\nARG U=root\nUSER $U\n",
        (3, "$U"),
        "FROM alpine:3\nARG U=nobody\nUSER $U\n",
    );
}

#[test]
fn dl3006_untagged_image_resolves_args() {
    rule_fires(
        "DL3006",
        "FROM debian\nRUN x\n",
        (1, "debian"),
        "FROM debian:12\nFROM debian@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\nFROM scratch\n",
    );
    // hadolint false positive fixed: the ARG default is tagged.
    quiet("DL3006", "ARG IMAGE=alpine:3.20\nFROM ${IMAGE}\n");
    quiet("DL3007", "ARG IMAGE=alpine:3.20\nFROM ${IMAGE}\n");
    // ... and an untagged default is found (hadolint cannot see it).
    rule_fires(
        "DL3006",
        "ARG IMAGE=alpine\nFROM ${IMAGE}\n",
        (2, "${IMAGE}"),
        "ARG IMAGE\nFROM ${IMAGE}\n",
    );
    // Stage references, also through ARGs, are not images.
    quiet(
        "DL3006",
        "ARG V=a\nFROM alpine:3 AS stage-a\nFROM stage-${V}\nFROM stage-a AS b\n",
    );
    quiet("DL3006", "FROM alpine:${VERSION}\n");
}

#[test]
fn dl3007_latest_tag() {
    rule_fires(
        "DL3007",
        "FROM alpine:latest\n",
        (1, "latest"),
        "FROM alpine:3\nFROM alpine:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\n",
    );
    rule_fires(
        "DL3007",
        "ARG TAG=latest\nFROM alpine:${TAG}\n",
        (2, "alpine:${TAG}"),
        "ARG TAG=3.20\nFROM alpine:${TAG}\n",
    );
}

#[test]
fn dl3011_valid_ports() {
    rule_fires(
        "DL3011",
        "FROM alpine:3\nEXPOSE 80 65536/tcp\n",
        (2, "65536/tcp"),
        "FROM alpine:3\nEXPOSE 80 65535/udp 8000-8080\n",
    );
    rule_fires(
        "DL3011",
        "FROM alpine:3\nARG P=70000\nEXPOSE $P\n",
        (3, "$P"),
        "FROM alpine:3\nEXPOSE $UNKNOWN\n",
    );
}

#[test]
fn dl3020_copy_instead_of_add() {
    rule_fires(
        "DL3020",
        "FROM alpine:3\nADD app.py /app/\n",
        (2, "ADD"),
        "FROM alpine:3\nADD https://example.com/a.txt /a\nADD rootfs.tar.xz /\nADD git@github.com:a/b.git /src\nADD $URL /x\n",
    );
    assert_eq!(
        fixed("FROM alpine:3\nadd . /app\n", "DL3020"),
        "FROM alpine:3\ncopy . /app\n"
    );
    no_fix("FROM alpine:3\nADD --checksum=sha256:abc a /a\n", "DL3020");
}

#[test]
fn dl3021_copy_destination_is_a_directory() {
    rule_fires(
        "DL3021",
        "FROM alpine:3\nCOPY a b /dest\n",
        (2, "/dest"),
        "FROM alpine:3\nCOPY a b /dest/\nCOPY a /dest\n",
    );
    assert_eq!(
        fixed("FROM alpine:3\nCOPY a b /dest\n", "DL3021"),
        "FROM alpine:3\nCOPY a b /dest/\n"
    );
}

#[test]
fn dl3022_copy_from_unknown_alias() {
    rule_fires(
        "DL3022",
        "FROM alpine:3 AS build\nFROM alpine:3\nCOPY --from=biuld /a /a\n",
        (3, "biuld"),
        "FROM alpine:3 AS build\nFROM alpine:3\nCOPY --from=build /a /a\nCOPY --from=0 /a /a\nCOPY --from=nginx:1 /a /a\nCOPY --from=ghcr.io/x/y /a /a\n",
    );
    let d = run(
        "FROM alpine:3 AS build\nFROM alpine:3\nCOPY --from=biuld /a /a\n",
        &CheckOptions::default(),
    );
    let help = d.iter().find(|d| d.code == code("DL3022")).and_then(|d| d.help.clone());
    assert_eq!(help.as_deref(), Some("did you mean `--from=build`?"));
}

#[test]
fn dl3023_copy_from_itself_is_a_build_error() {
    // BuildKit rejects it; slipway's build error covers hadolint's DL3023.
    let src = "FROM alpine:3 AS a\nCOPY --from=a /x /y\n";
    let codes: Vec<&str> = run(src, &CheckOptions::default()).iter().map(|d| d.code).collect();
    let (_, covering) = lint::HADOLINT_ERRORS.iter().find(|(h, _)| *h == "DL3023").unwrap();
    assert!(codes.contains(covering), "{codes:?}");
}

#[test]
fn dl3026_trusted_registries() {
    let options = CheckOptions {
        config: Config {
            trusted_registries: vec!["docker.io".into(), "*.corp.example".into()],
            ..Config::default()
        },
        ..CheckOptions::default()
    };
    rule_fires_with(
        "DL3026",
        "FROM ghcr.io/a/b:1\nFROM alpine:3 AS s\nCOPY --from=quay.io/x/y:1 /a /a\n",
        (1, "ghcr.io/a/b:1"),
        "FROM alpine:3 AS s\nFROM registry.corp.example/a:1\nFROM s\nFROM scratch\nCOPY --from=s /a /a\n",
        &options,
    );
    assert_eq!(
        hits("FROM alpine:3\nCOPY --from=quay.io/x/y:1 /a /a\n", "DL3026", &options),
        [(2, "quay.io/x/y:1".to_string())]
    );
    // Without a configured list, every registry is fine.
    quiet("DL3026", "FROM ghcr.io/a/b:1\n");
}

#[test]
fn dl3026_run_mount_from_an_image_is_checked() {
    // Regression: `RUN --mount=from=<image>` pulls an image and was not checked.
    let options = CheckOptions {
        config: Config {
            trusted_registries: vec!["docker.io".into()],
            ..Config::default()
        },
        ..CheckOptions::default()
    };
    rule_fires_with(
        "DL3026",
        "FROM alpine:3\nRUN --mount=type=bind,from=quay.io/x/tools:1,target=/t /t/run\n",
        (2, "quay.io/x/tools:1"),
        "FROM alpine:3 AS tools\nFROM alpine:3\nRUN --mount=type=bind,from=tools,target=/t /t/run\nRUN --mount=from=busybox:1,target=/b /b/sh\n",
        &options,
    );
}

#[test]
fn copy_from_the_index_of_the_current_or_a_later_stage_is_a_build_error() {
    // Regression: `COPY --from=<index>` of the current or a later stage raised nothing.
    let order = |src: &str| {
        run(src, &CheckOptions::default())
            .iter()
            .filter(|d| d.code == slipway_parser::diagnostics::codes::STAGE_ORDER)
            .map(|d| src[d.span.clone()].to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(order("FROM alpine:3\nCOPY --from=0 /x /y\n"), ["0"]);
    assert_eq!(order("FROM alpine:3\nCOPY --from=1 /x /y\nFROM alpine:3\n"), ["1"]);
    assert!(order("FROM alpine:3\nFROM alpine:3\nCOPY --from=0 /x /y\n").is_empty());
    // A stage named like a number is found by its name first.
    assert!(order("FROM alpine:3 AS 1\nFROM alpine:3\nCOPY --from=1 /x /y\n").is_empty());
}

#[test]
fn dl3044_env_self_reference() {
    rule_fires(
        "DL3044",
        "FROM alpine:3\nENV A=1 B=\"x${A}\"\n",
        (2, "${A}"),
        "FROM alpine:3\nENV A=1\nENV B=$A\nENV A=2 C=$A\nENV PATH=/x:$PATH\nENV AB=1 C=$ABC\n",
    );
}

#[test]
fn dl3045_copy_relative_without_workdir() {
    rule_fires(
        "DL3045",
        "FROM alpine:3\nCOPY app.py app/\n",
        (2, "app/"),
        "FROM alpine:3\nCOPY a /app/\nWORKDIR /app\nCOPY b .\nFROM alpine:3\nCOPY c $HOME\n",
    );
    // WORKDIR is inherited from the stage built on.
    quiet("DL3045", "FROM alpine:3 AS base\nWORKDIR /src\nFROM base\nCOPY . .\n");
}

#[test]
fn dl3048_label_keys() {
    rule_fires(
        "DL3048",
        "FROM alpine:3\nLABEL org.example.ok=1 Maintainer=me\n",
        (2, "Maintainer"),
        "FROM alpine:3\nLABEL org.opencontainers.image.title=x maintainer=me \"a-b_c/d\"=1\n",
    );
    rule_fires(
        "DL3048",
        "FROM alpine:3\nLABEL com.docker.thing=1\n",
        (2, "com.docker.thing"),
        "FROM alpine:3\nLABEL com.example.thing=1\n",
    );
}

#[test]
fn dl3059_consecutive_runs() {
    rule_fires(
        "DL3059",
        "FROM alpine:3\nRUN a\n# comment\nRUN b\n",
        (4, "RUN"),
        "FROM alpine:3\nRUN a\nENV X=1\nRUN b\nRUN --mount=type=cache,target=/c c\nRUN d && e\nRUN f\n",
    );
    // Regression: Windows RUNs (cmd, PowerShell) were never counted, so two one-command
    // RUNs in a Windows stage went unreported; a PowerShell script of several statements
    // is several commands.
    rule_fires(
        "DL3059",
        "FROM mcr.microsoft.com/windows/servercore:ltsc2022\nRUN setx /M PATH \"C:\\bin;%PATH%\"\n\
         RUN powershell busybox.exe --list ^|%{$nul = cmd /c mklink C:\\bin\\$_.exe busybox.exe}\n",
        (3, "RUN"),
        "FROM mcr.microsoft.com/windows/servercore:ltsc2022\nRUN setx /M PATH x && mkdir C:\\y\n\
         RUN powershell -Command \"$ErrorActionPreference = 'Stop'; Invoke-WebRequest -OutFile a.zip $url; Expand-Archive a.zip\"\n\
         RUN echo one\n",
    );
    // The base image's SHELL may be PowerShell: `;`-separated statements are commands too.
    quiet(
        "DL3059",
        "FROM mcr.microsoft.com/dotnet/framework/aspnet:4.8-windowsservercore-ltsc2016\n\
         RUN Add-WindowsFeature A; Add-WindowsFeature B\nRUN &$Env:windir\\appcmd set app x\n",
    );
    rule_fires(
        "DL3059",
        "FROM mcr.microsoft.com/windows/nanoserver:ltsc2022\nSHELL [\"pwsh\", \"-Command\"]\n\
         RUN Get-Process notepad | Stop-Process\nRUN Remove-Item -Force a.zip\n",
        (4, "RUN"),
        "FROM mcr.microsoft.com/windows/nanoserver:ltsc2022\nSHELL [\"pwsh\", \"-Command\"]\n\
         RUN Remove-Item a; Remove-Item b\nRUN if ($x) { a; b }; Write-Host 'x; y'\n",
    );
}

#[test]
fn dl3066_numeric_user() {
    rule_fires(
        "DL3066",
        "FROM alpine:3\nUSER app:app\n",
        (2, "app:app"),
        "FROM alpine:3\nUSER 1000:1000\nARG UID=1001\nUSER $UID\nUSER $FROM_BASE_IMAGE\n",
    );
}

#[test]
fn dl3067_copy_whole_filesystem() {
    rule_fires(
        "DL3067",
        "FROM alpine:3 AS a\nFROM scratch\nCOPY --from=a / /\n",
        (3, "COPY --from=a / /"),
        "FROM alpine:3 AS a\nFROM scratch\nCOPY --from=a /bin /bin\nCOPY / /\n",
    );
}

// --- Rules on RUN commands -------------------------------------------------

#[test]
fn dl3001_pointless_commands() {
    rule_fires(
        "DL3001",
        "FROM alpine:3\nRUN apk add x && service nginx start\n",
        (2, "service"),
        "FROM alpine:3\nRUN apk add procps && echo ps top\n",
    );
}

#[test]
fn dl3003_cd() {
    rule_fires(
        "DL3003",
        "FROM alpine:3\nRUN make -C x && cd /src && make\n",
        (2, "cd"),
        "FROM alpine:3\nWORKDIR /src\nRUN make\nRUN echo cd\n",
    );
}

#[test]
fn dl3004_sudo() {
    rule_fires(
        "DL3004",
        "FROM alpine:3\nRUN x; sudo apk add y\n",
        (2, "sudo"),
        "FROM alpine:3\nRUN echo sudo; apk add sudo\n",
    );
}

#[test]
fn dl3008_apt_get_pins() {
    rule_fires(
        "DL3008",
        "FROM debian:12\nRUN apt-get update && apt-get install -y --no-install-recommends \\\n    curl=8.0 \\\n    wget \\\n && rm -rf /var/lib/apt/lists/*\n",
        (4, "wget"),
        "FROM debian:12\nRUN apt-get install -y --no-install-recommends curl=8.0 ./local.deb pkg/bookworm-backports -t bookworm\n",
    );
    // Variables from ARG/ENV are looked into (hadolint cannot).
    rule_fires(
        "DL3008",
        "FROM debian:12\nARG PKGS=\"curl=1 wget\"\nRUN apt-get install -y --no-install-recommends $PKGS\n",
        (3, "$PKGS"),
        "FROM debian:12\nARG PKGS=\"curl=1 wget=2\"\nRUN apt-get install -y --no-install-recommends $PKGS $UNKNOWN\n",
    );
}

#[test]
fn dl3009_apt_lists() {
    rule_fires(
        "DL3009",
        "FROM debian:12\nRUN apt-get update && apt-get install -y x\n",
        (2, "apt-get update"),
        "FROM debian:12\nRUN apt-get update && apt-get install -y x && rm -rf /var/lib/apt/lists/*\nRUN apt-get update && apt-get install -y y && apt-get dist-clean\n",
    );
    // Cache mounts make the clean-up moot (hadolint false positive).
    quiet(
        "DL3009",
        "FROM debian:12\nRUN --mount=type=cache,target=/var/lib/apt/lists apt-get update && apt-get install -y x\n\
         RUN --mount=type=cache,target=/var/lib/apt,sharing=locked apt-get update\n",
    );
    // A build stage that is only copied from ships nothing.
    quiet(
        "DL3009",
        "FROM debian:12 AS build\nRUN apt-get update\nFROM scratch\nCOPY --from=build /a /a\n",
    );
    assert_eq!(
        fixed("FROM debian:12\nRUN apt-get update && apt-get install -y x\n", "DL3009"),
        "FROM debian:12\nRUN apt-get update && apt-get install -y x && rm -rf /var/lib/apt/lists/*\n"
    );
}

#[test]
fn dl3013_pip_pins() {
    rule_fires(
        "DL3013",
        "FROM python:3\nRUN pip install --no-cache-dir flask==3 requests\n",
        (2, "requests"),
        "FROM python:3\nRUN pip install --no-cache-dir -r requirements.txt\nRUN pip install --no-cache-dir . \nRUN pip3 install --no-cache-dir 'a>=1' ./dist/b.whl git+https://x/y@v1 -c c.txt\n",
    );
    // Found through a path and `python -m pip`.
    rule_fires(
        "DL3013",
        "FROM python:3\nRUN python3 -m pip install --no-cache-dir six\n",
        (2, "six"),
        "FROM python:3\nRUN python3 -m pip install --no-cache-dir six==1\n",
    );
    rule_fires(
        "DL3013",
        "FROM python:3\nRUN /venv/bin/pip install --no-cache-dir six\n",
        (2, "six"),
        "FROM python:3\nRUN pipx install six==1\n",
    );
}

#[test]
fn dl3014_apt_get_yes() {
    rule_fires(
        "DL3014",
        "FROM debian:12\nRUN apt-get install --no-install-recommends curl=1\n",
        (2, "apt-get install"),
        "FROM debian:12\nRUN apt-get -y install --no-install-recommends a=1 && apt-get install -qq --no-install-recommends b=1 \
         && apt-get install -q -q --no-install-recommends c=1 && apt-get --assume-yes install --no-install-recommends d=1\n",
    );
    assert_eq!(
        fixed(
            "FROM debian:12\nRUN apt-get install --no-install-recommends curl=1\n",
            "DL3014"
        ),
        "FROM debian:12\nRUN apt-get install -y --no-install-recommends curl=1\n"
    );
}

#[test]
fn dl3015_no_install_recommends() {
    rule_fires(
        "DL3015",
        "FROM debian:12\nRUN apt-get install -y curl=1\n",
        (2, "apt-get install"),
        "FROM debian:12\nRUN apt-get install -y --no-install-recommends a=1 && apt-get install -y -o APT::Install-Recommends=false b=1\n",
    );
    // Configured by an earlier RUN.
    quiet(
        "DL3015",
        "FROM debian:12\nRUN echo 'APT::Install-Recommends \"false\";' > /etc/apt/apt.conf.d/90norecommends\nRUN apt-get install -y a=1\n",
    );
    assert_eq!(
        fixed("FROM debian:12\nRUN apt-get install -y curl=1\n", "DL3015"),
        "FROM debian:12\nRUN apt-get install --no-install-recommends -y curl=1\n"
    );
}

#[test]
fn dl3016_npm_pins() {
    rule_fires(
        "DL3016",
        "FROM node:22\nRUN npm install -g typescript@5 express\n",
        (2, "express"),
        "FROM node:22\nRUN npm install\nRUN npm install @scope/pkg@1.2 ./local git+https://x/y#v1 a.tgz\nRUN npm ci\n",
    );
}

#[test]
fn dl3018_apk_pins() {
    rule_fires(
        "DL3018",
        "FROM alpine:3\nRUN apk add --no-cache curl=8.0-r0 git\n",
        (2, "git"),
        "FROM alpine:3\nRUN apk add --no-cache curl=8.0-r0 'bash>5' --virtual .deps x~1 ./local.apk\n",
    );
}

#[test]
fn dl3019_apk_no_cache() {
    rule_fires(
        "DL3019",
        "FROM alpine:3\nRUN apk add curl=8\n",
        (2, "apk add"),
        "FROM alpine:3\nRUN apk add --no-cache curl=8\nRUN --mount=type=cache,target=/var/cache/apk apk add curl=8\n",
    );
    assert_eq!(
        fixed("FROM alpine:3\nRUN apk add curl=8\n", "DL3019"),
        "FROM alpine:3\nRUN apk add --no-cache curl=8\n"
    );
}

#[test]
fn dl3027_apt() {
    rule_fires(
        "DL3027",
        "FROM debian:12\nRUN apt install -y curl=1\n",
        (2, "apt"),
        "FROM debian:12\nRUN apt-get install -y curl=1 && echo apt\n",
    );
    assert_eq!(
        fixed("FROM debian:12\nRUN apt update\n", "DL3027"),
        "FROM debian:12\nRUN apt-get update\n"
    );
    no_fix("FROM debian:12\nRUN apt list --installed\n", "DL3027");
}

#[test]
fn dl3013_pipx_install_needs_a_pin() {
    rule_fires(
        "DL3013",
        "FROM python:3\nRUN pipx install black\n",
        (2, "black"),
        "FROM python:3\nRUN pipx install --python \"$(which python)\" \"poetry==1.8.5\"\nRUN pipx install black==24.1.0\nRUN pipx install --suffix=@1 ./tool\n",
    );
}

#[test]
fn dl3028_gem_pins() {
    rule_fires(
        "DL3028",
        "FROM ruby:3\nRUN gem install rails:7 bundler\n",
        (2, "bundler"),
        "FROM ruby:3\nRUN gem install bundler -v 2.5\nRUN gem install --no-document rails:7\n",
    );
}

#[test]
fn dl3028_words_after_double_dash_are_build_options_not_gems() {
    // Regression: `gem install NAME:VER -- --build-flag` reported the build flag as a gem.
    rule_fires(
        "DL3028",
        "FROM ruby:3\nRUN gem install mysql2 -- --with-mysql-dir=/usr\n",
        (2, "mysql2"),
        "FROM ruby:3\nRUN gem install mysql2:0.5.6 -- --with-mysql-config=/usr/bin/mysql_config extra\n",
    );
}

#[test]
fn package_words_after_double_dash_are_still_packages_elsewhere() {
    // apt-get, apk, pip, yum, npm: `--` only ends the options; what follows are packages.
    for (dl, src, at) in [
        ("DL3008", "FROM debian:12\nRUN apt-get install -y -- curl\n", "curl"),
        ("DL3018", "FROM alpine:3\nRUN apk add --no-cache -- curl\n", "curl"),
        (
            "DL3013",
            "FROM python:3\nRUN pip install --no-cache-dir -- flask\n",
            "flask",
        ),
        (
            "DL3033",
            "FROM centos:7\nRUN yum install -y -- httpd && yum clean all\n",
            "httpd",
        ),
        ("DL3016", "FROM node:20\nRUN npm install -- left-pad\n", "left-pad"),
    ] {
        assert_eq!(
            hits(src, dl, &CheckOptions::default()),
            [(2, at.to_string())],
            "{dl}: {src}"
        );
    }
}

#[test]
fn dl3030_yum_yes() {
    rule_fires(
        "DL3030",
        "FROM centos:7\nRUN yum install a-1.0 && yum clean all\n",
        (2, "yum install"),
        "FROM centos:7\nRUN yum install -y a-1.0 && yum clean all\n",
    );
    assert_eq!(
        fixed("FROM centos:7\nRUN yum install a-1.0 && yum clean all\n", "DL3030"),
        "FROM centos:7\nRUN yum install -y a-1.0 && yum clean all\n"
    );
}

#[test]
fn dl3032_yum_clean() {
    rule_fires(
        "DL3032",
        "FROM centos:7\nRUN yum install -y a-1.0\n",
        (2, "yum install"),
        "FROM centos:7\nRUN yum install -y a-1.0 && yum clean all\nRUN --mount=type=cache,target=/var/cache/yum yum install -y b-1.0\n",
    );
}

#[test]
fn dl3033_yum_pins() {
    rule_fires(
        "DL3033",
        "FROM centos:7\nRUN yum install -y httpd-2.4 php && yum clean all\n",
        (2, "php"),
        "FROM centos:7\nARG V=8.0\nRUN yum install -y httpd-2.4.6 ./x.rpm php-$V && yum clean all\n",
    );
}

#[test]
fn dl3034_zypper_non_interactive() {
    rule_fires(
        "DL3034",
        "FROM opensuse/leap:15\nRUN zypper install a=1 && zypper clean\n",
        (2, "zypper install"),
        "FROM opensuse/leap:15\nRUN zypper -n install a=1 && zypper install -y b=1 && zypper clean\n",
    );
    assert_eq!(
        fixed(
            "FROM opensuse/leap:15\nRUN zypper install a=1 && zypper clean\n",
            "DL3034"
        ),
        "FROM opensuse/leap:15\nRUN zypper -n install a=1 && zypper clean\n"
    );
}

#[test]
fn dl3035_zypper_dist_upgrade() {
    rule_fires(
        "DL3035",
        "FROM opensuse/leap:15\nRUN zypper -n dup\n",
        (2, "dup"),
        "FROM opensuse/leap:15\nRUN zypper -n update\n",
    );
}

#[test]
fn dl3036_zypper_clean() {
    rule_fires(
        "DL3036",
        "FROM opensuse/leap:15\nRUN zypper -n install a=1\n",
        (2, "zypper -n install"),
        "FROM opensuse/leap:15\nRUN zypper -n install a=1 && zypper cc\nRUN --mount=type=cache,target=/var/cache/zypp zypper -n in b=1\n",
    );
}

#[test]
fn dl3037_zypper_pins() {
    rule_fires(
        "DL3037",
        "FROM opensuse/leap:15\nRUN zypper -n install a=1 b && zypper clean\n",
        (2, "b"),
        "FROM opensuse/leap:15\nRUN zypper -n install 'a>=1' c.rpm && zypper clean\n",
    );
}

#[test]
fn dl3038_dnf_yes() {
    rule_fires(
        "DL3038",
        "FROM fedora:40\nRUN microdnf install a-1.0 && microdnf clean all\n",
        (2, "microdnf install"),
        "FROM fedora:40\nRUN dnf install -y a-1.0 && dnf clean all\n",
    );
}

#[test]
fn dl3040_dnf_clean() {
    rule_fires(
        "DL3040",
        "FROM fedora:40\nRUN dnf install -y a-1.0\n",
        (2, "dnf install"),
        "FROM fedora:40\nRUN dnf install -y a-1.0 && dnf clean all\nRUN --mount=type=cache,target=/var/cache/libdnf5 dnf install -y b-1.0\n",
    );
}

#[test]
fn dl3040_clean_up_by_another_tool_is_not_dnfs() {
    // Regression: `microdnf clean all` was taken as the clean-up of `dnf install`.
    rule_fires(
        "DL3040",
        "FROM fedora:40\nRUN dnf install -y a-1.0 && microdnf clean all\n",
        (2, "dnf install"),
        "FROM fedora:40\nRUN microdnf install -y a-1.0 && microdnf clean all\nRUN dnf install -y a-1.0 && rm -rf /var/cache/dnf\n",
    );
    // Both tools install: each needs its own clean-up.
    assert_eq!(
        hits(
            "FROM fedora:40\nRUN dnf install -y a-1.0 && microdnf install -y b-1.0 && dnf clean all\n",
            "DL3040",
            &CheckOptions::default()
        ),
        [(2, "microdnf install".to_string())]
    );
    // yum's cache is not zypper's, and `dnf clean all` is not yum's clean-up.
    rule_fires(
        "DL3032",
        "FROM centos:7\nRUN yum install -y a-1.0 && dnf clean all\n",
        (2, "yum install"),
        "FROM centos:7\nRUN yum install -y a-1.0 && rm -rf /var/cache/yum\n",
    );
    rule_fires(
        "DL3036",
        "FROM opensuse/leap:15\nRUN zypper install -y a=1.0 && rm -rf /var/cache/yum\n",
        (2, "zypper install"),
        "FROM opensuse/leap:15\nRUN zypper install -y a=1.0 && zypper clean\n",
    );
}

#[test]
fn dl3041_dnf_pins() {
    rule_fires(
        "DL3041",
        "FROM fedora:40\nRUN dnf install -y a-1.0 b && dnf clean all\n",
        (2, "b"),
        "FROM fedora:40\nENV V=2.1\nRUN dnf install -y \"a-$V\" b-1.0 && dnf module install -y nodejs:20 && dnf clean all\n",
    );
}

#[test]
fn dl3042_pip_no_cache_dir() {
    rule_fires(
        "DL3042",
        "FROM python:3\nRUN pip install -r requirements.txt\n",
        (2, "pip install"),
        "FROM python:3\nRUN pip install --no-cache-dir -r r.txt\nRUN PIP_NO_CACHE_DIR=1 pip install -r r.txt\n",
    );
    // An ENV, or a cache mount, makes it moot (hadolint flags the mount).
    quiet(
        "DL3042",
        "FROM python:3\nENV PIP_NO_CACHE_DIR=1\nRUN pip install -r r.txt\n",
    );
    quiet(
        "DL3042",
        "FROM python:3\nRUN --mount=type=cache,target=/root/.cache/pip pip install -r r.txt\n",
    );
    assert_eq!(
        fixed("FROM python:3\nRUN pip install -r r.txt\n", "DL3042"),
        "FROM python:3\nRUN pip install --no-cache-dir -r r.txt\n"
    );
}

#[test]
fn dl3046_useradd_high_uid() {
    rule_fires(
        "DL3046",
        "FROM debian:12\nRUN useradd -u 123456 app\n",
        (2, "-u"),
        "FROM debian:12\nRUN useradd -l -u 123456 app\nRUN useradd -u 1000 app\nARG UID=1000\nRUN useradd --uid $UID app\n",
    );
    assert_eq!(
        fixed("FROM debian:12\nRUN useradd -u 123456 app\n", "DL3046"),
        "FROM debian:12\nRUN useradd -l -u 123456 app\n"
    );
}

#[test]
fn dl3047_wget_progress() {
    rule_fires(
        "DL3047",
        "FROM debian:12\nRUN wget https://x/y\n",
        (2, "wget"),
        "FROM debian:12\nRUN wget -q https://x/y && wget -nv z && wget --progress=dot:giga w && wget -qO- v\n",
    );
}

#[test]
fn dl3060_yarn_cache() {
    rule_fires(
        "DL3060",
        "FROM node:22\nRUN yarn install\n",
        (2, "yarn install"),
        "FROM node:22\nRUN yarn install && yarn cache clean\n",
    );
    quiet(
        "DL3060",
        "FROM node:22\nRUN --mount=type=cache,target=/usr/local/share/.cache/yarn yarn install\n",
    );
}

#[test]
fn dl3062_go_pins() {
    rule_fires(
        "DL3062",
        "FROM golang:1\nRUN go install golang.org/x/tools/gopls@latest\n",
        (2, "golang.org/x/tools/gopls@latest"),
        "FROM golang:1\nRUN go install golang.org/x/tools/gopls@v0.16.0 ./cmd/... && go get -d ./...\n",
    );
}

#[test]
fn dl4001_wget_and_curl() {
    rule_fires(
        "DL4001",
        "FROM debian:12\nRUN curl -o a https://x\nRUN wget -q https://y\n",
        (3, "wget"),
        "FROM debian:12\nRUN curl -o a https://x\nFROM debian:12\nRUN wget -q https://y\n",
    );
}

#[test]
fn dl4005_shell_symlink() {
    rule_fires(
        "DL4005",
        "FROM debian:12\nRUN ln -sf /bin/bash /bin/sh\n",
        (2, "/bin/sh"),
        "FROM debian:12\nSHELL [\"/bin/bash\", \"-c\"]\nRUN ln -s /bin/bash /usr/local/bin/sh2\n",
    );
}

#[test]
fn dl4006_pipefail() {
    rule_fires(
        "DL4006",
        "FROM debian:12\nRUN curl -fsSL https://x | sh\n",
        (2, "|"),
        "FROM debian:12\nRUN a || b\nSHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\nRUN curl -fsSL https://x | sh\n",
    );
    // `set -o pipefail` in the script itself (hadolint only looks at SHELL).
    quiet("DL4006", "FROM debian:12\nRUN set -euo pipefail; curl x | sh\n");
    quiet(
        "DL4006",
        "FROM debian:12\nRUN [\"/bin/bash\", \"-eo\", \"pipefail\", \"-c\", \"a | b\"]\n",
    );
    // Inherited SHELL; case patterns are not pipes.
    quiet(
        "DL4006",
        "FROM debian:12 AS a\nSHELL [\"/bin/bash\", \"-eo\", \"pipefail\", \"-c\"]\nFROM a\nRUN a | b\n",
    );
    quiet("DL4006", "FROM debian:12\nRUN case \"$x\" in a|b) echo ;; esac\n");
    // Windows images run cmd, not sh.
    quiet(
        "DL4006",
        "FROM mcr.microsoft.com/windows/servercore:ltsc2022\nRUN dir | findstr x\n",
    );
}

// --- `# hadolint shell=` ----------------------------------------------------

/// `# hadolint shell=NAME` names the shell of the RUNs below it (hadolint: "so that
/// Hadolint can automatically ignore all shell-specific rules"): a non-POSIX shell
/// turns the rules that read RUN scripts as POSIX shell off.
#[test]
fn shell_pragma_turns_off_posix_shell_rules() {
    // In a stage: from the pragma on.
    rule_fires(
        "DL3003",
        "FROM debian:12\nRUN cd /x\n# hadolint shell=powershell\nRUN cd /y\n",
        (2, "cd"),
        "FROM debian:12\n# hadolint shell=powershell\nRUN cd /x\nRUN Get-Item x | Remove-Item\n",
    );
    quiet(
        "DL4006",
        "FROM debian:12\n# hadolint shell=pwsh\nRUN Get-Item x | Remove-Item\n",
    );
    quiet(
        "DL3008",
        "FROM debian:12\n# hadolint shell=cmd # the base image is odd\nRUN apt-get install x\n",
    );
    // Before the first FROM: every stage not built on another.
    quiet(
        "DL4006",
        "# hadolint shell=powershell\nFROM mcr.microsoft.com/powershell AS a\nRUN Get-Item x | Remove-Item\n\
         FROM a\nRUN Get-Item y | Remove-Item\n",
    );
    // A stage's pragma stays in the stage (and the stages built on it).
    rule_fires(
        "DL4006",
        "FROM debian:12 AS a\n# hadolint shell=powershell\nRUN a | b\nFROM debian:12\nRUN c | d\n",
        (5, "|"),
        "FROM debian:12 AS a\n# hadolint shell=powershell\nRUN a | b\nFROM a\nRUN c | d\n",
    );
    // A SHELL instruction after the pragma wins, and a POSIX shell keeps the rules on.
    rule_fires(
        "DL4006",
        "FROM debian:12\n# hadolint shell=powershell\nSHELL [\"/bin/sh\", \"-c\"]\nRUN a | b\n",
        (4, "|"),
        "FROM debian:12\nSHELL [\"/bin/bash\", \"-o\", \"pipefail\", \"-c\"]\n# hadolint shell=powershell\nRUN a | b\n",
    );
    rule_fires(
        "DL3003",
        "FROM debian:12\n# hadolint shell=bash\nRUN cd /x\n",
        (3, "cd"),
        "FROM debian:12\n# hadolint shell=pwsh\nRUN cd /x\n",
    );
    // Not pragmas: other words after the name, a comment inside the RUN's continuation.
    let src =
        "FROM debian:12\n# hadolint shell=powershell extra\nRUN echo \\\n# hadolint shell=powershell\n  && cd /x\n";
    assert_eq!(hits(src, "DL3003", &CheckOptions::default()), [(5, "cd".to_string())]);
}

#[test]
fn shell_pragma_keeps_scripts_from_shellcheck() {
    let src = "FROM debian:12\nRUN echo $a\n# hadolint shell=powershell\nRUN Write-Host $b\n";
    let parsed = slipway_parser::parse(src);
    let model = slipway_parser::model::analyze(src, &parsed.file, &CheckOptions::default());
    let scripts = slipway_parser::scripts::scripts(src, &parsed.file, &model);
    let texts: Vec<&str> = scripts.iter().map(|s| s.text.as_str()).collect();
    assert_eq!(texts, ["echo $a"]);
    // `shell=bash` makes the scripts bash for shellcheck.
    let src = "# hadolint shell=bash\nFROM debian:12\nRUN echo $a\n";
    let parsed = slipway_parser::parse(src);
    let model = slipway_parser::model::analyze(src, &parsed.file, &CheckOptions::default());
    let scripts = slipway_parser::scripts::scripts(src, &parsed.file, &model);
    assert_eq!(scripts.iter().map(|s| s.dialect).collect::<Vec<_>>(), ["bash"]);
}

// --- Where findings land ---------------------------------------------------

#[test]
fn findings_in_multi_line_runs_have_exact_line_and_column() {
    let src = "FROM debian:12\nRUN apt-get update \\\n  # a comment line inside\n  && apt-get install -y \\\n\tcurl \\\n    && sudo true\n";
    let diags = run(src, &CheckOptions::default());
    let at = |h: &str| {
        let d = diags
            .iter()
            .find(|d| d.code == code(h))
            .unwrap_or_else(|| panic!("{h} in {diags:?}"));
        (
            line_of(src, d.span.start),
            column_of(src, d.span.start),
            &src[d.span.clone()],
        )
    };
    assert_eq!(at("DL3008"), (5, 2, "curl"));
    assert_eq!(at("DL3004"), (6, 8, "sudo"));
    assert_eq!(at("DL3015"), (4, 6, "apt-get install"));
}

#[test]
fn heredoc_bodies_are_checked_as_scripts() {
    let src = "FROM debian:12\nRUN <<EOF\nset -e\napt-get install -y --no-install-recommends curl\nEOF\n";
    assert_eq!(hits(src, "DL3008", &CheckOptions::default()), [(4, "curl".to_string())]);
    // `<<-` strips tabs; spans still land on the word.
    let src = "FROM debian:12\nRUN <<-EOF\n\tcd /x\n\tEOF\n";
    assert_eq!(hits(src, "DL3003", &CheckOptions::default()), [(3, "cd".to_string())]);
    // A body fed to a shell is a script; a body written to a file is not.
    let src = "FROM debian:12\nRUN bash <<EOF\nsudo x\nEOF\nRUN cat <<EOF > /etc/x\nsudo y\nEOF\n";
    assert_eq!(hits(src, "DL3004", &CheckOptions::default()), [(3, "sudo".to_string())]);
    // A Python heredoc is not a shell script.
    quiet(
        "DL3004",
        "FROM python:3\nRUN <<EOF\n#!/usr/bin/env python3\nsudo = 1\nEOF\n",
    );
}

#[test]
fn exec_form_runs_are_checked() {
    let src = "FROM debian:12\nRUN [\"sh\", \"-c\", \"cd /x && make\"]\nRUN [\"sudo\", \"x\"]\n";
    assert_eq!(hits(src, "DL3003", &CheckOptions::default()), [(2, "cd".to_string())]);
    assert_eq!(hits(src, "DL3004", &CheckOptions::default()), [(3, "sudo".to_string())]);
}

#[test]
fn onbuild_runs_are_checked() {
    let src = "FROM debian:12\nONBUILD RUN sudo make\n";
    assert_eq!(hits(src, "DL3004", &CheckOptions::default()), [(2, "sudo".to_string())]);
}

#[test]
fn hadolint_pragmas_suppress_our_rules() {
    quiet("DL3003", "FROM debian:12\n# hadolint ignore=DL3003\nRUN cd /x\n");
    quiet(
        "DL3008",
        "# hadolint global ignore=DL3008\nFROM debian:12\nRUN apt-get install -y --no-install-recommends x\n",
    );
}

#[test]
fn hadolint_codes_of_buildkit_rules_suppress_them() {
    let src = "FROM alpine:3\n# hadolint ignore=DL3025\nCMD echo hi\n";
    let codes: Vec<&str> = run(src, &CheckOptions::default()).iter().map(|d| d.code).collect();
    assert!(!codes.contains(&"JSONArgsRecommended"), "{codes:?}");
    let src = "FROM alpine:3\nCMD echo hi\n";
    let codes: Vec<&str> = run(src, &CheckOptions::default()).iter().map(|d| d.code).collect();
    assert!(codes.contains(&"JSONArgsRecommended"), "{codes:?}");
}

// --- Robustness ------------------------------------------------------------

#[path = "support/mod.rs"]
mod support;

/// Spans of lint findings stay inside the text, on character boundaries, with
/// fixes that apply; on the parser's seeds and on seeds sprinkled with shell syntax.
#[test]
fn lint_spans_are_valid_on_odd_inputs() {
    const SHELL: [&str; 16] = [
        "'",
        "\"",
        "$(",
        ")",
        "`",
        "\\\n",
        "|",
        "<<EOF\n",
        "EOF\n",
        "${",
        "case a in b|c) ",
        ";;",
        "é",
        "\t",
        "#",
        "&&",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let base =
        "FROM debian:12\nRUN apt-get update && apt-get install curl | sh && cd /x\nRUN <<EOF\npip install a\nEOF\n";
    let mut inputs: Vec<String> = support::SEEDS.iter().map(|s| s.to_string()).collect();
    for _ in 0..400 {
        let mut s = base.to_string();
        for _ in 0..(next() % 6 + 1) {
            let tok = SHELL[(next() % SHELL.len() as u64) as usize];
            let mut at = (next() % (s.len() as u64 + 1)) as usize;
            while !s.is_char_boundary(at) {
                at -= 1;
            }
            s.insert_str(at, tok);
        }
        inputs.push(s);
    }
    for src in &inputs {
        for d in run(src, &CheckOptions::default()) {
            let ok = |r: &std::ops::Range<usize>| {
                r.start <= r.end && r.end <= src.len() && src.is_char_boundary(r.start) && src.is_char_boundary(r.end)
            };
            assert!(ok(&d.span), "{} span {:?} in {src:?}", d.code, d.span);
            for (span, _) in &d.related {
                assert!(ok(span), "{} related {span:?} in {src:?}", d.code);
            }
            for f in &d.fixes {
                for e in &f.edits {
                    assert!(ok(&e.span), "{} edit {:?} in {src:?}", d.code, e.span);
                }
            }
        }
    }
}

fn with_severity(code: &str, severity: Severity) -> CheckOptions {
    CheckOptions {
        config: Config {
            severity: vec![(code.into(), severity)],
            ..Config::default()
        },
        ..CheckOptions::default()
    }
}

#[test]
fn dl1001_inline_ignore_pragmas_when_enabled() {
    let src = "FROM alpine:3\n# hadolint ignore=DL3003\nRUN cd /x\n";
    // Off by default, as in hadolint.
    quiet("DL1001", src);
    let on = with_severity("DL1001", Severity::Warning);
    rule_fires_with(
        "DL1001",
        src,
        (2, "# hadolint ignore=DL3003"),
        "FROM alpine:3\n# hadolint global ignore=DL3003\n# a comment\n# hadolint shell=powershell\nRUN cd /x\n",
        &on,
    );
    assert!(run(src, &on)
        .iter()
        .any(|d| d.code == code("DL1001") && d.severity == Severity::Warning));
}

#[test]
fn dl3010_copy_of_an_archive_extracted_in_run() {
    rule_fires(
        "DL3010",
        "FROM alpine:3\nCOPY app.tar.gz /tmp/\nRUN tar -xzf /tmp/app.tar.gz -C /opt\n",
        (2, "app.tar.gz"),
        "FROM alpine:3\nCOPY app.tar.gz /srv/\nRUN ls /srv\nCOPY --from=builder /out/b.tar /tmp/\nRUN tar -xf /tmp/b.tar\nRUN tar -czf c.tar.gz /etc\n",
    );
    // The old `tar xzf` form, an unpacking tool, and the destination naming the archive.
    for src in [
        "FROM alpine:3\nCOPY a.tgz /tmp/\nRUN tar xzf /tmp/a.tgz\n",
        "FROM alpine:3\nCOPY src/x.gz /tmp/\nRUN gunzip /tmp/x.gz\n",
        "FROM alpine:3\nCOPY release /tmp/r.tar.xz\nRUN tar --extract -f /tmp/r.tar.xz\n",
    ] {
        assert_eq!(hits(src, "DL3010", &CheckOptions::default()).len(), 1, "{src}");
    }
    // Another stage's RUN does not extract this stage's archive.
    quiet(
        "DL3010",
        "FROM alpine:3\nCOPY a.tgz /tmp/\nFROM alpine:3\nRUN tar xzf /tmp/a.tgz\n",
    );
}

fn label_options(strict: bool) -> CheckOptions {
    use slipway_parser::suppress::LabelType;
    let schema = [
        ("author", LabelType::Text),
        ("url", LabelType::Url),
        ("created", LabelType::Rfc3339),
        ("license", LabelType::Spdx),
        ("revision", LabelType::Hash),
        ("version", LabelType::SemVer),
        ("contact", LabelType::Email),
    ];
    CheckOptions {
        config: Config {
            label_schema: schema.iter().map(|(k, t)| (k.to_string(), *t)).collect(),
            strict_labels: strict,
            ..Config::default()
        },
        ..CheckOptions::default()
    }
}

const GOOD_LABELS: &str = "FROM alpine:3\nLABEL author=me url=https://example.com/x created=2024-05-01T12:00:00Z \\\n  license=MIT revision=0123abc version=1.2.3 contact=me@example.com\n";

#[test]
fn dl3049_label_missing_from_an_image() {
    let options = label_options(false);
    rule_fires_with(
        "DL3049",
        "FROM alpine:3\nLABEL author=me\n",
        (1, "alpine:3"),
        GOOD_LABELS,
        &options,
    );
    // Labels of the stage an image is built on count; a build stage only copied from is no image.
    let inherited = format!("{GOOD_LABELS}FROM golang:1 AS build\nRUN true\nFROM 0\nCOPY --from=build /a /a\n");
    quiet_for("DL3049", &inherited, &options);
    assert_eq!(
        hits("FROM alpine:3\nLABEL author=me\n", "DL3049", &options).len(),
        6,
        "one per missing label"
    );
    quiet("DL3049", "FROM alpine:3\n");
}

#[test]
fn dl3050_superfluous_labels_with_strict_labels() {
    rule_fires_with(
        "DL3050",
        "FROM alpine:3\nLABEL author=me extra=1\n",
        (2, "extra"),
        GOOD_LABELS,
        &label_options(true),
    );
    quiet_for(
        "DL3050",
        "FROM alpine:3\nLABEL author=me extra=1\n",
        &label_options(false),
    );
}

#[test]
fn label_values_follow_the_schema() {
    let options = label_options(false);
    for (dl, bad, good) in [
        ("DL3051", "LABEL author=\"\"", "LABEL author=me"),
        ("DL3052", "LABEL url=example.com", "LABEL url=https://example.com/x"),
        (
            "DL3053",
            "LABEL created=2024-05-01",
            "LABEL created=2024-05-01T12:00:00+02:00",
        ),
        ("DL3054", "LABEL license=\"MIT or GPL\"", "LABEL license=Apache-2.0"),
        (
            "DL3055",
            "LABEL revision=main",
            "LABEL revision=0123456789abcdef0123456789abcdef01234567",
        ),
        ("DL3056", "LABEL version=v1.2", "LABEL version=1.2.3-rc.1"),
        ("DL3058", "LABEL contact=me", "LABEL contact=me@example.com"),
    ] {
        let fires = format!("FROM alpine:3\n{bad}\n");
        let value = bad.split_once('=').unwrap().1;
        rule_fires_with(dl, &fires, (2, value), &format!("FROM alpine:3\n{good}\n"), &options);
        // Without a schema, labels are not judged.
        quiet(dl, &fires);
    }
    // A value from an ARG is judged by its value; an unknown one is not judged.
    rule_fires_with(
        "DL3056",
        "FROM alpine:3\nARG V=latest\nLABEL version=$V\n",
        (3, "$V"),
        "FROM alpine:3\nARG V\nLABEL version=$V\n",
        &options,
    );
}

#[test]
fn dl3057_healthcheck_missing_when_enabled() {
    let on = with_severity("DL3057", Severity::Advice);
    quiet("DL3057", "FROM alpine:3\n");
    rule_fires_with(
        "DL3057",
        "FROM alpine:3 AS base\nHEALTHCHECK CMD true\nFROM golang:1 AS build\nFROM alpine:3\nCOPY --from=build /a /a\n",
        (4, "alpine:3"),
        "FROM alpine:3 AS base\nHEALTHCHECK CMD true\nFROM golang:1 AS build\nFROM base\nCOPY --from=build /a /a\n",
        &on,
    );
}

#[test]
fn stage_ignore_pragmas_cover_their_stage() {
    // hadolint's `# hadolint stage ignore=…`: from the pragma to the next FROM.
    let src = "# hadolint stage ignore=DL3003\nFROM alpine:3\nRUN cd /a\nRUN cd /b\nFROM alpine:3\nRUN cd /c\n";
    assert_eq!(hits(src, "DL3003", &CheckOptions::default()), [(6, "cd".to_string())]);
}

#[test]
fn disable_ignore_pragma_turns_hadolint_pragmas_off() {
    let src = "FROM alpine:3\n# hadolint ignore=DL3003\nRUN cd /a\n# slipway ignore=DL3003\nRUN cd /b\n";
    let options = CheckOptions {
        config: Config {
            disable_ignore_pragma: true,
            ..Config::default()
        },
        ..CheckOptions::default()
    };
    assert_eq!(hits(src, "DL3003", &options), [(3, "cd".to_string())]);
    assert!(hits(src, "DL3003", &CheckOptions::default()).is_empty());
}

// --- slipway's own ---------------------------------------------------------

#[test]
fn a_compiler_stage_only_copied_from_should_not_run_under_emulation() {
    let host = slipway_parser::model::PlatformArgs::host();
    let foreign = slipway_parser::model::PlatformArgs {
        os: "linux".into(),
        architecture: if host.architecture == "arm64" { "amd64" } else { "arm64" }.into(),
        variant: None,
    };
    let codes = |src: &str, platform: Option<&slipway_parser::model::PlatformArgs>| -> Vec<(String, String)> {
        let options = CheckOptions {
            platform: platform.cloned(),
            ..CheckOptions::default()
        };
        slipway_parser::check(src, &options)
            .diagnostics
            .into_iter()
            .filter(|d| d.code == "slipway::lint::emulated-build-stage")
            .map(|d| (src[d.span.clone()].to_string(), d.help.unwrap_or_default()))
            .collect()
    };
    let src = "FROM golang:1.22 AS build\nRUN go build -o /app .\nFROM alpine:3.20\nCOPY --from=build /app /app\n";
    let found = codes(src, Some(&foreign));
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0].0, "RUN go build -o /app .");
    assert!(
        found[0]
            .1
            .contains("FROM --platform=$BUILDPLATFORM golang:1.22 AS build"),
        "{}",
        found[0].1
    );
    // Not for the host's platform, nor without a target platform.
    assert!(codes(src, Some(&host)).is_empty());
    assert!(codes(src, None).is_empty());
    // Pinned already; a stage that ships (the final one, or its FROM-stage base); a
    // stage nothing uses; a stage whose RUNs build nothing: all fine.
    for fine in [
        "FROM --platform=$BUILDPLATFORM golang:1.22 AS build\nRUN go build -o /app .\nFROM alpine:3.20\nCOPY --from=build /app /app\n",
        "FROM golang:1.22\nRUN go build -o /app .\n",
        "FROM golang:1.22 AS base\nRUN make\nFROM base\nRUN echo\n",
        "FROM golang:1.22 AS unused\nRUN go build .\nFROM alpine:3.20\nRUN echo\n",
        "FROM alpine:3.20 AS fetch\nRUN wget -O /x https://example.com/x\nFROM alpine:3.20\nCOPY --from=fetch /x /x\n",
    ] {
        assert!(codes(fine, Some(&foreign)).is_empty(), "{fine}");
    }
}
