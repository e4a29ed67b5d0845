#!/usr/bin/env python3
"""Latency in a real editor: headless Neovim with editors/nvim, the driver of tests/editors.rs,
N sessions per server. Reports medians (ms) of: server attached after opening the file, first
diagnostics after opening, one hover and one completion round trip.

    bench/editors.py [--runs N] [--slipway PATH] [--peer /tmp/dls/node_modules/.bin/docker-langserver]

The peer (Node's dockerfile-language-server, see ../shared/PEERS.md) is optional. Both get the
same 6-line Dockerfile; slipway runs with shellcheck off (as in the test)."""
import argparse, json, os, pathlib, statistics, subprocess, tempfile, time

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCKERFILE = "FROM alpine:3.20 as build\nENV HOME=/h\nRUN echo $HOME\nCOPY --form=x a /b\nFROM scratch\nCOPY --from=build /a /b\n"


def session(cmd, want):
    with tempfile.TemporaryDirectory() as d:
        d = pathlib.Path(d)
        (d / "project").mkdir()
        (d / "names").mkdir()
        (d / "project/Dockerfile").write_text(DOCKERFILE)
        (d / "project/Dockerfile.dev").write_text("FROM alpine\n")
        env = dict(os.environ, SLIPWAY_E2E_PLUGIN=str(ROOT / "editors/nvim"), SLIPWAY_E2E_BIN=cmd[0],
                   SLIPWAY_E2E_CMD=json.dumps(cmd), SLIPWAY_E2E_FILE=str(d / "project/Dockerfile"),
                   SLIPWAY_E2E_SECOND=str(d / "project/Dockerfile.dev"), SLIPWAY_E2E_NAMES_DIR=str(d / "names"),
                   SLIPWAY_E2E_NAMES="a.Dockerfile", SLIPWAY_E2E_WANT_CODES=want, SLIPWAY_E2E_HOVER="2:11",
                   SLIPWAY_E2E_COMPLETE="5:7", SLIPWAY_E2E_OUT=str(d / "out.json"), SLIPWAY_ROOT=str(d / "store"),
                   HOME=str(d), XDG_CACHE_HOME=str(d / "cache"), XDG_STATE_HOME=str(d / "state"))
        t = time.monotonic()
        subprocess.run(["nvim", "--headless", "--clean", "-u", str(ROOT / "tests/fixtures/editors/nvim-e2e.lua")],
                       env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=120, check=False)
        r = json.loads((d / "out.json").read_text())
        r.setdefault("timing", {})["session"] = (time.monotonic() - t) * 1000
        return r


def report(name, cmd, want, runs):
    rows = [session(cmd, want) for _ in range(runs)]
    errors = {r["error"] for r in rows if r.get("error")}
    keys = ["attached", "diagnostics", "hover", "completion", "session"]
    med = {k: statistics.median(r["timing"][k] for r in rows if k in r["timing"]) for k in keys
           if any(k in r["timing"] for r in rows)}
    ndiag = statistics.median(len(r.get("diagnostics", [])) for r in rows)
    print(f"| {name} | " + " | ".join(f"{med[k]:.1f}" if k in med else "—" for k in keys) + f" | {ndiag:g} |")
    for e in errors:
        print(f"    ({name}: {e})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--slipway", default=str(ROOT / "target/debug/slipway"))
    ap.add_argument("--peer")
    a = ap.parse_args()
    v = subprocess.run(["nvim", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    print(f"{v}, {a.runs} sessions each, medians in ms")
    print("| server | attached | first diagnostics | hover | completion | whole session | diagnostics |")
    print("|---|---|---|---|---|---|---|")
    report("slipway", [a.slipway, "lsp", "--stdio"], "FromAsCasing,slipway::flag::unknown", a.runs)
    if a.peer:
        report("docker-langserver", [a.peer, "--stdio"], "", a.runs)


if __name__ == "__main__":
    main()
