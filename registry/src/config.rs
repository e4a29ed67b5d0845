//! Configuration: which registries are mirrored or plain http (`registries.toml`), and
//! credentials (Docker's `config.json`: `auths`, `credsStore`, `credHelpers`).
//!
//! `registries.toml` (`$SLIPWAY_REGISTRIES_CONFIG`, else `$XDG_CONFIG_HOME/slipway/registries.toml`,
//! else `~/.config/slipway/registries.toml`) follows the shape of containers' `registries.conf`:
//!
//! ```toml
//! [[registry]]
//! location = "docker.io"
//! [[registry.mirror]]
//! location = "127.0.0.1:5000"
//! insecure = true          # plain http
//!
//! [[registry]]
//! location = "registry.internal:5000"
//! insecure = true
//! ```
//!
//! Loopback registries (`localhost`, `127.0.0.0/8`, `[::1]`) speak http unless configured
//! otherwise, as Docker treats them as insecure by default.

use base64::Engine as _;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistriesConfig {
    #[serde(default)]
    pub registry: Vec<RegistryEntry>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegistryEntry {
    /// `docker.io`, `ghcr.io`, `host:port`.
    pub location: String,
    /// Speak plain http.
    #[serde(default)]
    pub insecure: bool,
    /// Tried in order before `location` when pulling.
    #[serde(default)]
    pub mirror: Vec<Mirror>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mirror {
    pub location: String,
    #[serde(default)]
    pub insecure: bool,
}

/// Where a registry's API is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The host (and port) as in references and credentials: `docker.io`, `127.0.0.1:5000`.
    pub host: String,
    /// `https://registry-1.docker.io`, `http://127.0.0.1:5000`.
    pub base: String,
    /// Whether this is a mirror of the reference's registry.
    pub mirror: bool,
}

fn is_loopback(host: &str) -> bool {
    let h = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    h == "localhost" || h.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

impl RegistriesConfig {
    /// The default config file's path.
    pub fn default_path() -> Option<PathBuf> {
        if let Some(p) = std::env::var_os("SLIPWAY_REGISTRIES_CONFIG").filter(|p| !p.is_empty()) {
            return Some(PathBuf::from(p));
        }
        let base = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
        Some(base.join("slipway/registries.toml"))
    }

    /// Reads a config file; a missing file is an empty config.
    pub fn load(path: &Path) -> io::Result<RegistriesConfig> {
        match std::fs::read_to_string(path) {
            Ok(text) => RegistriesConfig::parse(&text)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(RegistriesConfig::default()),
            Err(e) => Err(io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))),
        }
    }

    pub fn parse(text: &str) -> Result<RegistriesConfig, String> {
        let c: RegistriesConfig = toml::from_str(text).map_err(|e| e.to_string())?;
        for r in &c.registry {
            if r.location.is_empty() || r.location.contains('/') && !r.location.contains("://") {
                // Only hosts: mirrors of a namespace are not supported.
                return Err(format!(
                    "registry location {:?} must be a host[:port] (namespaces are not supported)",
                    r.location
                ));
            }
            for m in &r.mirror {
                if m.location.is_empty() || m.location.contains('/') {
                    return Err(format!("mirror location {:?} must be a host[:port]", m.location));
                }
            }
        }
        Ok(c)
    }

    fn entry(&self, host: &str) -> Option<&RegistryEntry> {
        self.registry.iter().find(|r| r.location == host)
    }

    fn base(host: &str, insecure: bool) -> String {
        let api = if host == crate::reference::DOCKER_HUB {
            crate::reference::DOCKER_HUB_API
        } else {
            host
        };
        let scheme = if insecure { "http" } else { "https" };
        format!("{scheme}://{api}")
    }

    /// The endpoint of `host` itself (for push and login).
    pub fn endpoint(&self, host: &str) -> Endpoint {
        let insecure = self
            .entry(host)
            .map_or(is_loopback(host), |r| r.insecure || is_loopback(host));
        Endpoint {
            host: host.to_string(),
            base: Self::base(host, insecure),
            mirror: false,
        }
    }

    /// Where to pull from: the mirrors in order, then the registry.
    pub fn pull_endpoints(&self, host: &str) -> Vec<Endpoint> {
        let mut out: Vec<Endpoint> = self
            .entry(host)
            .map(|r| {
                r.mirror
                    .iter()
                    .map(|m| Endpoint {
                        host: m.location.clone(),
                        base: Self::base(&m.location, m.insecure || is_loopback(&m.location)),
                        mirror: true,
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(self.endpoint(host));
        out
    }
}

/// A username and password (or token) for a registry.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, ***)", self.username)
    }
}

/// Docker's `config.json`, the parts slipway reads.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DockerConfig {
    #[serde(default)]
    pub auths: BTreeMap<String, AuthEntry>,
    #[serde(default, rename = "credsStore")]
    pub creds_store: Option<String>,
    #[serde(default, rename = "credHelpers")]
    pub cred_helpers: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthEntry {
    #[serde(default)]
    pub auth: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default, rename = "identitytoken")]
    pub identity_token: Option<String>,
}

