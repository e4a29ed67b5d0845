#!/usr/bin/env python3
"""Times BuildKit's own parser (PyPI `dockerfile` 3.4.0, which embeds BuildKit v0.12.5's Go
parser) in-process: every file is read first, then `dockerfile.parse_string` runs over all
of them, best of N rounds; interpreter start-up and file reading are excluded.

usage: buildkit_parse_time.py ROUNDS LIST_FILE [SYNTH_FILE...]
  LIST_FILE: the paths to parse, one per line (as written by parse_corpus --write-list)
Prints `key=value` lines like parser/examples/parse_corpus.rs does.
"""
import sys
import time

import dockerfile


def read(path):
    # Same bytes as the Rust side: invalid UTF-8 replaced, line endings untouched.
    with open(path, "rb") as f:
        return f.read().decode("utf-8", "replace")


def parse_all(texts):
    rejected = 0
    for text in texts:
        try:
            dockerfile.parse_string(text)
        except dockerfile.GoParseError:
            rejected += 1
    return rejected


def best_of(rounds, texts):
    best = float("inf")
    rejected = 0
    for _ in range(max(rounds, 1)):
        t = time.perf_counter()
        rejected = parse_all(texts)
        best = min(best, time.perf_counter() - t)
    return best, rejected


def main():
    rounds = int(sys.argv[1])
    with open(sys.argv[2]) as f:
        paths = [line.rstrip("\n") for line in f if line.strip()]
    texts = [read(p) for p in paths]
    nbytes = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
    parse_all(texts)  # warm-up
    secs, rejected = best_of(rounds, texts)
    print(f"corpus files={len(texts)} bytes={nbytes} rounds={rounds} parse_s={secs:.6f} "
          f"parse_mbs={nbytes / 1e6 / secs:.2f} rejected={rejected}")
    for path in sys.argv[3:]:
        text = read(path)
        n = len(text.encode("utf-8", "surrogatepass"))
        secs, _ = best_of(rounds, [text])
        print(f"synth path={path} bytes={n} parse_s={secs:.6f} parse_mbs={n / 1e6 / secs:.2f}")


if __name__ == "__main__":
    main()
