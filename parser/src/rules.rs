//! The registry of lint rules: BuildKit's build checks under their BuildKit
//! names, and slipway's best-practice rules with the hadolint code each
//! corresponds to. Suppression (`# check=skip=`, `# hadolint ignore=`),
//! SARIF rule metadata and the docs all read this one table.

use crate::diagnostics::Severity;

/// A lint rule.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// The diagnostic code: BuildKit's rule name (`StageNameCasing`) for build
    /// checks, `slipway::lint::<name>` for ours.
    pub code: &'static str,
    /// One line: what the rule wants.
    pub description: &'static str,
    /// Documentation URL.
    pub url: &'static str,
    /// The hadolint rule this corresponds to, if any (`DL3008`).
    pub hadolint: Option<&'static str>,
    /// Default severity.
    pub severity: Severity,
    /// A BuildKit build check (honours `# check=`).
    pub buildkit: bool,
    /// Only reported with `# check=experimental=...`.
    pub experimental: bool,
}

const fn bk(code: &'static str, description: &'static str, url: &'static str) -> Rule {
    Rule {
        code,
        description,
        url,
        hadolint: None,
        severity: Severity::Warning,
        buildkit: true,
        experimental: false,
    }
}

/// BuildKit's build checks (frontend/dockerfile/linter/ruleset.go).
pub const BUILDKIT: &[Rule] = &[
    bk("StageNameCasing", "Stage names should be lowercase", "https://docs.docker.com/go/dockerfile/rule/stage-name-casing/"),
    bk(
        "FromAsCasing",
        "The 'as' keyword should match the case of the 'from' keyword",
        "https://docs.docker.com/go/dockerfile/rule/from-as-casing/",
    ),
    bk(
        "NoEmptyContinuation",
        "Empty continuation lines will become errors in a future release",
        "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/",
    ),
    bk(
        "ConsistentInstructionCasing",
        "All commands within the Dockerfile should use the same casing (either upper or lower)",
        "https://docs.docker.com/go/dockerfile/rule/consistent-instruction-casing/",
    ),
    bk("DuplicateStageName", "Stage names should be unique", "https://docs.docker.com/go/dockerfile/rule/duplicate-stage-name/"),
    bk(
        "ReservedStageName",
        "Reserved words should not be used as stage names",
        "https://docs.docker.com/go/dockerfile/rule/reserved-stage-name/",
    ),
    bk(
        "JSONArgsRecommended",
        "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals",
        "https://docs.docker.com/go/dockerfile/rule/json-args-recommended/",
    ),
    bk(
        "MaintainerDeprecated",
        "The MAINTAINER instruction is deprecated, use a label instead to define an image author",
        "https://docs.docker.com/go/dockerfile/rule/maintainer-deprecated/",
    ),
    bk("UndefinedArgInFrom", "FROM command must use declared ARGs", "https://docs.docker.com/go/dockerfile/rule/undefined-arg-in-from/"),
    bk(
        "WorkdirRelativePath",
        "Relative workdir without an absolute workdir declared within the build can have unexpected results if the base image changes",
        "https://docs.docker.com/go/dockerfile/rule/workdir-relative-path/",
    ),
    bk("UndefinedVar", "Variables should be defined before their use", "https://docs.docker.com/go/dockerfile/rule/undefined-var/"),
    bk(
        "MultipleInstructionsDisallowed",
        "Multiple instructions of the same type should not be used in the same stage",
        "https://docs.docker.com/go/dockerfile/rule/multiple-instructions-disallowed/",
    ),
    bk(
        "LegacyKeyValueFormat",
        "Legacy key/value format with whitespace separator should not be used",
        "https://docs.docker.com/go/dockerfile/rule/legacy-key-value-format/",
    ),
    bk(
        "InvalidBaseImagePlatform",
        "Base image platform does not match expected target platform",
        "https://docs.docker.com/go/dockerfile/rule/invalid-base-image-platform/",
    ),
    bk(
        "RedundantTargetPlatform",
        "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior",
        "https://docs.docker.com/go/dockerfile/rule/redundant-target-platform/",
    ),
    bk(
        "SecretsUsedInArgOrEnv",
        "Sensitive data should not be used in the ARG or ENV commands",
        "https://docs.docker.com/go/dockerfile/rule/secrets-used-in-arg-or-env/",
    ),
    bk(
        "InvalidDefaultArgInFrom",
        "Default value for global ARG results in an empty or invalid base image name",
        "https://docs.docker.com/go/dockerfile/rule/invalid-default-arg-in-from/",
    ),
    bk(
        "FromPlatformFlagConstDisallowed",
        "FROM --platform flag should not use a constant value",
        "https://docs.docker.com/go/dockerfile/rule/from-platform-flag-const-disallowed/",
    ),
    bk(
        "CopyIgnoredFile",
        "Attempting to Copy file that is excluded by .dockerignore",
        "https://docs.docker.com/go/dockerfile/rule/copy-ignored-file/",
    ),
    Rule {
        experimental: true,
        ..bk(
            "InvalidDefinitionDescription",
            "Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`. If this is not intended to be a description comment, add an empty line or comment between the instruction and the comment.",
            "https://docs.docker.com/go/dockerfile/rule/invalid-definition-description/",
        )
    },
    bk(
        "ExposeProtoCasing",
        "Protocol in EXPOSE instruction should be lowercase",
        "https://docs.docker.com/go/dockerfile/rule/expose-proto-casing/",
    ),
    bk(
        "ExposeInvalidFormat",
        "IP address and host-port mapping should not be used in EXPOSE instruction. This will become an error in a future release",
        "https://docs.docker.com/go/dockerfile/rule/expose-invalid-format/",
    ),
];

