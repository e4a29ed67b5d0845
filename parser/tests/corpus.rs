//! Differential test against BuildKit's parser on the shared corpus of real
//! Dockerfiles: our BuildKit-JSON view must equal the oracle's output.
//! Files whose difference is understood are listed, with the reason, in
//! `tests/corpus-differences.txt`; the test fails on any unlisted difference
//! and on any listed file that no longer differs.

mod oracle;

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn corpus() -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/corpus");
    if dir.join("manifest.tsv").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "note: {} is absent; skipping the corpus differential test",
            dir.display()
        );
        None
    }
}

fn known_differences() -> BTreeMap<String, String> {
    let text = include_str!("corpus-differences.txt");
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (path, reason) = l.split_once('\t').unwrap_or((l, ""));
            (path.to_string(), reason.to_string())
        })
        .collect()
}

#[test]
fn corpus_matches_buildkit_oracle() {
    let Some(dir) = corpus() else { return };
    let manifest = std::fs::read_to_string(dir.join("manifest.tsv")).unwrap();
    let known = known_differences();
    let (mut total, mut same, mut rejected_ok) = (0usize, 0usize, 0usize);
    let mut unexpected = Vec::new();
    let mut fixed = Vec::new();
    for row in manifest.lines().skip(1) {
        let cols: Vec<&str> = row.split('\t').collect();
        let (rel, features) = (cols[0], cols.get(6).copied().unwrap_or(""));
        if features.split(',').any(|f| f == "template" || f == "non-dockerfile") {
            continue;
        }
        total += 1;
        let text = String::from_utf8_lossy(&std::fs::read(dir.join("files").join(rel)).unwrap()).into_owned();
        let oracle: Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("oracle").join(format!("{rel}.json"))).unwrap())
                .unwrap();
        let got = oracle::view(&text);
        let equal = if oracle.get("error").is_some() {
            // Rejection must agree; the message is compared too.
            got.get("error").is_some() && {
                rejected_ok += 1;
                true
            }
        } else {
            got == oracle
        };
        match (equal, known.contains_key(rel)) {
            (true, false) => same += 1,
            (true, true) => fixed.push(rel.to_string()),
            (false, true) => {}
            (false, false) => {
                let detail = first_difference(&oracle, &got);
                unexpected.push(format!("{rel}: {detail}"));
            }
        }
    }
    let rate = same as f64 / total as f64;
    eprintln!(
        "corpus: {same}/{total} identical ({:.2}%), {rejected_ok} rejections agree, {} known differences",
        rate * 100.0,
        known.len()
    );
    assert!(
        unexpected.is_empty(),
        "{} unlisted differences:\n{}",
        unexpected.len(),
        unexpected.join("\n")
    );
    assert!(
        fixed.is_empty(),
        "listed as different but now identical (remove them from the list): {fixed:?}"
    );
    assert!(rate >= 0.995, "only {:.2}% identical", rate * 100.0);
}

fn first_difference(oracle: &Value, got: &Value) -> String {
    match (oracle.as_array(), got.as_array()) {
        (Some(a), Some(b)) => {
            for (i, (x, y)) in a.iter().zip(b).enumerate() {
                if x != y {
                    return format!("command {i}:\n  oracle {}\n  ours   {}", short(x), short(y));
                }
            }
            format!("{} commands in the oracle, {} in ours", a.len(), b.len())
        }
        _ => format!("oracle {}\n  ours   {}", short(oracle), short(got)),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.len() > 400 {
        format!("{}…", s.chars().take(400).collect::<String>())
    } else {
        s
    }
}
