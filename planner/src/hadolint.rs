//! hadolint's configuration: `.hadolint.yaml` and the `HADOLINT_*` environment
//! variables, so a team moving from hadolint keeps its settings unchanged.
//!
//! What is read: `ignored`, `override` (`error`/`warning`/`info`/`style` lists),
//! `trustedRegistries`, `label-schema`, `strict-labels`, `disable-ignore-pragma`,
//! `failure-threshold`, `no-fail`, `format`/`formats` and `verbose`; `no-color` is
//! accepted and has no effect (colour follows the terminal, `NO_COLOR` and `--color`).
//! The environment variables are hadolint's: `HADOLINT_IGNORE`,
//! `HADOLINT_OVERRIDE_{ERROR,WARNING,INFO,STYLE}`, `HADOLINT_TRUSTED_REGISTRIES`,
//! `HADOLINT_REQUIRE_LABELS` (`label:type,…`), `HADOLINT_STRICT_LABELS`,
//! `HADOLINT_DISABLE_IGNORE_PRAGMA`, `HADOLINT_FAILURE_THRESHOLD`, `HADOLINT_NOFAIL`,
//! `HADOLINT_FORMAT`, `HADOLINT_VERBOSE`. As in hadolint, the environment adds to the
//! file's lists and replaces its single values.
//!
//! Who wins ([`merge_under`]): command-line flags, then `.slipway.toml`, then the
//! environment, then `.hadolint.yaml`.

use slipway_parser::suppress::{Config, LabelType};
use slipway_parser::Severity;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// hadolint's `failure-threshold`: the lowest severity that fails the check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threshold {
    /// Findings of this severity or above fail (`info` and `style` are both advice).
    At(Severity),
    /// `ignore`/`none`: findings never fail.
    Never,
}

impl Threshold {
    pub fn parse(s: &str) -> Option<Threshold> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "error" => Threshold::At(Severity::Error),
            "warning" => Threshold::At(Severity::Warning),
            "info" | "style" => Threshold::At(Severity::Advice),
            "ignore" | "none" => Threshold::Never,
            _ => return None,
        })
    }
}

/// A hadolint configuration (from a file, the environment, or both).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HadolintConfig {
    pub ignored: Vec<String>,
    /// `override`: code → severity, in the file's order.
    pub overrides: Vec<(String, Severity)>,
    pub trusted_registries: Vec<String>,
    pub label_schema: Vec<(String, LabelType)>,
    pub strict_labels: Option<bool>,
    pub disable_ignore_pragma: Option<bool>,
    pub failure_threshold: Option<Threshold>,
    pub no_fail: Option<bool>,
    /// `format` / `formats`: hadolint output format names ([`FORMATS`]), first the one to use.
    pub formats: Vec<String>,
    pub verbose: Option<bool>,
}

/// hadolint's output format names.
pub const FORMATS: [&str; 10] = [
    "tty",
    "json",
    "checkstyle",
    "codeclimate",
    "gitlab_codeclimate",
    "gnu",
    "codacy",
    "sonarqube",
    "sarif",
    "junit",
];

/// The file's shape (hadolint reads each key if present and ignores others).
#[derive(Debug, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
struct FileShape {
    ignored: Option<Vec<String>>,
    #[serde(rename = "override")]
    overrides: Option<Overrides>,
    /// A registry or a list of them.
    #[serde(rename = "trustedRegistries")]
    trusted_registries: Option<OneOrMany>,
    label_schema: Option<BTreeMap<String, String>>,
    strict_labels: Option<bool>,
    disable_ignore_pragma: Option<bool>,
    failure_threshold: Option<String>,
    no_fail: Option<bool>,
    format: Option<String>,
    formats: Option<Vec<String>>,
    verbose: Option<bool>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Default, serde::Deserialize)]
struct Overrides {
    error: Option<Vec<String>>,
    warning: Option<Vec<String>>,
    info: Option<Vec<String>>,
    style: Option<Vec<String>>,
}