/// Every rule.
pub fn all() -> impl Iterator<Item = &'static Rule> {
    BUILDKIT.iter().chain(crate::lint::RULES.iter())
}

/// A rule by its code, BuildKit name (case-insensitive) or hadolint code.
/// Our own rules come first, then a hadolint code that BuildKit's checks cover
/// (`DL3025` → `JSONArgsRecommended`, via [`crate::lint::HADOLINT_ALIASES`]).
pub fn find(name: &str) -> Option<&'static Rule> {
    all()
        .find(|r| r.code.eq_ignore_ascii_case(name) || r.hadolint.is_some_and(|h| h.eq_ignore_ascii_case(name)))
        .or_else(|| {
            let (_, code) = crate::lint::HADOLINT_ALIASES
                .iter()
                .find(|(h, _)| h.eq_ignore_ascii_case(name))?;
            all().find(|r| r.code == *code)
        })
}

/// The hadolint rules a diagnostic code corresponds to, for showing next to it
/// (`slipway::lint::apt-pin` → `DL3008`): a rule's own, those a BuildKit check covers
/// ([`crate::lint::HADOLINT_ALIASES`]: `MultipleInstructionsDisallowed` is three) and
/// those a build error covers ([`crate::lint::HADOLINT_ERRORS`]). Empty for none.
pub fn hadolint_codes(code: &str) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = all().filter(|r| r.code == code).filter_map(|r| r.hadolint).collect();
    for (h, c) in crate::lint::HADOLINT_ALIASES.iter().chain(crate::lint::HADOLINT_ERRORS) {
        if *c == code && !out.contains(h) {
            out.push(h);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn hadolint_codes_of_a_diagnostic() {
        use super::hadolint_codes;
        assert_eq!(hadolint_codes("slipway::lint::apt-pin"), ["DL3008"]);
        assert_eq!(hadolint_codes("MaintainerDeprecated"), ["DL4000"]);
        assert_eq!(
            hadolint_codes("MultipleInstructionsDisallowed"),
            ["DL3012", "DL4003", "DL4004"]
        );
        assert_eq!(hadolint_codes(crate::diagnostics::codes::STAGE_ORDER), ["DL3023"]);
        assert!(hadolint_codes("StageNameCasing").is_empty());
        assert!(hadolint_codes("slipway::syntax::unknown-instruction").is_empty());
    }

    #[test]
    fn hadolint_codes_find_our_rule_or_buildkits() {
        assert_eq!(super::find("DL3025").map(|r| r.code), Some("JSONArgsRecommended"));
        assert_eq!(super::find("dl4000").map(|r| r.code), Some("MaintainerDeprecated"));
        assert!(super::find("DL3000").is_some_and(|r| r.code.starts_with("slipway::lint::")));
        assert_eq!(super::find("stagenamecasing").map(|r| r.code), Some("StageNameCasing"));
        assert!(super::find("DL9999").is_none());
    }
}
