//! Grammars of flag values: `RUN --mount` (a CSV record of `key=value`
//! fields), Go durations (`HEALTHCHECK --interval=1m30s`), file modes.
//! Small grammars with precise error positions: chumsky's territory.
//!
//! Values that still hold a `$` are checked only for their shape; the
//! semantic model expands them first (BuildKit expands mount values).

use chumsky::prelude::*;
use std::ops::Range;

/// A problem inside a flag value: a range relative to the value, a message, a fix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValueError {
    pub span: Range<usize>,
    pub message: String,
    pub help: String,
}

fn err(span: Range<usize>, message: impl Into<String>, help: impl Into<String>) -> ValueError {
    ValueError {
        span,
        message: message.into(),
        help: help.into(),
    }
}

/// `type=` of a `--mount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MountType {
    Bind,
    Cache,
    Tmpfs,
    Secret,
    Ssh,
}

impl MountType {
    pub const ALL: [(&'static str, MountType); 5] = [
        ("bind", MountType::Bind),
        ("cache", MountType::Cache),
        ("tmpfs", MountType::Tmpfs),
        ("secret", MountType::Secret),
        ("ssh", MountType::Ssh),
    ];

    pub fn as_str(self) -> &'static str {
        Self::ALL.iter().find(|(_, t)| *t == self).map_or("bind", |(n, _)| n)
    }
}

/// `sharing=` of a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Sharing {
    Shared,
    Private,
    Locked,
}

/// A parsed `RUN --mount=...`, with BuildKit's defaults applied.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mount {
    pub kind: MountType,
    pub from: Option<String>,
    pub source: Option<String>,
    pub target: Option<String>,
    pub readonly: bool,
    pub id: Option<String>,
    pub sharing: Option<Sharing>,
    pub required: bool,
    pub size: Option<String>,
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub env: Option<String>,
}

/// Every key BuildKit accepts in `--mount`.
pub const MOUNT_KEYS: [&str; 19] = [
    "type",
    "from",
    "source",
    "src",
    "target",
    "dst",
    "destination",
    "readonly",
    "ro",
    "readwrite",
    "rw",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "env",
];

/// The fields of a CSV record (Go's `encoding/csv` rules: `"` quotes a whole
/// field, `""` is a quote inside one, a bare `"` elsewhere is an error),
/// each with its span.
fn csv_fields<'a>() -> impl Parser<'a, &'a str, Vec<(String, Range<usize>)>, extra::Err<Rich<'a, char>>> {
    let quoted = just('"')
        .ignore_then(
            choice((just("\"\"").to('"'), none_of('"')))
                .repeated()
                .collect::<String>(),
        )
        .then_ignore(just('"').labelled("closing quote"));
    let bare = none_of(",\"\r\n").repeated().collect::<String>();
    quoted
        .or(bare)
        .map_with(|s, e| {
            let span: SimpleSpan = e.span();
            (s, span.start..span.end)
        })
        .separated_by(just(','))
        .at_least(1)
        .collect::<Vec<_>>()
        .then_ignore(end())
}

