//! Image references as Docker's `distribution/reference` parses them:
//! `[registry[:port]/]path[:tag][@digest]`, with `docker.io` and `library/` as defaults.
//! <https://github.com/distribution/reference/blob/main/reference.go>

use slipway_store::Digest;
use std::fmt;

/// Docker Hub's name in references, and the host its API answers on.
pub const DOCKER_HUB: &str = "docker.io";
pub const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// A parsed image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// `docker.io`, `ghcr.io`, `localhost:5000`, `[::1]:5000`.
    pub registry: String,
    /// `library/alpine`, `org/img`.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

fn component_ok(c: &str) -> bool {
    // [a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*
    let b = c.as_bytes();
    if b.is_empty() || !b[0].is_ascii_alphanumeric() || !b[b.len() - 1].is_ascii_alphanumeric() {
        return false;
    }
    let mut i = 0;
    while i < b.len() {
        let ch = b[i];
        if ch.is_ascii_lowercase() || ch.is_ascii_digit() {
            i += 1;
            continue;
        }
        // A separator run: one '.', one '_', two '_', or any number of '-'.
        let start = i;
        while i < b.len() && matches!(b[i], b'.' | b'_' | b'-') {
            i += 1;
        }
        let sep = &c[start..i];
        if !(sep == "." || sep == "_" || sep == "__" || sep.bytes().all(|x| x == b'-')) {
            return false;
        }
        if i < b.len() && !(b[i].is_ascii_lowercase() || b[i].is_ascii_digit()) {
            return false;
        }
    }
    true
}

fn domain_ok(d: &str) -> bool {
    let (host, port) = if let Some(rest) = d.strip_prefix('[') {
        match rest.split_once(']') {
            Some((ip, port)) => {
                if ip.parse::<std::net::Ipv6Addr>().is_err() {
                    return false;
                }
                (
                    None,
                    port.strip_prefix(':')
                        .map(Some)
                        .unwrap_or(if port.is_empty() { None } else { Some("x") }),
                )
            }
            None => return false,
        }
    } else {
        match d.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(d), None),
        }
    };
    if let Some(p) = port {
        if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    host.is_none_or(|h| {
        !h.is_empty()
            && h.split('.').all(|l| {
                !l.is_empty()
                    && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !l.starts_with('-')
                    && !l.ends_with('-')
            })
    })
}

impl Reference {
    /// Parses a reference; errors say what is wrong.
    pub fn parse(s: &str) -> Result<Reference, String> {
        if s.is_empty() {
            return Err("empty image reference".into());
        }
        if s.len() > 4096 {
            return Err("image reference is too long".into());
        }
        let (rest, digest) = match s.split_once('@') {
            Some((r, d)) => (
                r,
                Some(
                    d.parse::<Digest>()
                        .map_err(|e| format!("invalid digest in image reference {s:?}: {e}"))?,
                ),
            ),
            None => (s, None),
        };
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(i) => (&rest[..slash + i], Some(rest[slash + i + 1..].to_string())),
            None => (rest, None),
        };
        if let Some(t) = &tag {
            let ok = !t.is_empty()
                && t.len() <= 128
                && (t.as_bytes()[0].is_ascii_alphanumeric() || t.as_bytes()[0] == b'_')
                && t.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
            if !ok {
                return Err(format!(
                    "invalid tag {t:?} in image reference {s:?} (tags are up to 128 letters, digits, '_', '.' and '-')"
                ));
            }
        }
        // Docker's splitDockerDomain: the first part is a registry when it has a '.' or a
        // ':', or is `localhost`, or has upper case letters.
        let (registry, path) = match name.split_once('/') {
            Some((first, path))
                if first.contains(['.', ':'])
                    || first == "localhost"
                    || first.bytes().any(|b| b.is_ascii_uppercase()) =>
            {
                (first.to_string(), path.to_string())
            }
            _ => (DOCKER_HUB.to_string(), name.to_string()),
        };
        let registry = if registry == "index.docker.io" {
            DOCKER_HUB.to_string()
        } else {
            registry
        };
        if !domain_ok(&registry) {
            return Err(format!("invalid registry {registry:?} in image reference {s:?}"));
        }
        let path = if registry == DOCKER_HUB && !path.contains('/') {
            format!("library/{path}")
        } else {
            path
        };
        if path.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(format!(
                "invalid image reference {s:?}: repository names must be lowercase (try {:?})",
                s.to_lowercase()
            ));
        }
        if !path.split('/').all(component_ok) {
            return Err(format!(
                "invalid image reference {s:?}: path components are lowercase letters and digits, separated by '.', '_', '__' or '-'"
            ));
        }
        if registry.len() + 1 + path.len() > 255 {
            return Err(format!("image name in {s:?} is longer than 255 characters"));
        }
        Ok(Reference {
            registry,
            repository: path,
            tag,
            digest,
        })
    }

    /// The tag or digest to ask the registry for (`latest` when neither is given).
    pub fn version(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }

    /// `registry/repository`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.into()),
            digest: None,
            ..self.clone()
        }
    }
}