/// The key Docker uses for Docker Hub in `auths`.
pub const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// The `auths` key for a registry host.
pub fn auth_key(host: &str) -> String {
    if host == crate::reference::DOCKER_HUB {
        DOCKER_HUB_AUTH_KEY.into()
    } else {
        host.into()
    }
}

/// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(d).join("config.json"));
    }
    std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker/config.json"))
}

/// Strips a scheme and path from an `auths` key (`https://host/v1/` → `host`).
fn key_host(key: &str) -> &str {
    let k = key.split_once("://").map_or(key, |(_, rest)| rest);
    k.split('/').next().unwrap_or(k)
}

impl DockerConfig {
    pub fn load(path: &Path) -> io::Result<DockerConfig> {
        match std::fs::read(path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(DockerConfig::default()),
            Err(e) => Err(io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))),
        }
    }

    /// Credentials for `host`: its credential helper, else `auths`, else the `credsStore`.
    pub fn credentials(&self, host: &str) -> io::Result<Option<Credentials>> {
        let key = auth_key(host);
        if let Some(helper) = self.cred_helpers.get(host).or_else(|| self.cred_helpers.get(&key)) {
            return helper_get(helper, &key);
        }
        let entry = self
            .auths
            .get(&key)
            .or_else(|| self.auths.iter().find(|(k, _)| key_host(k) == host).map(|(_, v)| v));
        if let Some(e) = entry {
            if let Some(c) = decode_entry(e).map_err(|m| io::Error::new(io::ErrorKind::InvalidData, m))? {
                return Ok(Some(c));
            }
        }
        match &self.creds_store {
            Some(store) => helper_get(store, &key),
            None => Ok(None),
        }
    }
}

fn decode_entry(e: &AuthEntry) -> Result<Option<Credentials>, String> {
    if let Some(auth) = e.auth.as_deref().filter(|a| !a.is_empty()) {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .map_err(|err| format!("invalid base64 in an `auth` entry of the Docker config: {err}"))?;
        let text =
            String::from_utf8(bytes).map_err(|_| "an `auth` entry of the Docker config is not UTF-8".to_string())?;
        let (u, p) = text
            .split_once(':')
            .ok_or_else(|| "an `auth` entry of the Docker config is not `user:password`".to_string())?;
        return Ok(Some(Credentials {
            username: u.into(),
            password: p.into(),
        }));
    }
    if let Some(t) = e.identity_token.as_deref().filter(|t| !t.is_empty()) {
        // Docker sends identity tokens as a refresh token with the user `<token>`.
        return Ok(Some(Credentials {
            username: crate::client::IDENTITY_TOKEN_USER.into(),
            password: t.into(),
        }));
    }
    match (&e.username, &e.password) {
        (Some(u), Some(p)) if !u.is_empty() => Ok(Some(Credentials {
            username: u.clone(),
            password: p.clone(),
        })),
        _ => Ok(None),
    }
}

/// Runs `docker-credential-<helper> get` with the server URL on stdin.
/// <https://github.com/docker/docker-credential-helpers#development>
fn helper_get(helper: &str, server: &str) -> io::Result<Option<Credentials>> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let program = format!("docker-credential-{helper}");
    let mut child = match Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        // The helper named in the config is not installed: no credentials, as Docker does
        // when the store is absent.
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io::Error::new(e.kind(), format!("cannot run {program}: {e}"))),
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(server.as_bytes());
    }
    let out = child
        .wait_with_output()
        .map_err(|e| io::Error::new(e.kind(), format!("{program} get: {e}")))?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if msg.contains("credentials not found") {
            return Ok(None);
        }
        return Err(io::Error::other(format!(
            "{program} get failed ({}): {msg}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    #[derive(Deserialize)]
    struct HelperAnswer {
        #[serde(rename = "Username")]
        username: String,
        #[serde(rename = "Secret")]
        secret: String,
    }
    let a: HelperAnswer = serde_json::from_slice(&out.stdout)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{program} get answered badly: {e}")))?;
    Ok(Some(Credentials {
        username: a.username,
        password: a.secret,
    }))
}

/// Stores credentials for `host` in the config file at `path` (`auths`, base64 as Docker
/// writes them), keeping every other field of the file. Through the credential helper when
/// the file names one for this host.
pub fn store_credentials(path: &Path, host: &str, creds: &Credentials) -> io::Result<()> {
    let mut doc: serde_json::Value = match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display())))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => serde_json::json!({}),
        Err(e) => return Err(io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))),
    };
    let key = auth_key(host);
    let helper = doc
        .get("credHelpers")
        .and_then(|h| h.get(host).or_else(|| h.get(&key)))
        .or_else(|| doc.get("credsStore"))
        .and_then(|v| v.as_str())
        .map(String::from);
    if let Some(helper) = helper {
        return helper_store(&helper, &key, creds);
    }
    let obj = doc.as_object_mut().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not a JSON object", path.display()),
        )
    })?;
    let auths = obj.entry("auths").or_insert_with(|| serde_json::json!({}));
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", creds.username, creds.password));
    auths
        .as_object_mut()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "`auths` in the Docker config is not an object",
            )
        })?
        .insert(key, serde_json::json!({ "auth": encoded }));
    let bytes = serde_json::to_vec_pretty(&doc).map_err(io::Error::other)?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    slipway_store::write_atomic(path, &bytes)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

