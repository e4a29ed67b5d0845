//! The HTTP side: one [`Client`] (a connection pool, the configs, cached tokens) and
//! requests against an [`Endpoint`] with authentication and retries.
//!
//! Authentication follows the distribution spec: a request goes out with what is cached
//! for (host, scope); a `401` carries a `WWW-Authenticate` challenge — `Basic` (send the
//! credentials) or `Bearer` (get a token from the realm, with the credentials when there
//! are any, anonymously otherwise) — and the request is sent again once. Transport errors,
//! `429` and `5xx` answers are retried with a growing pause, a bounded number of times.

use crate::auth::{parse_challenge, Challenge};
use crate::config::{Credentials, DockerConfig, Endpoint, RegistriesConfig};
use crate::Error;
use base64::Engine as _;
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;
use ureq::http::Response;
use ureq::Body;

/// The user name Docker gives an identity token (an OAuth2 refresh token) in its config.
pub const IDENTITY_TOKEN_USER: &str = "<token>";

/// Manifest media types slipway accepts, in order of preference.
pub const MANIFEST_ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json";

/// What a [`Client`] is made from.
#[derive(Debug, Clone, Default)]
pub struct ClientConfig {
    pub registries: RegistriesConfig,
    pub docker: DockerConfig,
    /// Attempts after the first, for transport errors, 429 and 5xx (default 3).
    pub retries: Option<u32>,
}

impl ClientConfig {
    /// The configs from their default places (see [`crate::config`]).
    pub fn from_environment() -> std::io::Result<ClientConfig> {
        let registries = match RegistriesConfig::default_path() {
            Some(p) => RegistriesConfig::load(&p)?,
            None => RegistriesConfig::default(),
        };
        let docker = match crate::config::docker_config_path() {
            Some(p) => DockerConfig::load(&p)?,
            None => DockerConfig::default(),
        };
        Ok(ClientConfig {
            registries,
            docker,
            retries: None,
        })
    }
}

/// Builds and sends one request, given the `Authorization` value to set (if any).
pub type RequestFn<'a> = dyn Fn(&ureq::Agent, Option<&str>) -> Result<Response<Body>, ureq::Error> + 'a;

/// A registry client: shareable across threads.
pub struct Client {
    agent: ureq::Agent,
    pub(crate) config: ClientConfig,
    /// Credentials given on the command line (`login`), by host; they win over the config.
    explicit: Mutex<BTreeMap<String, Credentials>>,
    /// `Authorization` header values by (host, scope).
    tokens: Mutex<BTreeMap<(String, String), String>>,
    retries: u32,
}

fn truncate(s: &str, n: usize) -> String {
    if s.len() <= n {
        s.to_string()
    } else {
        let mut end = n;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        format!("{}…", &s[..end])
    }
}

/// The message of a registry's error body (`{"errors":[{"code","message"}]}`), or its text.
pub fn error_text(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<serde_json::Value>,
    }
    if let Ok(e) = serde_json::from_slice::<Errors>(body) {
        let parts: Vec<String> = e
            .errors
            .iter()
            .map(|e| {
                let code = e.get("code").and_then(|c| c.as_str()).unwrap_or("");
                let msg = e.get("message").and_then(|c| c.as_str()).unwrap_or("");
                format!("{code}: {msg}").trim_matches([' ', ':']).to_string()
            })
            .collect();
        if !parts.is_empty() {
            return parts.join("; ");
        }
    }
    truncate(String::from_utf8_lossy(body).trim(), 300)
}

/// Reads an error answer's body (bounded) and describes it.
pub fn describe(resp: Response<Body>) -> String {
    let status = resp.status();
    let body = resp
        .into_body()
        .with_config()
        .limit(64 * 1024)
        .read_to_vec()
        .unwrap_or_default();
    let text = error_text(&body);
    if text.is_empty() {
        format!("{status}")
    } else {
        format!("{status}: {text}")
    }
}