fn parse_bool(v: &str) -> Option<bool> {
    // Go's strconv.ParseBool.
    match v {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// The comma-separated fields of a `--mount` value, with their spans.
fn fields(value: &str) -> Result<Vec<(String, Range<usize>)>, ValueError> {
    if !value.contains(['"', '\r', '\n']) {
        // Nothing quoted: the fields are what lies between the commas.
        let mut at = 0;
        return Ok(value
            .split(',')
            .map(|f| {
                let field = (f.to_string(), at..at + f.len());
                at += f.len() + 1;
                field
            })
            .collect());
    }
    csv_fields().parse(value).into_result().map_err(|errs| {
        let e = &errs[0];
        let span = e.span().start
            ..e.span()
                .end
                .max(e.span().start + 1)
                .min(value.len().max(e.span().start));
        err(
            span,
            format!("failed to parse csv mounts: {e}"),
            "separate fields with commas; quote a whole field (\"target=/a,b\") to put a comma in it",
        )
    })
}

/// Parses a `--mount` value. Values containing `$` are taken as they are
/// (checked after expansion by the caller).
pub fn parse_mount(value: &str) -> Result<Mount, ValueError> {
    let fields = fields(value)?;
    let mut m = Mount {
        kind: MountType::Bind,
        from: None,
        source: None,
        target: None,
        readonly: false,
        id: None,
        sharing: None,
        required: false,
        size: None,
        mode: None,
        uid: None,
        gid: None,
        env: None,
    };
    let mut ro_auto = true;
    let mut whole: Range<usize> = 0..value.len();
    for (field, span) in &fields {
        whole = span.clone();
        let (key, val) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
            None => (field.to_ascii_lowercase(), None),
        };
        let val_span = span.start + key.len() + 1..span.end;
        let Some(val) = val else {
            match key.as_str() {
                "readonly" | "ro" => {
                    m.readonly = true;
                    ro_auto = false;
                }
                "readwrite" | "rw" => {
                    m.readonly = false;
                    ro_auto = false;
                }
                "required" if matches!(m.kind, MountType::Secret | MountType::Ssh) => m.required = true,
                "required" => {
                    return Err(err(
                        span.clone(),
                        format!("unexpected key 'required' for mount type '{}'", m.kind.as_str()),
                        "`required` applies to secret and ssh mounts only",
                    ));
                }
                _ => {
                    let help = match crate::diagnostics::did_you_mean(&key, MOUNT_KEYS) {
                        Some(s) if s != key => format!("did you mean `{s}=...`?"),
                        _ => format!("write `{key}=<value>`"),
                    };
                    return Err(err(
                        span.clone(),
                        format!("invalid field '{field}' must be a key=value pair"),
                        help,
                    ));
                }
            }
            continue;
        };
        if key == "from" {
            if let Some(i) = val.find('$') {
                if i != val.len() - 1 {
                    return Err(err(
                        val_span,
                        "'from' doesn't support variable expansion, define alias stage instead",
                        "add `FROM <image> AS alias` and use `from=alias`",
                    ));
                }
            }
        }
        let deferred = val.contains('$');
        let bad_value = |what: &str| {
            err(
                val_span.clone(),
                format!("invalid value for {key}: {val}"),
                what.to_string(),
            )
        };
        match key.as_str() {
            "type" => {
                if deferred {
                    continue;
                }
                let lower = val.to_ascii_lowercase();
                match MountType::ALL.iter().find(|(n, _)| *n == lower) {
                    Some((_, t)) => m.kind = *t,
                    None => {
                        let names = MountType::ALL.map(|(n, _)| n);
                        let help = match crate::diagnostics::did_you_mean(val, names) {
                            Some(s) => format!("did you mean {s}?"),
                            None => format!("mount types are {}", names.join(", ")),
                        };
                        return Err(err(
                            val_span,
                            format!("unsupported mount type {}", crate::buildkit::go_quote(val)),
                            help,
                        ));
                    }
                }
            }
            "from" => m.from = Some(val.to_string()),
            "source" | "src" => m.source = Some(val.to_string()),
            "target" | "dst" | "destination" => m.target = Some(val.to_string()),
            "readonly" | "ro" | "readwrite" | "rw" => {
                let b = if deferred { Some(true) } else { parse_bool(val) };
                let Some(b) = b else {
                    return Err(bad_value("use true or false"));
                };
                m.readonly = if matches!(key.as_str(), "readonly" | "ro") {
                    b
                } else {
                    !b
                };
                ro_auto = false;
            }
            "required" => {
                if !matches!(m.kind, MountType::Secret | MountType::Ssh) {
                    return Err(err(
                        span.clone(),
                        format!("unexpected key 'required' for mount type '{}'", m.kind.as_str()),
                        "`required` applies to secret and ssh mounts only",
                    ));
                }
                m.required = if deferred {
                    true
                } else {
                    parse_bool(val).ok_or_else(|| bad_value("use true or false"))?
                };
            }
            "size" => {
                if m.kind != MountType::Tmpfs {
                    return Err(err(
                        span.clone(),
                        format!("unexpected key 'size' for mount type '{}'", m.kind.as_str()),
                        "`size` applies to tmpfs mounts only",
                    ));
                }
                if !deferred && !is_ram_size(val) {
                    return Err(bad_value("write a size like 64m, 1g or 1048576"));
                }
                m.size = Some(val.to_string());
            }
            "id" => m.id = Some(val.to_string()),
            "sharing" => {
                if deferred {
                    continue;
                }
                m.sharing = Some(match val.to_ascii_lowercase().as_str() {
                    "shared" => Sharing::Shared,
                    "private" => Sharing::Private,
                    "locked" => Sharing::Locked,
                    _ => {
                        let help = match crate::diagnostics::did_you_mean(val, ["shared", "private", "locked"]) {
                            Some(s) => format!("did you mean {s}?"),
                            None => "sharing is shared, private or locked".to_string(),
                        };
                        return Err(err(
                            val_span,
                            format!("unsupported sharing value {}", crate::buildkit::go_quote(val)),
                            help,
                        ));
                    }
                });
            }
            "mode" => {
                if !deferred {
                    m.mode = Some(u32::from_str_radix(val, 8).map_err(|_| {
                        err(
                            val_span.clone(),
                            format!("invalid value {val} for mode"),
                            "write an octal mode such as 0644",
                        )
                    })?);
                }
            }
            "uid" | "gid" => {
                if !deferred {
                    let n = val.parse::<u32>().map_err(|_| {
                        err(
                            val_span.clone(),
                            format!("invalid value {val} for {key}"),
                            "write a number such as 1000",
                        )
                    })?;
                    if key == "uid" {
                        m.uid = Some(n);
                    } else {
                        m.gid = Some(n);
                    }
                }
            }
            "env" => m.env = Some(val.to_string()),
            _ => {
                let help = match crate::diagnostics::did_you_mean(&key, MOUNT_KEYS) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("mount keys are {}", MOUNT_KEYS.join(", ")),
                };
                return Err(err(
                    span.start..span.start + key.len(),
                    format!("unexpected key '{key}' in '{field}'"),
                    help,
                ));
            }
        }
    }
    let file_info = matches!(m.kind, MountType::Secret | MountType::Ssh | MountType::Cache);
    for (set, name) in [
        (m.mode.is_some(), "mode"),
        (m.uid.is_some(), "uid"),
        (m.gid.is_some(), "gid"),
    ] {
        if set && !file_info {
            return Err(err(
                0..value.len(),
                format!("{name} not allowed for \"{}\" type mounts", m.kind.as_str()),
                format!("`{name}` applies to cache, secret and ssh mounts"),
            ));
        }
    }
    if ro_auto {
        m.readonly = !matches!(m.kind, MountType::Cache | MountType::Tmpfs);
    }
    if m.kind == MountType::Secret {
        if m.from.is_some() {
            return Err(err(
                0..value.len(),
                "secret mount should not have a from",
                "remove `from=`; secrets come from `--secret` at build time",
            ));
        }
        if m.sharing.is_some() {
            return Err(err(
                0..value.len(),
                "secret mount should not define sharing",
                "remove `sharing=`",
            ));
        }
        if m.source.is_none() && m.target.is_none() && m.id.is_none() {
            return Err(err(
                0..value.len(),
                "invalid secret mount. one of source, target required",
                "add `id=<secret id>` or `target=/run/secrets/<name>`",
            ));
        }
        if m.source.is_some() && m.id.is_some() {
            return Err(err(
                0..value.len(),
                "both source and id can't be set",
                "keep `id=` (or `source=`), not both",
            ));
        }
    }
    if m.sharing.is_some() && m.kind != MountType::Cache {
        return Err(err(
            whole,
            format!("invalid cache sharing set for {} mount", m.kind.as_str()),
            "`sharing` applies to cache mounts only",
        ));
    }
    Ok(m)
}

