//! Parse throughput, measured in-process: `throughput FILE...` reads every
//! file first, then parses them all `ROUNDS` times (env, default 5) and
//! prints the best round as JSON. Also times synthetic inputs of 64 KB,
//! 256 KB and 1 MB to show linear scaling.

use std::time::Instant;

fn best_of(rounds: usize, texts: &[String]) -> f64 {
    (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for text in texts {
                std::hint::black_box(slipway_parser::parse(text));
            }
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(5);
    let texts: Vec<String> = std::env::args()
        .skip(1)
        .map(|p| String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()).into_owned())
        .collect();
    let bytes: usize = texts.iter().map(String::len).sum();
    let secs = best_of(rounds, &texts);
    let unit = "FROM alpine:3.20 AS build\nARG V=1\nRUN --mount=type=cache,target=/root/.cache \\\n    apk add --no-cache curl && \\\n    echo \"${V:-none}\"\nCOPY --from=build --chmod=0755 /out /app\nRUN <<EOF\nset -e\nmake\nEOF\nENV A=1 B=\"two words\"\nCMD [\"/app\", \"--serve\"]\n";
    let scaling: Vec<(usize, f64)> = [64 << 10, 256 << 10, 1 << 20]
        .iter()
        .map(|&size| {
            let text = unit.repeat(size / unit.len() + 1);
            (text.len(), best_of(rounds, std::slice::from_ref(&text)))
        })
        .collect();
    println!(
        "{{\"files\": {}, \"bytes\": {bytes}, \"seconds\": {secs:.6}, \"scaling\": [{}]}}",
        texts.len(),
        scaling
            .iter()
            .map(|(b, s)| format!("[{b}, {s:.6}]"))
            .collect::<Vec<_>>()
            .join(", ")
    );
}
