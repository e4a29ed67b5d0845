//! `.slipway.toml`: the check configuration that `slipway check` and `slipway lsp` both
//! read, found from a Dockerfile's directory upward.

use slipway_parser::suppress::Config;
use slipway_parser::Severity;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The name of the configuration file looked up from each Dockerfile's directory upward.
pub const CONFIG_FILE: &str = ".slipway.toml";

/// The file's shape.
#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    /// Codes never to report.
    #[serde(default)]
    ignore: Vec<String>,
    /// Code → `error`, `warning`, `info` (or `style`, `hint`), or `ignore` / `off`.
    #[serde(default)]
    severity: BTreeMap<String, String>,
    /// Experimental build checks to enable (or `all`).
    #[serde(default)]
    experimental: Vec<String>,
    #[serde(default, alias = "trusted-registries")]
    trusted_registries: Vec<String>,
    /// hadolint's label schema: label → `text`, `url`, `semver`, `hash`, `rfc3339`, `spdx`
    /// or `email`.
    #[serde(default, alias = "label-schema")]
    label_schema: BTreeMap<String, String>,
    /// Labels outside the schema are findings (DL3050).
    #[serde(default, alias = "strict-labels")]
    strict_labels: bool,
}

/// A `[severity]` entry whose level is not one slipway knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadSeverity {
    pub code: String,
    pub level: String,
}

impl BadSeverity {
    /// What is wrong, without the code.
    pub fn describe(&self) -> String {
        format!(
            "unknown severity {:?} (expected error, warning, info or ignore)",
            self.level
        )
    }
}

/// `.slipway.toml` in `dir` or its nearest ancestor.
pub fn find(dir: &Path) -> Option<PathBuf> {
    let dir = std::path::absolute(dir).ok()?;
    dir.ancestors().map(|d| d.join(CONFIG_FILE)).find(|p| p.is_file())
}

/// Adds `code → level` entries to `config`: a severity, or (`ignore`, `off`, `none`) an
/// ignored code. Unknown levels are returned and leave the rest applied.
pub fn add_severities(config: &mut Config, levels: &BTreeMap<String, String>) -> Vec<BadSeverity> {
    let mut bad = Vec::new();
    for (code, level) in levels {
        let severity = match level.to_ascii_lowercase().as_str() {
            "error" => Severity::Error,
            "warning" => Severity::Warning,
            "info" | "style" | "hint" | "advice" => Severity::Advice,
            "ignore" | "off" | "none" => {
                config.ignore.push(code.clone());
                continue;
            }
            _ => {
                bad.push(BadSeverity {
                    code: code.clone(),
                    level: level.clone(),
                });
                continue;
            }
        };
        config.severity.push((code.clone(), severity));
    }
    bad
}

/// Reads the configuration file at `path`: the configuration and the `[severity]` entries it
/// could not use, or why the file cannot be read at all.
pub fn read(path: &Path) -> Result<(Config, Vec<BadSeverity>), String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let file: FileConfig = toml::from_str(&text).map_err(|e| format!("invalid {}: {e}", path.display()))?;
    let mut label_schema = Vec::new();
    for (name, kind) in file.label_schema {
        let kind = slipway_parser::suppress::LabelType::parse(&kind).ok_or_else(|| {
            format!(
                "invalid {}: unknown label type {kind:?} for label {name:?} (expected text, url, semver, hash, rfc3339, spdx or email)",
                path.display()
            )
        })?;
        label_schema.push((name, kind));
    }
    let mut config = Config {
        ignore: file.ignore,
        experimental: file.experimental,
        trusted_registries: file.trusted_registries,
        label_schema,
        strict_labels: file.strict_labels,
        ..Config::default()
    };
    let bad = add_severities(&mut config, &file.severity);
    Ok((config, bad))
}