/// Appends query parameters to a URL that may already have some.
pub fn with_query(url: &str, params: &[(&str, &str)]) -> String {
    let mut out = url.to_string();
    for (k, v) in params {
        out.push(if out.contains('?') { '&' } else { '?' });
        out.push_str(k);
        out.push('=');
        out.push_str(&percent_encode(v));
    }
    out
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Client {
    pub fn new(config: ClientConfig) -> Client {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(120)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .user_agent(concat!("slipway/", env!("CARGO_PKG_VERSION")))
            .max_idle_connections_per_host(16)
            .build()
            .into();
        let retries = config.retries.unwrap_or(3);
        Client {
            agent,
            config,
            explicit: Mutex::new(BTreeMap::new()),
            tokens: Mutex::new(BTreeMap::new()),
            retries,
        }
    }

    pub fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    pub fn registries(&self) -> &RegistriesConfig {
        &self.config.registries
    }

    /// Uses these credentials for `host` (over the Docker config's).
    pub fn set_credentials(&self, host: &str, creds: Credentials) {
        self.explicit
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(host.to_string(), creds);
        self.tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|(h, _), _| h != host);
    }

    fn credentials(&self, host: &str) -> Result<Option<Credentials>, Error> {
        if let Some(c) = self.explicit.lock().unwrap_or_else(|p| p.into_inner()).get(host) {
            return Ok(Some(c.clone()));
        }
        Ok(self.config.docker.credentials(host)?)
    }

    /// Answers a challenge: the `Authorization` header value to send.
    fn authorize(&self, ep: &Endpoint, scope: &str, challenge: &Challenge) -> Result<String, Error> {
        let creds = self.credentials(&ep.host)?;
        match challenge.scheme.as_str() {
            "basic" => {
                let c = creds.ok_or_else(|| {
                    Error::Auth(format!(
                        "registry {} wants a username and password (run `slipway login {}`)",
                        ep.host, ep.host
                    ))
                })?;
                Ok(basic(&c))
            }
            "bearer" => {
                let realm = challenge.params.get("realm").ok_or_else(|| {
                    Error::Auth(format!("registry {} sent a Bearer challenge without a realm", ep.host))
                })?;
                let mut params: Vec<(&str, &str)> = Vec::new();
                if let Some(s) = challenge.params.get("service") {
                    params.push(("service", s));
                }
                // Our scopes (the challenge's own may be narrower, e.g. pull for a push).
                let mut scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
                if let Some(s) = challenge.params.get("scope") {
                    if !scopes.contains(&s.as_str()) && scopes.is_empty() {
                        scopes.push(s);
                    }
                }
                for s in &scopes {
                    params.push(("scope", s));
                }
                let url = with_query(realm, &params);
                let mut last = String::new();
                for attempt in 0..=self.retries {
                    if attempt > 0 {
                        std::thread::sleep(backoff(attempt));
                    }
                    // An identity token (Docker's `identitytoken`) is an OAuth2 refresh token:
                    // POSTed to the realm. Otherwise a GET, with Basic credentials if any.
                    let sent = match &creds {
                        Some(c) if c.username == IDENTITY_TOKEN_USER => {
                            let mut form: Vec<(&str, &str)> = vec![
                                ("grant_type", "refresh_token"),
                                ("refresh_token", &c.password),
                                ("client_id", "slipway"),
                            ];
                            form.extend(params.iter().cloned());
                            let body = with_query("", &form);
                            self.agent
                                .post(realm)
                                .header("Content-Type", "application/x-www-form-urlencoded")
                                .send(body.trim_start_matches('?'))
                        }
                        Some(c) => self.agent.get(&url).header("Authorization", basic(c)).call(),
                        None => self.agent.get(&url).call(),
                    };
                    let resp = match sent {
                        Ok(r) => r,
                        Err(e) => {
                            last = format!("cannot reach the token server {realm}: {e}");
                            continue;
                        }
                    };
                    let status = resp.status().as_u16();
                    if status == 401 || status == 403 {
                        let hint = if creds.is_some() {
                            "check the credentials (`slipway login`)"
                        } else {
                            "this repository may need credentials: run `slipway login`"
                        };
                        return Err(Error::Auth(format!(
                            "the token server {realm} refused access to {scope} on {}: {} ({hint} {})",
                            ep.host,
                            describe(resp),
                            ep.host
                        )));
                    }
                    if status >= 500 || status == 429 {
                        last = format!("the token server {realm} answered {}", describe(resp));
                        continue;
                    }
                    if status != 200 {
                        return Err(Error::Auth(format!(
                            "the token server {realm} answered {}",
                            describe(resp)
                        )));
                    }
                    #[derive(serde::Deserialize)]
                    struct Token {
                        token: Option<String>,
                        access_token: Option<String>,
                    }
                    let body = resp
                        .into_body()
                        .with_config()
                        .limit(1 << 20)
                        .read_to_vec()
                        .map_err(|e| Error::Registry(format!("reading the token from {realm}: {e}")))?;
                    let t: Token = serde_json::from_slice(&body)
                        .map_err(|e| Error::Auth(format!("the token server {realm} sent invalid JSON: {e}")))?;
                    let token = t
                        .token
                        .or(t.access_token)
                        .filter(|t| !t.is_empty())
                        .ok_or_else(|| Error::Auth(format!("the token server {realm} sent no token")))?;
                    return Ok(format!("Bearer {token}"));
                }
                Err(Error::Registry(last))
            }
            other => Err(Error::Auth(format!(
                "registry {} asks for unsupported authentication {other:?}",
                ep.host
            ))),
        }
    }

    /// Sends a request built by `build` (given the `Authorization` value to set, if any),
    /// authenticating on a `401` and retrying transport errors, `429` and `5xx`. Other
    /// answers are returned for the caller to judge. `what` names the request in errors.
    pub fn send(&self, ep: &Endpoint, scope: &str, what: &str, build: &RequestFn<'_>) -> Result<Response<Body>, Error> {
        let key = (ep.host.clone(), scope.to_string());
        let mut authenticated = false;
        let mut attempt = 0;
        loop {
            let auth = self.tokens.lock().unwrap_or_else(|p| p.into_inner()).get(&key).cloned();
            let result = build(&self.agent, auth.as_deref());
            let resp = match result {
                Ok(r) => r,
                Err(e) => {
                    if attempt < self.retries {
                        attempt += 1;
                        std::thread::sleep(backoff(attempt));
                        continue;
                    }
                    return Err(Error::Registry(format!(
                        "{what}: cannot talk to {} ({e}) after {} attempts",
                        ep.base,
                        attempt + 1
                    )));
                }
            };
            let status = resp.status().as_u16();
            if status == 401 && !authenticated {
                let header = resp
                    .headers()
                    .get("www-authenticate")
                    .and_then(|v| v.to_str().ok())
                    .map(String::from);
                let challenge = header.as_deref().and_then(parse_challenge).ok_or_else(|| {
                    Error::Auth(format!(
                        "{what}: registry {} answered 401 without a usable WWW-Authenticate challenge",
                        ep.host
                    ))
                })?;
                let value = self.authorize(ep, scope, &challenge)?;
                self.tokens
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(key.clone(), value);
                authenticated = true;
                continue;
            }
            if status == 401 {
                return Err(Error::Auth(format!(
                    "{what}: registry {} refused the credentials: {} (run `slipway login {}`)",
                    ep.host,
                    describe(resp),
                    ep.host
                )));
            }
            if (status >= 500 || status == 429) && attempt < self.retries {
                attempt += 1;
                drop(resp);
                std::thread::sleep(backoff(attempt));
                continue;
            }
            if status >= 500 || status == 429 {
                return Err(Error::Registry(format!(
                    "{what}: registry {} answered {} after {} attempts",
                    ep.host,
                    describe(resp),
                    attempt + 1
                )));
            }
            return Ok(resp);
        }
    }
}

fn basic(c: &Credentials) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", c.username, c.password))
    )
}

/// The pause before attempt `n` (1-based): 200 ms, 400 ms, 800 ms, … up to 5 s.
pub fn backoff(n: u32) -> Duration {
    Duration::from_millis((100u64 << n.min(6)).min(5000))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_and_error_bodies() {
        assert_eq!(
            with_query(
                "http://h/token",
                &[("service", "reg"), ("scope", "repository:a/b:pull,push")]
            ),
            "http://h/token?service=reg&scope=repository%3Aa%2Fb%3Apull%2Cpush"
        );
        assert_eq!(
            with_query("/v2/x/blobs/uploads/u?_state=s", &[("digest", "sha256:1")]),
            "/v2/x/blobs/uploads/u?_state=s&digest=sha256%3A1"
        );
        assert_eq!(
            error_text(br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#),
            "MANIFEST_UNKNOWN: manifest unknown"
        );
        assert_eq!(error_text(b"  plain text \n"), "plain text");
        assert_eq!(backoff(1), Duration::from_millis(200));
        assert_eq!(backoff(30), Duration::from_millis(5000));
    }
}
