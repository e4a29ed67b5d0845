//! hadolint's label-schema rules (DL3049–DL3056, DL3058) over the `label_schema`
//! and `strict_labels` of the configuration, and the file-level rules that look at
//! whole images: DL3049 (a schema label missing) and DL3057 (no HEALTHCHECK).
//!
//! An image is a stage no other stage uses; it has the labels and HEALTHCHECK of
//! the stages it is built on. hadolint judges every stage on its own (a build stage
//! that is only copied from is silenced, one used as a base is not): slipway judges
//! the images a build produces.

use super::{finding, Cx};
use crate::diagnostics::Diagnostic;
use crate::model::Base;
use crate::suppress::LabelType;
use crate::syntax::{Args, KeyValue, Keyword};

/// DL3050–DL3056, DL3058 on one LABEL instruction.
pub(crate) fn values(cx: &Cx<'_>, i: usize, kvs: &[KeyValue], out: &mut Vec<Diagnostic>) {
    let schema = &cx.options.config.label_schema;
    if schema.is_empty() && !cx.options.config.strict_labels {
        return;
    }
    let env = cx.env_at(i);
    let mut superfluous: Vec<(&KeyValue, String)> = Vec::new();
    for kv in kvs {
        let Some(key) = cx.expand(&kv.key.text, &env) else {
            continue;
        };
        let Some(&(_, kind)) = schema.iter().find(|(k, _)| *k == key) else {
            superfluous.push((kv, key));
            continue;
        };
        // A value with an unknown variable is not judged.
        let Some(value) = cx.expand(&kv.value.text, &env) else {
            continue;
        };
        let span = if kv.value.span.is_empty() {
            kv.key.span.clone()
        } else {
            kv.value.span.clone()
        };
        if value.is_empty() {
            out.push(
                finding("DL3051", span.clone(), format!("label `{key}` is empty"))
                    .with_label("empty value")
                    .with_help("give the label a value, or remove it"),
            );
        }
        let (dl, what, ok) = match kind {
            LabelType::Text => continue,
            LabelType::Url => ("DL3052", "is not a valid URL", is_url(&value)),
            LabelType::Rfc3339 => (
                "DL3053",
                "is not a valid time format - must conform to RFC3339",
                is_rfc3339(&value),
            ),
            LabelType::Spdx => (
                "DL3054",
                "is not a valid SPDX identifier",
                spdx::license_id(&value).is_some(),
            ),
            LabelType::Hash => ("DL3055", "is not a valid git hash", is_git_hash(&value)),
            LabelType::SemVer => ("DL3056", "does not conform to semantic versioning", is_semver(&value)),
            LabelType::Email => (
                "DL3058",
                "is not a valid email format - must conform to RFC5322",
                is_email(&value),
            ),
        };
        if !ok {
            let help = match kind {
                LabelType::Url => "an absolute URL: `https://example.com/project`",
                LabelType::Rfc3339 => "a time such as `2024-05-01T12:00:00Z`",
                LabelType::Spdx => "an SPDX license identifier such as `MIT` or `Apache-2.0`",
                LabelType::Hash => "a commit hash: 7 or 40 lowercase hexadecimal digits",
                LabelType::SemVer => "a version such as `1.2.3` or `1.2.3-rc.1`",
                _ => "an address such as `team@example.com`",
            };
            out.push(
                finding(dl, span, format!("Label `{key}` {what}"))
                    .with_label(format!("`{value}`"))
                    .with_help(help),
            );
        }
    }
    if cx.options.config.strict_labels {
        if let Some(((first, _), rest)) = superfluous.split_first() {
            let names: Vec<String> = superfluous.iter().map(|(_, k)| format!("`{k}`")).collect();
            let mut d = finding(
                "DL3050",
                first.key.span.clone(),
                format!("Superfluous label(s) present: {}", names.join(", ")),
            )
            .with_label("not in the label schema")
            .with_help("with strict labels, use only the labels of the label schema");
            for (kv, k) in rest {
                d = d.with_related(kv.key.span.clone(), format!("`{k}` is not in the label schema"));
            }
            out.push(d);
        }
    }
}

/// DL3049 and DL3057 over the images of the file.
pub(crate) fn images(cx: &Cx<'_>, out: &mut Vec<Diagnostic>) {
    let schema = &cx.options.config.label_schema;
    let n = cx.model.stages.len();
    // Per stage: its labels and whether it has a HEALTHCHECK, with those of its bases.
    let mut labels: Vec<Vec<String>> = Vec::with_capacity(n);
    let mut health: Vec<bool> = Vec::with_capacity(n);
    for (k, stage) in cx.model.stages.iter().enumerate() {
        let (mut l, mut h) = match stage.base {
            Base::Stage(p) if p < k => (labels[p].clone(), health[p]),
            _ => (Vec::new(), false),
        };
        for &i in &stage.instructions {
            let inst = &cx.file.instructions[i];
            match (inst.keyword, &inst.args) {
                (Some(Keyword::Healthcheck), _) => h = true,
                (Some(Keyword::Label), Args::KeyValues(kvs)) if !schema.is_empty() => {
                    let env = cx.env_at(i);
                    // A key with an unknown variable may be any label: count it as each.
                    l.extend(
                        kvs.iter()
                            .map(|kv| cx.expand(&kv.key.text, &env).unwrap_or_else(|| "*".into())),
                    );
                }
                _ => {}
            }
        }
        labels.push(l);
        health.push(h);
    }
    for (k, stage) in cx.model.stages.iter().enumerate() {
        if cx.used[k] {
            continue;
        }
        let span = stage.base_span.clone();
        for (key, _) in schema {
            if !labels[k].iter().any(|l| l == key || l == "*") {
                out.push(
                    finding("DL3049", span.clone(), format!("Label `{key}` is missing"))
                        .with_label("this image has no such label")
                        .with_help(format!(
                            "add `LABEL {key}=<value>` to the stage or a stage it is built on"
                        )),
                );
            }
        }
        if !health[k] {
            out.push(
                finding("DL3057", span, "`HEALTHCHECK` instruction missing")
                    .with_label("this image has no HEALTHCHECK")
                    .with_help("add `HEALTHCHECK CMD <command>` (or `HEALTHCHECK NONE` to say there is none)"),
            );
        }
    }
}

