//! Settings: `.slipway.toml` (the file `slipway check` reads, found from the
//! document's directory upward) overlaid with the editor's settings
//! (`initializationOptions`, or `workspace/didChangeConfiguration` under `slipway`).

use serde::Deserialize;
use slipway_parser::suppress::Config;
use std::collections::BTreeMap;
use std::path::Path;

/// The editor's settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Settings {
    /// Codes never to report (as `.slipway.toml`'s `ignore`).
    pub ignore: Vec<String>,
    /// Code → `error`, `warning`, `info` or `ignore` (as `.slipway.toml`'s `[severity]`).
    pub severity: BTreeMap<String, String>,
    /// Experimental BuildKit checks to enable.
    pub experimental: Vec<String>,
    /// Run shellcheck on RUN scripts when it is installed.
    pub shellcheck: bool,
    /// Quiet time after the last edit before shellcheck runs again (ms).
    pub shellcheck_delay_ms: u64,
    /// Quiet time after an edit before the fast diagnostics are published (ms); edits
    /// arriving meanwhile are coalesced.
    pub diagnostics_delay_ms: u64,
    /// `--build-arg` values for the model and the plan.
    pub build_args: BTreeMap<String, String>,
    /// `--target`.
    pub target: Option<String>,
    /// Cache-status code lenses from a dry-run plan (scans the build context on open and save).
    pub code_lens: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            ignore: Vec::new(),
            severity: BTreeMap::new(),
            experimental: Vec::new(),
            shellcheck: true,
            shellcheck_delay_ms: 300,
            diagnostics_delay_ms: 0,
            build_args: BTreeMap::new(),
            target: None,
            code_lens: true,
        }
    }
}

impl Settings {
    /// Reads settings from a JSON value (`{"slipway": {...}}` or `{...}`); unknown keys
    /// are ignored, a malformed value is an error to report.
    pub fn from_json(value: &serde_json::Value) -> Result<Settings, String> {
        let v = value.get("slipway").unwrap_or(value);
        if v.is_null() {
            return Ok(Settings::default());
        }
        serde_json::from_value(v.clone()).map_err(|e| format!("invalid slipway settings: {e}"))
    }
}

fn add_severities(config: &mut Config, levels: &BTreeMap<String, String>, errors: &mut Vec<String>) {
    for b in slipway_planner::config::add_severities(config, levels) {
        errors.push(format!("{}: {}", b.code, b.describe()));
    }
}

/// The check configuration for a document at `path`: its `.slipway.toml`, then the
/// editor's settings. Problems (unreadable or invalid file, unknown severity) are returned
/// with the configuration that could be built.
pub fn check_config(path: Option<&Path>, settings: &Settings) -> (Config, Vec<String>) {
    let mut config = Config::default();
    let mut errors = Vec::new();
    if let Some(file) = path.and_then(Path::parent).and_then(slipway_planner::config::find) {
        match slipway_planner::config::read(&file) {
            Ok((fc, bad)) => {
                config = fc;
                errors.extend(bad.iter().map(|b| format!("{}: {}", b.code, b.describe())));
            }
            Err(e) => errors.push(e),
        }
    }
    // hadolint's `.hadolint.yaml` and `HADOLINT_*`, under `.slipway.toml`.
    let env = |k: &str| std::env::var(k).ok();
    let cwd = std::env::current_dir().unwrap_or_default();
    let mut hadolint = slipway_planner::hadolint::HadolintConfig::default();
    if let Some(file) = slipway_planner::hadolint::find(&cwd, path.and_then(Path::parent), &env) {
        match slipway_planner::hadolint::read(&file) {
            Ok(h) => hadolint = h,
            Err(e) => errors.push(e),
        }
    }
    slipway_planner::hadolint::merge_under(&mut config, &hadolint.with(slipway_planner::hadolint::from_env(&env)));
    config.ignore.extend(settings.ignore.iter().cloned());
    config.experimental.extend(settings.experimental.iter().cloned());
    add_severities(&mut config, &settings.severity, &mut errors);
    if let Some(v) = settings.build_args.get("BUILDKIT_DOCKERFILE_CHECK") {
        config.check = Some(v.clone());
    }
    (config, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use slipway_parser::Severity;

    #[test]
    fn settings_and_file_config_merge() {
        let dir = std::env::temp_dir().join(format!("slipway-lsp-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(".slipway.toml"),
            "ignore = [\"DL3008\"]\n[severity]\nStageNameCasing = \"error\"\n",
        )
        .unwrap();
        let settings = Settings::from_json(
            &serde_json::json!({"slipway": {"ignore": ["SC2086"], "severity": {"X": "off", "Y": "loud"}}}),
        )
        .unwrap();
        let (c, errors) = check_config(Some(&dir.join("Dockerfile")), &settings);
        assert_eq!(c.ignore, ["DL3008", "SC2086", "X"]);
        assert_eq!(c.severity, [("StageNameCasing".to_string(), Severity::Error)]);
        assert_eq!(errors.len(), 1);
        assert!(errors[0].contains("unknown severity \"loud\""));
        std::fs::write(dir.join(".slipway.toml"), "bogus = 1\n").unwrap();
        let (_, errors) = check_config(Some(&dir.join("Dockerfile")), &Settings::default());
        assert!(errors[0].contains("invalid"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(Settings::from_json(&serde_json::json!({"shellcheck": "yes"})).is_err());
    }
}