/// The names hadolint looks for, in its order: `.hadolint.{yaml,yml}` in `cwd`, then
/// `$XDG_CONFIG_HOME/hadolint.{yaml,yml}` (`~/.config` when unset),
/// `~/.hadolint/{hadolint,config}.{yaml,yml}` and `~/.hadolint.{yaml,yml}`. Between the
/// first and the second, slipway also looks in `dir` (the Dockerfile's directory) and its
/// ancestors, where a repository keeps its `.hadolint.yaml` when slipway runs elsewhere.
pub fn find(cwd: &Path, dir: Option<&Path>, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let hidden = [".hadolint.yaml", ".hadolint.yml"];
    let mut candidates: Vec<PathBuf> = hidden.iter().map(|n| cwd.join(n)).collect();
    if let Some(dir) = dir.and_then(|d| std::path::absolute(d).ok()) {
        for d in dir.ancestors() {
            candidates.extend(hidden.iter().map(|n| d.join(n)));
        }
    }
    let home = env("HOME").filter(|h| !h.is_empty()).map(PathBuf::from);
    let xdg = env("XDG_CONFIG_HOME")
        .filter(|x| !x.is_empty())
        .map(PathBuf::from)
        .or_else(|| home.as_ref().map(|h| h.join(".config")));
    if let Some(x) = xdg {
        candidates.extend(["hadolint.yaml", "hadolint.yml"].iter().map(|n| x.join(n)));
    }
    if let Some(h) = &home {
        for n in ["hadolint.yaml", "hadolint.yml", "config.yaml", "config.yml"] {
            candidates.push(h.join(".hadolint").join(n));
        }
        candidates.extend(hidden.iter().map(|n| h.join(n)));
    }
    candidates.into_iter().find(|p| p.is_file())
}

fn severity(level: &str) -> Severity {
    match level {
        "error" => Severity::Error,
        "warning" => Severity::Warning,
        _ => Severity::Advice,
    }
}

fn label_type(name: &str, value: &str) -> Result<LabelType, String> {
    LabelType::parse(value).ok_or_else(|| {
        format!("unknown label type {value:?} for label {name:?} (expected text, url, semver, hash, rfc3339, spdx or email)")
    })
}

/// Reads a hadolint configuration file's text.
pub fn parse(text: &str) -> Result<HadolintConfig, String> {
    let file: FileShape = if text.trim().is_empty() {
        FileShape::default()
    } else {
        serde_saphyr::from_str(text).map_err(|e| e.to_string())?
    };
    let mut out = HadolintConfig {
        ignored: file.ignored.unwrap_or_default(),
        trusted_registries: file.trusted_registries.map(OneOrMany::into_vec).unwrap_or_default(),
        strict_labels: file.strict_labels,
        disable_ignore_pragma: file.disable_ignore_pragma,
        no_fail: file.no_fail,
        verbose: file.verbose,
        ..HadolintConfig::default()
    };
    // hadolint puts `formats` before `format`.
    for f in file.formats.unwrap_or_default().into_iter().chain(file.format) {
        if !FORMATS.contains(&f.as_str()) {
            return Err(format!("unknown format {f:?} (expected one of {})", FORMATS.join(", ")));
        }
        out.formats.push(f);
    }
    if let Some(o) = file.overrides {
        for (level, codes) in [
            ("error", o.error),
            ("warning", o.warning),
            ("info", o.info),
            ("style", o.style),
        ] {
            out.overrides
                .extend(codes.unwrap_or_default().into_iter().map(|c| (c, severity(level))));
        }
    }
    for (name, kind) in file.label_schema.unwrap_or_default() {
        let kind = label_type(&name, &kind)?;
        out.label_schema.push((name, kind));
    }
    if let Some(t) = file.failure_threshold {
        out.failure_threshold = Some(Threshold::parse(&t).ok_or_else(|| {
            format!("unknown failure-threshold {t:?} (expected error, warning, info, style, ignore or none)")
        })?);
    }
    Ok(out)
}

/// Reads the hadolint configuration file at `path`.
pub fn read(path: &Path) -> Result<HadolintConfig, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("invalid {}: {e}", path.display()))
}

/// hadolint's truthy values.
fn truthy(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "1" | "y" | "on" | "true" | "yes")
}