/// An absolute URI as RFC 3986 reads it: `scheme:` and URI characters after it.
fn is_url(v: &str) -> bool {
    let Some((scheme, rest)) = v.split_once(':') else {
        return false;
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    let b = rest.as_bytes();
    let mut k = 0;
    while k < b.len() {
        let c = b[k] as char;
        if c == '%' {
            let hex = |j: usize| b.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(k + 1) && hex(k + 2)) {
                return false;
            }
            k += 3;
            continue;
        }
        if !(c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=".contains(c)) {
            return false;
        }
        k += 1;
    }
    scheme_ok
}

/// `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`.
fn is_rfc3339(v: &str) -> bool {
    let b = v.as_bytes();
    let num = |r: std::ops::Range<usize>, max: u32| {
        b.get(r.clone())
            .filter(|d| d.iter().all(u8::is_ascii_digit))
            .and_then(|_| v[r].parse::<u32>().ok())
            .is_some_and(|n| n <= max)
    };
    let sep = |k: usize, c: &[u8]| b.get(k).is_some_and(|x| c.contains(x));
    if !(num(0..4, 9999)
        && sep(4, b"-")
        && num(5..7, 12)
        && v[5..7] != *"00"
        && sep(7, b"-")
        && num(8..10, 31)
        && v[8..10] != *"00"
        && sep(10, b"Tt ")
        && num(11..13, 23)
        && sep(13, b":")
        && num(14..16, 59)
        && sep(16, b":")
        && num(17..19, 60))
    {
        return false;
    }
    let mut rest = &v[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &frac[digits..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => {
            [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit())
                && (h1 - b'0') * 10 + (h2 - b'0') <= 23
                && (m1 - b'0') * 10 + (m2 - b'0') <= 59
        }
        _ => false,
    }
}

/// 7 (short) or 40 lowercase hexadecimal digits.
fn is_git_hash(v: &str) -> bool {
    (v.len() == 7 || v.len() == 40) && v.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

/// Semantic Versioning 2.0.0: `MAJOR.MINOR.PATCH[-pre][+build]`.
fn is_semver(v: &str) -> bool {
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    let ident = |s: &str| !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-');
    let (rest, build) = match v.split_once('+') {
        Some((r, b)) => (r, Some(b)),
        None => (v, None),
    };
    let (core, pre) = match rest.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (rest, None),
    };
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts.iter().all(|p| numeric(p))
        && pre.is_none_or(|p| {
            p.split('.')
                .all(|id| ident(id) && (!id.bytes().all(|c| c.is_ascii_digit()) || numeric(id)))
        })
        && build.is_none_or(|b| b.split('.').all(ident))
}

/// An RFC 5322 `addr-spec`: a dot-atom or quoted local part, `@`, a dot-atom domain or
/// a `[literal]`.
fn is_email(v: &str) -> bool {
    let Some(at) = v.rfind('@') else { return false };
    let (local, domain) = (&v[..at], &v[at + 1..]);
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    let dot_atom = |s: &str| !s.is_empty() && s.split('.').all(|a| !a.is_empty() && a.chars().all(atext));
    let quoted = |s: &str| {
        s.len() >= 2
            && s.starts_with('"')
            && s.ends_with('"')
            && s[1..s.len() - 1].chars().all(|c| c.is_ascii() && !c.is_ascii_control())
    };
    let literal = |s: &str| {
        s.starts_with('[')
            && s.ends_with(']')
            && s[1..s.len() - 1]
                .chars()
                .all(|c| c.is_ascii_graphic() && !"[]\\".contains(c))
    };
    (dot_atom(local) || quoted(local)) && (dot_atom(domain) || literal(domain))
}

#[cfg(test)]
mod tests {
    #[test]
    fn value_kinds() {
        assert!(super::is_url("https://example.com/a?b=c#d"));
        assert!(super::is_url("mailto:a@b.c"));
        assert!(!super::is_url("example.com"));
        assert!(!super::is_url("https://exa mple.com"));
        assert!(super::is_rfc3339("2024-05-01T12:00:00Z"));
        assert!(super::is_rfc3339("2024-05-01T12:00:00.123+02:00"));
        assert!(!super::is_rfc3339("2024-05-01"));
        assert!(!super::is_rfc3339("2024-13-01T12:00:00Z"));
        assert!(super::is_git_hash("0123abc"));
        assert!(!super::is_git_hash("0123ABC"));
        assert!(super::is_semver("1.2.3-rc.1+build.5"));
        assert!(!super::is_semver("v1.2.3"));
        assert!(!super::is_semver("1.2"));
        assert!(!super::is_semver("01.2.3"));
        assert!(super::is_email("team.lead+x@example.com"));
        assert!(!super::is_email("team@"));
        assert!(!super::is_email("team example.com"));
    }
}