fn helper_store(helper: &str, server: &str, creds: &Credentials) -> io::Result<()> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let program = format!("docker-credential-{helper}");
    let mut child = Command::new(&program)
        .arg("store")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run {program} (named in the Docker config): {e}"),
            )
        })?;
    let body = serde_json::json!({"ServerURL": server, "Username": creds.username, "Secret": creds.password});
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(body.to_string().as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(io::Error::other(format!(
            "{program} store failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_config_mirrors_and_insecure() {
        let c = RegistriesConfig::parse(
            r#"
[[registry]]
location = "docker.io"
[[registry.mirror]]
location = "127.0.0.1:5000"
[[registry.mirror]]
location = "mirror.example.com"

[[registry]]
location = "reg.internal:5000"
insecure = true
"#,
        )
        .unwrap();
        let e: Vec<String> = c.pull_endpoints("docker.io").into_iter().map(|e| e.base).collect();
        assert_eq!(
            e,
            [
                "http://127.0.0.1:5000",
                "https://mirror.example.com",
                "https://registry-1.docker.io"
            ]
        );
        assert_eq!(c.endpoint("reg.internal:5000").base, "http://reg.internal:5000");
        assert_eq!(c.endpoint("ghcr.io").base, "https://ghcr.io");
        assert_eq!(c.endpoint("localhost:5000").base, "http://localhost:5000");
        assert_eq!(c.endpoint("[::1]:5000").base, "http://[::1]:5000");
        let err = RegistriesConfig::parse("[[registry]]\nlocation = \"x\"\nmirrors = []\n").unwrap_err();
        assert!(err.contains("unknown field"), "{err}");
        assert!(RegistriesConfig::parse("[[registry]]\nlocation = \"docker.io/library\"\n").is_err());
    }

    #[test]
    fn docker_config_credentials() {
        let c: DockerConfig = serde_json::from_str(
            r#"{"auths": {
                "https://index.docker.io/v1/": {"auth": "dXNlcjpwYXNz"},
                "http://127.0.0.1:5000": {"auth": "YTpiOmM="},
                "ghcr.io": {"username": "u", "password": "p"},
                "bad.io": {"auth": "!!"}
            }, "credHelpers": {"helper.io": "slipway-test-absent-helper"}}"#,
        )
        .unwrap();
        let get = |h: &str| {
            c.credentials(h)
                .map(|c| c.map(|c| format!("{}:{}", c.username, c.password)))
        };
        assert_eq!(get("docker.io").unwrap().as_deref(), Some("user:pass"));
        assert_eq!(get("127.0.0.1:5000").unwrap().as_deref(), Some("a:b:c"));
        assert_eq!(get("ghcr.io").unwrap().as_deref(), Some("u:p"));
        assert_eq!(get("quay.io").unwrap(), None);
        assert!(get("bad.io").unwrap_err().to_string().contains("base64"));
        // An absent helper means no credentials, not an error.
        assert_eq!(get("helper.io").unwrap(), None);
    }

    #[test]
    fn stored_credentials_read_back_and_keep_other_fields() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("config.json");
        std::fs::write(&p, r#"{"psFormat": "x", "auths": {"other.io": {"auth": "YTpi"}}}"#).unwrap();
        let creds = Credentials {
            username: "me".into(),
            password: "secret".into(),
        };
        store_credentials(&p, "127.0.0.1:5000", &creds).unwrap();
        let c = DockerConfig::load(&p).unwrap();
        assert_eq!(c.credentials("127.0.0.1:5000").unwrap(), Some(creds));
        assert!(c.credentials("other.io").unwrap().is_some());
        let raw: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(raw["psFormat"], "x");
    }
}
