//! The flags each instruction takes, and the checks BuildKit applies to flags
//! and argument counts when it turns parsed lines into instructions.

use crate::diagnostics::{codes, did_you_mean, Diagnostic, Phase};
use crate::syntax::{Args, Flag, Instruction, Keyword, Span};
use crate::values;

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlagKind {
    /// `--link` or `--link=true|false`.
    Bool,
    /// `--from=x`, at most once.
    String,
    /// `--mount=...`, repeatable.
    Strings,
}

/// A flag an instruction accepts.
#[derive(Debug, Clone, Copy)]
pub struct FlagSpec {
    pub name: &'static str,
    pub kind: FlagKind,
    /// One line for hovers and help.
    pub doc: &'static str,
}

const fn f(name: &'static str, kind: FlagKind, doc: &'static str) -> FlagSpec {
    FlagSpec { name, kind, doc }
}

use FlagKind::{Bool, String as Str, Strings};

const ADD: &[FlagSpec] = &[
    f("chown", Str, "owner (user:group) of the added files"),
    f("chmod", Str, "permission bits of the added files, octal or symbolic"),
    f(
        "link",
        Bool,
        "add the files as an independent layer that survives base changes",
    ),
    f(
        "keep-git-dir",
        Bool,
        "keep the .git directory when adding a git repository",
    ),
    f("checksum", Str, "expected digest of a remote source (sha256:...)"),
    f(
        "unpack",
        Bool,
        "extract a local or remote archive (default: local archives only)",
    ),
    f("exclude", Strings, "a path pattern to leave out of the sources"),
];
const COPY: &[FlagSpec] = &[
    f("chown", Str, "owner (user:group) of the copied files"),
    f(
        "from",
        Str,
        "a stage, image or named context to copy from instead of the build context",
    ),
    f("chmod", Str, "permission bits of the copied files, octal or symbolic"),
    f(
        "link",
        Bool,
        "copy the files as an independent layer that survives base changes",
    ),
    f("exclude", Strings, "a path pattern to leave out of the sources"),
    f(
        "parents",
        Bool,
        "keep the source's parent directories under the destination",
    ),
];
const FROM: &[FlagSpec] = &[f("platform", Str, "the platform of the base image, e.g. linux/arm64")];
const RUN: &[FlagSpec] = &[
    f(
        "mount",
        Strings,
        "a filesystem mount for this command: type=bind|cache|tmpfs|secret|ssh",
    ),
    f("network", Str, "the network for this command: default, none or host"),
    f("security", Str, "the security mode: sandbox or insecure"),
    f("device", Strings, "a CDI device to expose to the command"),
];
const HEALTHCHECK: &[FlagSpec] = &[
    f("interval", Str, "time between checks (default 30s)"),
    f(
        "timeout",
        Str,
        "time a check may take before it counts as failed (default 30s)",
    ),
    f(
        "start-period",
        Str,
        "start-up time during which failures don't count (default 0s)",
    ),
    f(
        "start-interval",
        Str,
        "time between checks during the start period (default 5s)",
    ),
    f(
        "retries",
        Str,
        "consecutive failures before the container is unhealthy (default 3)",
    ),
];

/// The flags `kw` accepts.
pub fn flags_of(kw: Keyword) -> &'static [FlagSpec] {
    match kw {
        Keyword::Add => ADD,
        Keyword::Copy => COPY,
        Keyword::From => FROM,
        Keyword::Run => RUN,
        Keyword::Healthcheck => HEALTHCHECK,
        _ => &[],
    }
}