/// docker/go-units RAMInBytes: a number with an optional b/k/m/g/t/p unit (and optional `b`/`ib`).
fn is_ram_size(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    let num_len = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    if num_len == 0 || lower[..num_len].parse::<f64>().is_err() {
        return false;
    }
    matches!(
        lower[num_len..].trim(),
        "" | "b"
            | "k"
            | "kb"
            | "kib"
            | "m"
            | "mb"
            | "mib"
            | "g"
            | "gb"
            | "gib"
            | "t"
            | "tb"
            | "tib"
            | "p"
            | "pb"
            | "pib"
    )
}

/// A Go duration (`time.ParseDuration`): `[-+]?` then `0` or one or more
/// `<number><unit>` with units ns, us, µs, ms, s, m, h. Returns nanoseconds.
fn duration<'a>() -> impl Parser<'a, &'a str, f64, extra::Err<Rich<'a, char>>> {
    let number = text::digits(10)
        .then(just('.').then(text::digits(10).or_not()).or_not())
        .to_slice()
        .or(just('.').then(text::digits(10)).to_slice())
        .labelled("a number");
    let unit = none_of("0123456789.")
        .repeated()
        .at_least(1)
        .to_slice()
        .try_map(|u: &str, span| {
            let ns = match u {
                "ns" => 1.0,
                "us" | "µs" | "μs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                _ => {
                    return Err(Rich::custom(
                        span,
                        format!("unknown unit \"{u}\" in duration (use ns, us, ms, s, m or h)"),
                    ))
                }
            };
            Ok(ns)
        })
        .labelled("a unit (ns, us, ms, s, m, h)");
    let component = number
        .then(unit)
        .map(|(n, unit): (&str, f64)| n.parse::<f64>().unwrap_or(0.0) * unit);
    let sign = one_of("+-").or_not().map(|s| if s == Some('-') { -1.0 } else { 1.0 });
    sign.then(choice((
        just('0').then(end()).to(0.0),
        component
            .repeated()
            .at_least(1)
            .collect::<Vec<f64>>()
            .map(|v| v.iter().sum::<f64>()),
    )))
    .map(|(s, v)| s * v)
    .then_ignore(end())
}