/// The `HADOLINT_*` environment variables, read through `env`.
pub fn from_env(env: &dyn Fn(&str) -> Option<String>) -> HadolintConfig {
    let list = |name: &str| -> Vec<String> {
        env(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut out = HadolintConfig {
        ignored: list("HADOLINT_IGNORE"),
        trusted_registries: list("HADOLINT_TRUSTED_REGISTRIES"),
        strict_labels: env("HADOLINT_STRICT_LABELS").map(|v| truthy(&v)),
        disable_ignore_pragma: env("HADOLINT_DISABLE_IGNORE_PRAGMA").map(|v| truthy(&v)),
        no_fail: env("HADOLINT_NOFAIL").map(|v| truthy(&v)),
        failure_threshold: env("HADOLINT_FAILURE_THRESHOLD").and_then(|v| Threshold::parse(&v)),
        // Comma-separated; names hadolint does not know are dropped, as hadolint drops them.
        formats: list("HADOLINT_FORMAT")
            .into_iter()
            .filter(|f| FORMATS.contains(&f.as_str()))
            .collect(),
        verbose: env("HADOLINT_VERBOSE").map(|v| truthy(&v)),
        ..HadolintConfig::default()
    };
    for (var, level) in [
        ("HADOLINT_OVERRIDE_ERROR", "error"),
        ("HADOLINT_OVERRIDE_WARNING", "warning"),
        ("HADOLINT_OVERRIDE_INFO", "info"),
        ("HADOLINT_OVERRIDE_STYLE", "style"),
    ] {
        out.overrides
            .extend(list(var).into_iter().map(|c| (c, severity(level))));
    }
    // `label:type,…`; entries with an unknown type are dropped, as hadolint drops them.
    for entry in list("HADOLINT_REQUIRE_LABELS") {
        if let Some((name, kind)) = entry.split_once(':') {
            if let Ok(kind) = label_type(name, kind) {
                out.label_schema.push((name.to_string(), kind));
            }
        }
    }
    out
}

impl HadolintConfig {
    /// `self` (the file) with `env` (the environment) on top: lists add up, single values
    /// from the environment replace the file's.
    pub fn with(mut self, env: HadolintConfig) -> HadolintConfig {
        self.ignored.extend(env.ignored);
        self.overrides.extend(env.overrides);
        self.trusted_registries.extend(env.trusted_registries);
        for (name, kind) in env.label_schema {
            self.label_schema.retain(|(n, _)| *n != name);
            self.label_schema.push((name, kind));
        }
        self.strict_labels = env.strict_labels.or(self.strict_labels);
        self.disable_ignore_pragma = env.disable_ignore_pragma.or(self.disable_ignore_pragma);
        self.failure_threshold = env.failure_threshold.or(self.failure_threshold);
        self.no_fail = env.no_fail.or(self.no_fail);
        if !env.formats.is_empty() {
            self.formats = env.formats;
        }
        self.verbose = env.verbose.or(self.verbose);
        self
    }
}

/// Puts hadolint's settings under `config` (from `.slipway.toml`), which wins where both
/// set the same thing: its severities come after hadolint's overrides (the last match
/// wins), a code it gives a severity is not ignored by hadolint's `ignored`, and its
/// trusted registries, label schema and strict-labels replace hadolint's.
pub fn merge_under(config: &mut Config, h: &HadolintConfig) {
    let named_by_slipway = |code: &str| config.severity.iter().any(|(c, _)| c.eq_ignore_ascii_case(code));
    let ignored: Vec<String> = h.ignored.iter().filter(|c| !named_by_slipway(c)).cloned().collect();
    config.ignore.extend(ignored);
    let mut severity = h.overrides.clone();
    severity.append(&mut config.severity);
    config.severity = severity;
    if config.trusted_registries.is_empty() {
        config.trusted_registries = h.trusted_registries.clone();
    }
    if config.label_schema.is_empty() {
        config.label_schema = h.label_schema.clone();
    }
    if !config.strict_labels {
        config.strict_labels = h.strict_labels.unwrap_or(false);
    }
    if !config.disable_ignore_pragma {
        config.disable_ignore_pragma = h.disable_ignore_pragma.unwrap_or(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A `.hadolint.yaml` with every key hadolint documents.
    const EVERY_KEY: &str = "\
failure-threshold: warning
format: json
no-color: true
no-fail: false
verbose: false
disable-ignore-pragma: true
ignored:
  - DL3007
  - SC2086
override:
  error:
    - DL3001
  warning:
    - DL3042
  info:
    - DL3057
  style:
    - DL1001
trustedRegistries:
  - docker.io
  - my-company.com:5000
  - \"*.gcr.io\"
label-schema:
  author: text
  contact: email
  created: rfc3339
  version: semver
  documentation: url
  git-revision: hash
  license: spdx
strict-labels: true
";

    #[test]
    fn reads_a_hadolint_yaml_with_every_key() {
        let h = parse(EVERY_KEY).unwrap();
        assert_eq!(h.ignored, ["DL3007", "SC2086"]);
        assert_eq!(
            h.overrides,
            [
                ("DL3001".to_string(), Severity::Error),
                ("DL3042".to_string(), Severity::Warning),
                ("DL3057".to_string(), Severity::Advice),
                ("DL1001".to_string(), Severity::Advice),
            ]
        );
        assert_eq!(h.trusted_registries, ["docker.io", "my-company.com:5000", "*.gcr.io"]);
        assert_eq!(h.label_schema.len(), 7);
        assert!(h.label_schema.contains(&("license".to_string(), LabelType::Spdx)));
        assert_eq!(h.strict_labels, Some(true));
        assert_eq!(h.disable_ignore_pragma, Some(true));
        assert_eq!(h.failure_threshold, Some(Threshold::At(Severity::Warning)));
        assert_eq!(h.no_fail, Some(false));
        assert_eq!(h.formats, ["json"]);
        assert_eq!(h.verbose, Some(false));
        assert_eq!(
            parse("formats: [sarif]\nformat: gnu\n").unwrap().formats,
            ["sarif", "gnu"]
        );
        assert!(parse("format: yaml\n").unwrap_err().contains("yaml"));
        // Regression: `trustedRegistries` may be one string (hadolint's README: string | [string]).
        assert_eq!(
            parse("trustedRegistries: docker.io\n").unwrap().trusted_registries,
            ["docker.io"]
        );
        assert_eq!(parse("").unwrap(), HadolintConfig::default());
        assert!(parse("label-schema:\n  a: colour\n").unwrap_err().contains("colour"));
        assert!(parse("failure-threshold: loud\n").is_err());
    }

    #[test]
    fn the_environment_adds_to_lists_and_replaces_values() {
        let vars: BTreeMap<&str, &str> = [
            ("HADOLINT_IGNORE", "DL3008,DL3009"),
            ("HADOLINT_OVERRIDE_ERROR", "DL3002"),
            ("HADOLINT_TRUSTED_REGISTRIES", "quay.io"),
            ("HADOLINT_REQUIRE_LABELS", "maintainer:text,version:semver,bad:colour"),
            ("HADOLINT_STRICT_LABELS", "false"),
            ("HADOLINT_NOFAIL", "yes"),
            ("HADOLINT_FAILURE_THRESHOLD", "error"),
            ("HADOLINT_FORMAT", "bogus,gitlab_codeclimate"),
            ("HADOLINT_VERBOSE", "1"),
        ]
        .into_iter()
        .collect();
        let env = from_env(&|k| vars.get(k).map(|v| v.to_string()));
        assert_eq!(env.label_schema.len(), 2);
        let h = parse(EVERY_KEY).unwrap().with(env);
        assert_eq!(h.ignored, ["DL3007", "SC2086", "DL3008", "DL3009"]);
        assert_eq!(h.overrides.last(), Some(&("DL3002".to_string(), Severity::Error)));
        assert_eq!(h.trusted_registries.last().map(String::as_str), Some("quay.io"));
        assert!(h.label_schema.contains(&("version".to_string(), LabelType::SemVer)));
        assert_eq!(h.strict_labels, Some(false));
        assert_eq!(h.no_fail, Some(true));
        assert_eq!(h.failure_threshold, Some(Threshold::At(Severity::Error)));
        assert_eq!(h.formats, ["gitlab_codeclimate"]);
        assert_eq!(h.verbose, Some(true));
    }

    #[test]
    fn slipway_toml_wins_over_hadolint() {
        let h = parse(EVERY_KEY).unwrap();
        let mut config = Config {
            severity: vec![
                ("DL3007".into(), Severity::Warning),
                ("DL3001".into(), Severity::Advice),
            ],
            trusted_registries: vec!["ghcr.io".into()],
            ..Config::default()
        };
        merge_under(&mut config, &h);
        // DL3007 has a severity in .slipway.toml, so hadolint's `ignored` does not drop it.
        assert_eq!(config.ignore, ["SC2086"]);
        // The last match wins: slipway's DL3001 after hadolint's.
        assert_eq!(
            config.severity.iter().rev().find(|(c, _)| c == "DL3001").map(|x| x.1),
            Some(Severity::Advice)
        );
        assert_eq!(config.trusted_registries, ["ghcr.io"]);
        assert_eq!(config.label_schema.len(), 7);
        assert!(config.strict_labels && config.disable_ignore_pragma);
    }

    #[test]
    fn found_where_hadolint_looks() {
        let root = tempfile::tempdir().unwrap();
        let (cwd, home, repo) = (
            root.path().join("cwd"),
            root.path().join("home"),
            root.path().join("repo/sub"),
        );
        for d in [&cwd, &home, &repo] {
            std::fs::create_dir_all(d).unwrap();
        }
        let vars = |home: PathBuf| move |k: &str| (k == "HOME").then(|| home.display().to_string());
        assert_eq!(find(&cwd, Some(&repo), &vars(home.clone())), None);
        std::fs::create_dir_all(home.join(".config")).unwrap();
        std::fs::write(home.join(".config/hadolint.yaml"), "").unwrap();
        assert_eq!(
            find(&cwd, Some(&repo), &vars(home.clone())),
            Some(home.join(".config/hadolint.yaml"))
        );
        std::fs::write(root.path().join("repo/.hadolint.yml"), "").unwrap();
        assert_eq!(
            find(&cwd, Some(&repo), &vars(home.clone())),
            Some(root.path().join("repo/.hadolint.yml"))
        );
        std::fs::write(cwd.join(".hadolint.yaml"), "").unwrap();
        assert_eq!(find(&cwd, Some(&repo), &vars(home)), Some(cwd.join(".hadolint.yaml")));
    }
}