/// Unknown, duplicate and malformed flags, as BuildKit's flag parser rejects them
/// (all of them, not only the first).
pub(crate) fn check(kw: Keyword, flags: &[Flag], diags: &mut Vec<Diagnostic>) {
    let specs = flags_of(kw);
    let mut seen: Vec<(&str, &Flag)> = Vec::new();
    for flag in flags {
        let Some(spec) = specs.iter().find(|s| s.name == flag.name) else {
            let mut d = Diagnostic::error(
                codes::UNKNOWN_FLAG,
                Phase::Build,
                flag.name_span.clone(),
                format!("unknown flag --{} for {kw}", flag.name),
            )
            .with_label("not a flag of this instruction");
            d = match (did_you_mean(&flag.name, specs.iter().map(|s| s.name)), specs.is_empty()) {
                (Some(s), _) => d.with_help(format!("did you mean --{s}?")),
                (None, true) => d.with_help(format!("{kw} takes no flags; remove it")),
                (None, false) => d.with_help(format!(
                    "{kw} accepts {}",
                    specs
                        .iter()
                        .map(|s| format!("--{}", s.name))
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
            diags.push(d);
            continue;
        };
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == spec.name) {
            if spec.kind != Strings {
                diags.push(
                    Diagnostic::error(
                        codes::FLAG_DUPLICATE,
                        Phase::Build,
                        flag.span.clone(),
                        format!("duplicate flag specified: --{}", flag.name),
                    )
                    .with_label("given again here")
                    .with_related(first.span.clone(), "first given here")
                    .with_help("keep one of them"),
                );
                continue;
            }
        }
        seen.push((spec.name, flag));
        match (spec.kind, flag.value.as_deref()) {
            (Bool, Some("")) | (Str | Strings, None) => diags.push(
                Diagnostic::error(
                    codes::FLAG_MISSING_VALUE,
                    Phase::Build,
                    flag.span.clone(),
                    format!("missing a value on flag: --{}", flag.name),
                )
                .with_label("no value")
                .with_help(match spec.kind {
                    Bool => format!("write `--{}` or `--{}=true`", flag.name, flag.name),
                    _ => format!("write `--{}=<value>`: {}", flag.name, spec.doc),
                }),
            ),
            (Bool, Some(v)) if !v.eq_ignore_ascii_case("true") && !v.eq_ignore_ascii_case("false") => diags.push(
                Diagnostic::error(
                    codes::FLAG_INVALID_VALUE,
                    Phase::Build,
                    flag.value_span.clone().unwrap_or(flag.span.clone()),
                    format!("expecting boolean value for flag --{}, not: {v}", flag.name),
                )
                .with_label("not true or false")
                .with_help(format!(
                    "write `--{}`, `--{}=true` or `--{}=false`",
                    flag.name, flag.name, flag.name
                )),
            ),
            (_, Some(v)) => check_value(kw, flag, v, diags),
            _ => {}
        }
    }
}

/// The value grammars BuildKit enforces for particular flags.
fn check_value(kw: Keyword, flag: &Flag, value: &str, diags: &mut Vec<Diagnostic>) {
    let at = |e: &values::ValueError| -> Span {
        let base = flag.value_span.clone().unwrap_or(flag.span.clone());
        // The value's source may contain quotes the text lost; clamp into the flag.
        let start = (base.start + e.span.start).min(base.end);
        let end = (base.start + e.span.end).clamp(start, base.end);
        if start == end {
            base
        } else {
            start..end
        }
    };
    let mut push = |e: values::ValueError| {
        let span = at(&e);
        diags.push(
            Diagnostic::error(codes::FLAG_INVALID_VALUE, Phase::Build, span, e.message)
                .with_label(format!("invalid --{} value", flag.name))
                .with_help(e.help),
        );
    };
    let choice = |allowed: &[&str], what: &str| -> Option<values::ValueError> {
        if value.contains('$') || allowed.contains(&value) {
            return None;
        }
        let help = match did_you_mean(value, allowed.iter().copied()) {
            Some(s) => format!("did you mean {s}?"),
            None => format!("use one of: {}", allowed.join(", ")),
        };
        Some(values::ValueError {
            span: 0..value.len(),
            message: format!("unsupported {what} mode {}", crate::buildkit::go_quote(value)),
            help,
        })
    };
    match (kw, flag.name.as_str()) {
        (Keyword::Run, "mount") => {
            if let Err(e) = values::parse_mount(value) {
                push(e);
            }
        }
        (Keyword::Run, "network") => push_opt(choice(&["default", "none", "host"], "network"), &mut push),
        (Keyword::Run, "security") => push_opt(choice(&["sandbox", "insecure"], "security"), &mut push),
        (Keyword::Copy | Keyword::Add, "chmod") => {
            if let Err(e) = values::check_chmod(value) {
                push(e);
            }
        }
        (Keyword::Healthcheck, "retries") if !value.contains('$') => match value.parse::<i32>() {
            Ok(n) if n < 0 => push(values::ValueError {
                span: 0..value.len(),
                message: format!("--retries cannot be negative ({n})"),
                help: "write 0 or more".into(),
            }),
            Ok(_) => {}
            Err(_) => push(values::ValueError {
                span: 0..value.len(),
                message: format!("invalid --retries value {}", crate::buildkit::go_quote(value)),
                help: "write a whole number, e.g. --retries=3".into(),
            }),
        },
        (Keyword::Healthcheck, name) if !value.contains('$') && !value.is_empty() => {
            match values::parse_duration(value) {
                Err(e) => push(e),
                Ok(d) if !d.is_zero() && d < std::time::Duration::from_millis(1) => push(values::ValueError {
                    span: 0..value.len(),
                    message: format!("Interval \"{name}\" cannot be less than 1ms"),
                    help: "use 0 for the default, or at least 1ms".into(),
                }),
                Ok(_) => {}
            }
        }
        _ => {}
    }
}

fn push_opt(e: Option<values::ValueError>, push: &mut impl FnMut(values::ValueError)) {
    if let Some(e) = e {
        push(e);
    }
}

/// Argument counts BuildKit enforces when it converts instructions.
pub(crate) fn check_arity(inst: &Instruction, diags: &mut Vec<Diagnostic>) {
    let Some(kw) = inst.keyword else { return };
    let n = inst.args.words().len();
    let at_name = inst.name_span.clone();
    let mut missing = |what: &str, help: String| {
        diags.push(
            Diagnostic::error(
                codes::MISSING_ARGUMENTS,
                Phase::Build,
                at_name.clone(),
                format!("{kw} requires {what}"),
            )
            .with_label("arguments missing")
            .with_help(help),
        );
    };
    match kw {
        Keyword::From => match &inst.args {
            Args::Words(w) if w.len() == 1 => {}
            Args::Words(w) if w.len() == 3 && w[1].text.eq_ignore_ascii_case("as") => {}
            Args::Words(w) if w.len() == 3 || w.len() == 2 => {
                let bad = &w[1];
                diags.push(
                    Diagnostic::error(
                        codes::TOO_MANY_ARGUMENTS,
                        Phase::Build,
                        bad.span.clone(),
                        "FROM requires either one or three arguments",
                    )
                    .with_label(if w.len() == 3 {
                        "expected AS here"
                    } else {
                        "unexpected argument"
                    })
                    .with_help(format!(
                        "name the stage with `FROM {} AS {}`",
                        w[0].text,
                        w.last().map_or("", |l| l.text.as_str())
                    )),
                );
            }
            Args::Words(w) => diags.push(
                Diagnostic::error(
                    codes::TOO_MANY_ARGUMENTS,
                    Phase::Build,
                    w[1].span.start..w[w.len() - 1].span.end,
                    "FROM requires either one or three arguments",
                )
                .with_label("too many arguments")
                .with_help("write `FROM image[:tag] [AS name]`"),
            ),
            _ => missing(
                "either one or three arguments",
                "write the base image, e.g. `FROM alpine:3.20` (or `FROM scratch`)".into(),
            ),
        },
        Keyword::Copy | Keyword::Add if n < 2 && inst.heredocs.is_empty() => {
            if n == 0 {
                missing(
                    "at least two arguments",
                    format!("write `{kw} <source>... <destination>`"),
                );
            } else {
                let w = inst.args.words()[0].clone();
                diags.push(
                    Diagnostic::error(codes::MISSING_ARGUMENTS, Phase::Build, w.span.clone(), format!("{kw} requires at least two arguments, but only one was provided. Destination could not be determined"))
                        .with_label("only a source")
                        .with_help(format!("add where it goes: `{kw} {} /destination/`", w.text)),
                );
            }
        }
        Keyword::Run
        | Keyword::Env
        | Keyword::Label
        | Keyword::Arg
        | Keyword::Expose
        | Keyword::Volume
        | Keyword::Shell
            if n == 0 && !inst.is_json() =>
        {
            missing(
                "at least one argument",
                match kw {
                    Keyword::Run => "write the command to run, e.g. `RUN make install`".into(),
                    Keyword::Env => "write `ENV NAME=value`".into(),
                    Keyword::Label => "write `LABEL key=value`".into(),
                    Keyword::Arg => "write `ARG NAME` or `ARG NAME=default`".into(),
                    Keyword::Expose => "write the port, e.g. `EXPOSE 8080/tcp`".into(),
                    Keyword::Volume => "write the mount point, e.g. `VOLUME /data`".into(),
                    _ => "write the shell in JSON form, e.g. `SHELL [\"/bin/bash\", \"-c\"]`".into(),
                },
            );
        }
        Keyword::Shell if !inst.is_json() => diags.push(
            Diagnostic::error(
                codes::MISSING_ARGUMENTS,
                Phase::Build,
                inst.args.words().first().map_or(at_name.clone(), |w| w.span.clone()),
                "SHELL requires the arguments to be in JSON form",
            )
            .with_label("shell form")
            .with_help(format!(
                "write `SHELL [{}]`",
                inst.args.words().first().map_or(String::new(), |w| w
                    .text
                    .split_whitespace()
                    .map(|p| format!("\"{p}\""))
                    .collect::<Vec<_>>()
                    .join(", "))
            )),
        ),
        Keyword::User | Keyword::Workdir | Keyword::Stopsignal | Keyword::Maintainer if n == 0 => {
            missing(
                "exactly one argument",
                match kw {
                    Keyword::User => "write `USER name[:group]` or `USER uid[:gid]`".into(),
                    Keyword::Workdir => "write an absolute directory, e.g. `WORKDIR /app`".into(),
                    Keyword::Stopsignal => "write a signal, e.g. `STOPSIGNAL SIGTERM`".into(),
                    _ => "write `LABEL maintainer=\"name <email>\"` instead".into(),
                },
            );
        }
        Keyword::Healthcheck => match &inst.args {
            Args::Empty => missing(
                "an argument",
                "write `HEALTHCHECK CMD <command>` or `HEALTHCHECK NONE`".into(),
            ),
            Args::Healthcheck { kind, cmd } => {
                let empty = matches!(**cmd, Args::Empty) || matches!(&**cmd, Args::Json(v) if v.is_empty());
                if kind.text.eq_ignore_ascii_case("none") {
                    if !empty {
                        diags.push(
                            Diagnostic::error(
                                codes::TOO_MANY_ARGUMENTS,
                                Phase::Build,
                                kind.span.end..inst.span.end,
                                "HEALTHCHECK NONE takes no arguments",
                            )
                            .with_label("unexpected")
                            .with_help("remove everything after NONE"),
                        );
                    }
                } else if kind.text.eq_ignore_ascii_case("cmd") {
                    if empty {
                        diags.push(
                            Diagnostic::error(
                                codes::MISSING_ARGUMENTS,
                                Phase::Build,
                                kind.span.clone(),
                                "Missing command after HEALTHCHECK CMD",
                            )
                            .with_label("no command follows")
                            .with_help("write the check, e.g. `HEALTHCHECK CMD curl -f http://localhost/ || exit 1`"),
                        );
                    }
                } else {
                    let mut d = Diagnostic::error(
                        codes::FLAG_INVALID_VALUE,
                        Phase::Build,
                        kind.span.clone(),
                        format!(
                            "Unknown type {} in HEALTHCHECK (try CMD)",
                            crate::buildkit::go_quote(&kind.text)
                        ),
                    )
                    .with_label("not CMD or NONE");
                    d = match did_you_mean(&kind.text, ["CMD", "NONE"]) {
                        Some(s) => d.with_help(format!("did you mean {s}?")),
                        None => d.with_help("write `HEALTHCHECK CMD <command>` or `HEALTHCHECK NONE`"),
                    };
                    diags.push(d);
                }
            }
            _ => {}
        },
        _ => {}
    }
}