/// Parses a Go duration; the error points into the value.
pub fn parse_duration(value: &str) -> Result<std::time::Duration, ValueError> {
    let ns = duration().parse(value).into_result().map_err(|errs| {
        // Prefer our own "unknown unit" over a generic expectation.
        let e = errs
            .iter()
            .find(|e| matches!(e.reason(), chumsky::error::RichReason::Custom(_)))
            .unwrap_or(&errs[0]);
        let start = e.span().start.min(value.len());
        let end = e.span().end.clamp(start, value.len());
        let unknown_unit = value
            .split(|c: char| c.is_ascii_digit() || c == '.' || c == '-' || c == '+')
            .find(|u| !u.is_empty() && !matches!(*u, "ns" | "us" | "µs" | "μs" | "ms" | "s" | "m" | "h"));
        let message = match (e.reason(), unknown_unit) {
            (chumsky::error::RichReason::Custom(msg), _) => msg.to_string(),
            (_, Some(u)) => format!("unknown unit \"{u}\" in duration (use ns, us, ms, s, m or h)"),
            (_, None) if value.is_empty() => "invalid duration \"\"".to_string(),
            (_, None)
                if value
                    .trim_start_matches(['-', '+'])
                    .chars()
                    .all(|c| c.is_ascii_digit() || c == '.') =>
            {
                format!("missing unit in duration \"{value}\"")
            }
            (_, None) => format!("invalid duration \"{value}\""),
        };
        err(
            start..end.max(start),
            message,
            "write a duration like 30s, 1m30s or 500ms",
        )
    })?;
    if ns < 0.0 {
        return Err(err(
            0..value.len(),
            format!("duration \"{value}\" cannot be negative"),
            "write a positive duration like 30s",
        ));
    }
    Ok(std::time::Duration::from_nanos(ns.min(u64::MAX as f64) as u64))
}

