//! Reference text for hovers, completion and signature help: instructions,
//! `--mount` keys, parser directives. One line of syntax and a short description each.

use slipway_parser::syntax::Keyword;

/// An instruction's syntax forms and what it does.
pub struct InstructionDoc {
    pub keyword: Keyword,
    /// Syntax forms, one per line; the first is used for signature help.
    pub syntax: &'static [&'static str],
    pub summary: &'static str,
    /// A snippet for completion (LSP snippet syntax).
    pub snippet: &'static str,
}

const fn d(
    keyword: Keyword,
    syntax: &'static [&'static str],
    summary: &'static str,
    snippet: &'static str,
) -> InstructionDoc {
    InstructionDoc {
        keyword,
        syntax,
        summary,
        snippet,
    }
}

pub const INSTRUCTIONS: &[InstructionDoc] = &[
    d(
        Keyword::Add,
        &["ADD [--chown=<user>:<group>] [--chmod=<perms>] [--link] [--checksum=<digest>] [--exclude=<path>] <src>... <dest>"],
        "Copies files, directories, remote URLs or git repositories into the image; local tar archives are extracted.",
        "ADD ${1:src} ${2:dest}",
    ),
    d(
        Keyword::Arg,
        &["ARG <name>[=<default value>] ..."],
        "Declares a build argument that `--build-arg` may set; visible to the instructions after it in its stage (or to FROM lines when declared before the first FROM).",
        "ARG ${1:NAME}=${2:value}",
    ),
    d(
        Keyword::Cmd,
        &["CMD [\"executable\", \"param\"...]", "CMD command param..."],
        "The default command of a container (or the default arguments of ENTRYPOINT). Only the last CMD counts.",
        "CMD [\"${1:executable}\"]",
    ),
    d(
        Keyword::Copy,
        &["COPY [--from=<stage|image>] [--chown=<user>:<group>] [--chmod=<perms>] [--link] [--parents] [--exclude=<path>] <src>... <dest>"],
        "Copies files from the build context, a stage or an image into the image.",
        "COPY ${1:src} ${2:dest}",
    ),
    d(
        Keyword::Entrypoint,
        &["ENTRYPOINT [\"executable\", \"param\"...]", "ENTRYPOINT command param..."],
        "The executable a container runs; CMD supplies its default arguments.",
        "ENTRYPOINT [\"${1:executable}\"]",
    ),
    d(
        Keyword::Env,
        &["ENV <key>=<value> ..."],
        "Sets environment variables for the following instructions and for containers of the image.",
        "ENV ${1:NAME}=${2:value}",
    ),
    d(
        Keyword::Expose,
        &["EXPOSE <port>[/<protocol>] ..."],
        "Documents the ports the container listens on (tcp by default).",
        "EXPOSE ${1:80}",
    ),
    d(
        Keyword::From,
        &["FROM [--platform=<platform>] <image>[:<tag>|@<digest>] [AS <name>]"],
        "Starts a build stage from a base image, an earlier stage or `scratch`.",
        "FROM ${1:image} AS ${2:name}",
    ),
    d(
        Keyword::Healthcheck,
        &["HEALTHCHECK [--interval=<d>] [--timeout=<d>] [--start-period=<d>] [--start-interval=<d>] [--retries=<n>] CMD <command>", "HEALTHCHECK NONE"],
        "How to test that a container still works; NONE disables a check inherited from the base image.",
        "HEALTHCHECK CMD ${1:command}",
    ),
    d(
        Keyword::Label,
        &["LABEL <key>=<value> ..."],
        "Adds metadata to the image.",
        "LABEL ${1:key}=\"${2:value}\"",
    ),
    d(
        Keyword::Maintainer,
        &["MAINTAINER <name>"],
        "Deprecated: sets the image author; use `LABEL org.opencontainers.image.authors=...`.",
        "MAINTAINER ${1:name}",
    ),
    d(
        Keyword::Onbuild,
        &["ONBUILD <instruction>"],
        "An instruction to run when this image is used as the base of another build.",
        "ONBUILD ${1:instruction}",
    ),
    d(
        Keyword::Run,
        &["RUN [--mount=<mount>] [--network=<none|host|default>] [--security=<sandbox|insecure>] <command>", "RUN [\"executable\", \"param\"...]"],
        "Runs a command in a new layer: shell form through the stage's SHELL, exec form directly.",
        "RUN ${1:command}",
    ),
    d(
        Keyword::Shell,
        &["SHELL [\"executable\", \"param\"...]"],
        "The shell that runs the shell form of RUN, CMD and ENTRYPOINT (default `[\"/bin/sh\", \"-c\"]`).",
        "SHELL [\"${1:/bin/bash}\", \"-c\"]",
    ),
    d(
        Keyword::Stopsignal,
        &["STOPSIGNAL <signal>"],
        "The signal sent to stop a container (e.g. SIGTERM).",
        "STOPSIGNAL ${1:SIGTERM}",
    ),
    d(
        Keyword::User,
        &["USER <user>[:<group>]"],
        "The user (and group) for the following RUN, CMD and ENTRYPOINT.",
        "USER ${1:user}",
    ),
    d(
        Keyword::Volume,
        &["VOLUME [\"/path\"...]", "VOLUME /path ..."],
        "Declares mount points for externally mounted volumes.",
        "VOLUME ${1:/data}",
    ),
    d(
        Keyword::Workdir,
        &["WORKDIR <path>"],
        "The working directory for the following instructions (created if missing).",
        "WORKDIR ${1:/app}",
    ),
];