impl fmt::Display for Reference {
    /// The full form, `:latest` added when neither tag nor digest is given (the store's names).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        match (&self.tag, &self.digest) {
            (None, None) => f.write_str(":latest"),
            (t, d) => {
                if let Some(t) = t {
                    write!(f, ":{t}")?;
                }
                if let Some(d) = d {
                    write!(f, "@{d}")?;
                }
                Ok(())
            }
        }
    }
}

impl std::str::FromStr for Reference {
    type Err = String;
    fn from_str(s: &str) -> Result<Reference, String> {
        Reference::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(s: &str) -> String {
        match Reference::parse(s) {
            Ok(r) => format!("{} | {} | {} | {}", r.registry, r.repository, r.version(), r),
            Err(e) => format!("error: {e}"),
        }
    }

    #[test]
    fn references_parse_like_docker() {
        let d = format!("sha256:{}", "a".repeat(64));
        let cases = [
            (
                "alpine",
                "docker.io | library/alpine | latest | docker.io/library/alpine:latest",
            ),
            (
                "alpine:3.19",
                "docker.io | library/alpine | 3.19 | docker.io/library/alpine:3.19",
            ),
            ("me/app", "docker.io | me/app | latest | docker.io/me/app:latest"),
            (
                "index.docker.io/me/app:v1",
                "docker.io | me/app | v1 | docker.io/me/app:v1",
            ),
            ("ghcr.io/org/img:tag", "ghcr.io | org/img | tag | ghcr.io/org/img:tag"),
            (
                "localhost:5000/x",
                "localhost:5000 | x | latest | localhost:5000/x:latest",
            ),
            ("localhost/x:t", "localhost | x | t | localhost/x:t"),
            (
                "127.0.0.1:5000/a/b/c:1.0",
                "127.0.0.1:5000 | a/b/c | 1.0 | 127.0.0.1:5000/a/b/c:1.0",
            ),
            ("[::1]:5000/x", "[::1]:5000 | x | latest | [::1]:5000/x:latest"),
            (
                "my-reg.example.com/a__b/c-d.e:x",
                "my-reg.example.com | a__b/c-d.e | x | my-reg.example.com/a__b/c-d.e:x",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(show(input), want, "{input}");
        }
        let r = Reference::parse(&format!("python:3.12-slim@{d}")).unwrap();
        assert_eq!(r.version(), d);
        assert_eq!(r.to_string(), format!("docker.io/library/python:3.12-slim@{d}"));
        let bad = [
            ("", "empty"),
            ("Alpine", "lowercase"),
            ("alpine:", "invalid tag"),
            ("alpine:-x", "invalid tag"),
            ("a//b", "path components"),
            ("a/b_", "path components"),
            ("a/b...c", "path components"),
            ("alpine@sha256:abc", "invalid digest"),
            ("bad_host.com:x/img", "invalid registry"),
        ];
        for (input, want) in bad {
            let got = show(input);
            assert!(got.starts_with("error") && got.contains(want), "{input}: {got}");
        }
    }
}