/// `--chmod`: octal (`0755`) or symbolic (`u+x,go-w`), as BuildKit accepts.
pub fn check_chmod(value: &str) -> Result<(), ValueError> {
    if value.contains('$') {
        return Ok(());
    }
    if !value.is_empty() && value.len() <= 4 && value.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return Ok(());
    }
    let symbolic = value.split(',').all(|clause| {
        let who = clause.len() - clause.trim_start_matches(['u', 'g', 'o', 'a']).len();
        let rest = &clause[who..];
        !rest.is_empty()
            && rest.split_inclusive(['+', '-', '=']).count() > 0
            && rest.starts_with(['+', '-', '='])
            && rest.chars().all(|c| "+-=rwxXst".contains(c))
    });
    if symbolic {
        Ok(())
    } else {
        Err(err(
            0..value.len(),
            format!("invalid chmod parameter {value}"),
            "write an octal mode such as 0755, or a symbolic one such as u+x",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts_take_buildkit_defaults() {
        let m = parse_mount("type=cache,target=/var/cache/apt,sharing=locked").unwrap();
        assert_eq!(
            (m.kind, m.target.as_deref(), m.sharing, m.readonly),
            (MountType::Cache, Some("/var/cache/apt"), Some(Sharing::Locked), false)
        );
        let m = parse_mount("target=.").unwrap();
        assert_eq!((m.kind, m.readonly), (MountType::Bind, true));
        let m = parse_mount("type=bind,target=.,rw").unwrap();
        assert!(!m.readonly);
        let m = parse_mount("type=secret,id=npmrc,required").unwrap();
        assert!(m.required);
        let m = parse_mount("\"target=/a,b\",type=tmpfs,size=64m").unwrap();
        assert_eq!(m.target.as_deref(), Some("/a,b"));
    }

    #[test]
    fn mount_errors_point_at_the_field() {
        let e = parse_mount("type=cahce,target=/x").unwrap_err();
        assert_eq!(e.span, 5..10);
        assert!(e.help.contains("cache"), "{e:?}");
        let e = parse_mount("type=cache,taget=/x").unwrap_err();
        assert_eq!(e.message, "unexpected key 'taget' in 'taget=/x'");
        assert_eq!(e.span, 11..16);
        assert!(e.help.contains("target"));
        assert!(parse_mount("type=bind,sharing=locked,target=/x").is_err());
        assert!(parse_mount("type=secret").is_err());
        assert!(parse_mount("type=bind,mode=0700,target=/x").is_err());
        assert!(parse_mount("a\"b").is_err());
        assert!(parse_mount("from=$X,target=/x").is_err());
        assert!(parse_mount("type=$T,target=/x").is_ok());
    }

    #[test]
    fn durations_follow_go() {
        assert_eq!(parse_duration("30s").unwrap().as_secs(), 30);
        assert_eq!(parse_duration("1m30s").unwrap().as_secs(), 90);
        assert_eq!(parse_duration("1.5h").unwrap().as_secs(), 5400);
        assert_eq!(parse_duration("500ms").unwrap().as_millis(), 500);
        assert_eq!(parse_duration("0").unwrap().as_secs(), 0);
        assert_eq!(
            parse_duration("10").unwrap_err().message,
            "missing unit in duration \"10\""
        );
        assert!(parse_duration("5x").unwrap_err().message.contains("unknown unit"));
        assert!(parse_duration("").is_err());
        assert!(parse_duration("-5s").is_err());
    }

    #[test]
    fn chmod_forms() {
        assert!(check_chmod("0755").is_ok());
        assert!(check_chmod("644").is_ok());
        assert!(check_chmod("u+x,go-w").is_ok());
        assert!(check_chmod("0999").is_err());
        assert!(check_chmod("rwx").is_err());
    }
}