pub fn instruction(kw: Keyword) -> &'static InstructionDoc {
    INSTRUCTIONS
        .iter()
        .find(|d| d.keyword == kw)
        .unwrap_or(&INSTRUCTIONS[0])
}

/// `--mount` keys: (key, applies to, description).
pub const MOUNT_KEYS: &[(&str, &str, &str)] = &[
    ("type", "all", "bind (default), cache, tmpfs, secret or ssh"),
    (
        "target",
        "all",
        "where the mount appears in the container (aliases: dst, destination)",
    ),
    ("dst", "all", "alias of target"),
    ("destination", "all", "alias of target"),
    (
        "source",
        "bind, cache, secret, ssh",
        "the path in `from` to mount (alias: src)",
    ),
    ("src", "bind, cache, secret, ssh", "alias of source"),
    (
        "from",
        "bind, cache",
        "a stage, image or named context to mount from (default: the build context)",
    ),
    ("readonly", "bind, cache", "mount read-only (alias: ro)"),
    ("ro", "bind, cache", "alias of readonly"),
    (
        "readwrite",
        "bind",
        "allow writes (discarded after the step; alias: rw)",
    ),
    ("rw", "bind", "alias of readwrite"),
    (
        "id",
        "cache, secret, ssh",
        "the cache, secret or ssh id (default: the target)",
    ),
    (
        "sharing",
        "cache",
        "shared (default), private or locked: how concurrent builds share the cache",
    ),
    (
        "required",
        "secret, ssh",
        "fail the step when the secret or ssh socket is missing",
    ),
    ("size", "tmpfs", "the size limit of the tmpfs"),
    ("mode", "cache, secret, ssh", "file mode (octal)"),
    ("uid", "cache, secret, ssh", "owner user id"),
    ("gid", "cache, secret, ssh", "owner group id"),
    (
        "env",
        "secret",
        "expose the secret as this environment variable instead of a file",
    ),
];

/// Values a `--mount` key takes, for completion.
pub fn mount_values(key: &str) -> &'static [&'static str] {
    match key {
        "type" => &["bind", "cache", "tmpfs", "secret", "ssh"],
        "sharing" => &["shared", "private", "locked"],
        "readonly" | "ro" | "readwrite" | "rw" | "required" => &["true", "false"],
        _ => &[],
    }
}

/// Values of other flags, for completion.
pub fn flag_values(flag: &str) -> &'static [&'static str] {
    match flag {
        "network" => &["default", "none", "host"],
        "security" => &["sandbox", "insecure"],
        "platform" => &[
            "linux/amd64",
            "linux/arm64",
            "linux/arm/v7",
            "linux/386",
            "linux/ppc64le",
            "linux/s390x",
            "linux/riscv64",
            "$BUILDPLATFORM",
            "$TARGETPLATFORM",
        ],
        "link" | "parents" | "keep-git-dir" | "unpack" => &["true", "false"],
        _ => &[],
    }
}

/// Parser directives: (name, description).
pub const DIRECTIVES: &[(&str, &str)] = &[
    ("syntax", "The Dockerfile frontend image to build with, e.g. `docker/dockerfile:1`."),
    ("escape", "The escape character: `\\` (default) or `` ` `` (useful on Windows)."),
    (
        "check",
        "BuildKit's build checks: `skip=<rules>|all`, `error=true|false`, `experimental=<rules>|all`, separated by `;`.",
    ),
];
