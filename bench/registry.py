#!/usr/bin/env python3
"""Pull and push of a 5-layer ~100 MB image on a loopback registry: slipway against skopeo.

A random-data image (5 gzip layers of ~20 MB each) is written as an OCI layout and
seeded into Debian's `docker-registry` (distribution 2.8) on 127.0.0.1 with skopeo. Then,
per round, with an empty destination each time:

  pull  slipway pull IMAGE (empty store)   vs  skopeo copy docker://IMAGE oci:DIR:img
  push  slipway push IMAGE (empty registry) vs  skopeo copy oci:DIR:img docker://IMAGE

Both tools verify digests and transfer layers in parallel. Median of the rounds; the
registry is restarted with empty storage before every timed push.

Usage: bench/registry.py [--slipway PATH] [--rounds N] [--write-results]
(`cargo build --release --bin slipway` first; needs docker-registry and skopeo.)
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    def __init__(self, work):
        self.dir = tempfile.mkdtemp(dir=work, prefix="registry-")
        self.port = free_port()
        cfg = os.path.join(self.dir, "config.yml")
        with open(cfg, "w") as f:
            f.write(
                "version: 0.1\nlog: {level: error}\n"
                f"storage: {{filesystem: {{rootdirectory: {self.dir}/data}}}}\n"
                f"http: {{addr: 127.0.0.1:{self.port}}}\n"
            )
        self.proc = subprocess.Popen(
            ["docker-registry", "serve", cfg], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(200):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/v2/", timeout=1)
                return
            except Exception:
                time.sleep(0.025)
        self.stop()
        sys.exit("docker-registry did not start")

    def host(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def blob(layout, data, media_type):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return {"mediaType": media_type, "digest": "sha256:" + digest, "size": len(data)}


def make_image(layout, layers, mb):
    """An OCI layout with `layers` gzip layers of random data, `mb` MB in all."""
    os.makedirs(os.path.join(layout, "blobs", "sha256"))
    descs, diff_ids = [], []
    per = mb * 1_000_000 // layers
    for i in range(layers):
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as t:
            info = tarfile.TarInfo(f"data/layer{i}.bin")
            info.size = per
            t.addfile(info, io.BytesIO(os.urandom(per)))
        tar = raw.getvalue()
        diff_ids.append("sha256:" + hashlib.sha256(tar).hexdigest())
        descs.append(blob(layout, gzip.compress(tar, compresslevel=1, mtime=0), "application/vnd.oci.image.layer.v1.tar+gzip"))
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    cdesc = blob(layout, json.dumps(config).encode(), "application/vnd.oci.image.config.v1+json")
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": cdesc,
        "layers": descs,
    }
    mdesc = blob(layout, json.dumps(manifest).encode(), "application/vnd.oci.image.manifest.v1+json")
    mdesc["annotations"] = {"org.opencontainers.image.ref.name": "img"}
    with open(os.path.join(layout, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [mdesc]}, f)
    with open(os.path.join(layout, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    return sum(d["size"] for d in descs) + cdesc["size"]


def timed(cmd, env):
    t = time.perf_counter()
    r = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed: {r.stderr.decode()[-2000:]}")
    return elapsed


def main():
    ap = argparse.ArgumentParser()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap.add_argument("--slipway", default=os.path.join(target, "release", "slipway"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--layers", type=int, default=5)
    ap.add_argument("--mb", type=int, default=100)
    ap.add_argument("--write-results", action="store_true")
    a = ap.parse_args()
    for tool in ["docker-registry", "skopeo", a.slipway]:
        if not shutil.which(tool):
            sys.exit(f"needs {tool}")
    work = tempfile.mkdtemp(prefix="slipway-bench-registry-")
    env = dict(os.environ)
    env["DOCKER_CONFIG"] = os.path.join(work, "docker")
    env["SLIPWAY_REGISTRIES_CONFIG"] = os.path.join(work, "none.toml")
    env["HOME"] = work
    try:
        layout = os.path.join(work, "layout")
        size = make_image(layout, a.layers, a.mb)
        reg = Registry(work)
        image = f"{reg.host()}/bench/img:1"
        subprocess.run(
            ["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:img", f"docker://{image}"],
            check=True,
        )
        pulls = {"slipway": [], "skopeo": []}
        for r in range(a.rounds):
            store = os.path.join(work, f"store-{r}")
            pulls["slipway"].append(timed([a.slipway, "pull", "-q", image], {**env, "SLIPWAY_ROOT": store}))
            shutil.rmtree(store)
            dest = os.path.join(work, f"oci-{r}")
            pulls["skopeo"].append(
                timed(["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{image}", f"oci:{dest}:img"], env)
            )
            shutil.rmtree(dest)
        # The store to push from.
        store = os.path.join(work, "store-push")
        senv = {**env, "SLIPWAY_ROOT": store}
        subprocess.run([a.slipway, "pull", "-q", image], env=senv, check=True, stdout=subprocess.DEVNULL)
        reg.stop()
        pushes = {"slipway": [], "skopeo": []}
        for r in range(a.rounds):
            reg = Registry(work)
            pushes["slipway"].append(timed([a.slipway, "push", "-q", image, f"{reg.host()}/bench/pushed:1"], senv))
            reg.stop()
            reg = Registry(work)
            pushes["skopeo"].append(
                timed(
                    ["skopeo", "copy", "-q", "--dest-tls-verify=false", f"oci:{layout}:img", f"docker://{reg.host()}/bench/pushed:1"],
                    env,
                )
            )
            reg.stop()
        skopeo_version = subprocess.run(["skopeo", "--version"], capture_output=True, text=True).stdout.strip()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    mb = size / 1e6
    rows = []
    for op, t in (("pull", pulls), ("push", pushes)):
        s, k = statistics.median(t["slipway"]), statistics.median(t["skopeo"])
        rows.append(
            f"| {op} | {s:.2f} s ({mb / s:.0f} MB/s) | {k:.2f} s ({mb / k:.0f} MB/s) | **{k / s:.2f}x** |"
        )
    table = "\n".join(
        [
            "| operation | slipway | skopeo | skopeo time / slipway time |",
            "|---|---:|---:|---:|",
            *rows,
        ]
    )
    raw = "\n".join(
        f"{op} {tool}: " + ", ".join(f"{x:.2f}" for x in t[tool])
        for op, t in (("pull", pulls), ("push", pushes))
        for tool in ("slipway", "skopeo")
    )
    print(table)
    print(raw)
    if a.write_results:
        section = f"""## Registry

Measured {time.strftime('%Y-%m-%d')} on {os.cpu_count()} CPUs (shared with other work), loopback only:
Debian's `docker-registry` (distribution 2.8) on 127.0.0.1, filesystem storage. The image has
{a.layers} gzip layers of random data, {mb:.1f} MB of blobs in all. Median of {a.rounds} rounds, each
into an empty destination: `slipway pull` into an empty store vs `skopeo copy docker://… oci:DIR`
({skopeo_version}); `slipway push` vs `skopeo copy oci:DIR docker://…`, each push into a freshly
started, empty registry. Both verify every blob's digest and move layers in parallel (slipway:
4 at a time). Wall time of the whole command.

Reproduce: `cargo build --release --bin slipway && bench/registry.py --write-results`.

{table}

Rounds (seconds): {raw.replace(chr(10), '; ')}.

Goal: not slower than skopeo (ratio ≥ 1.0).
"""
        path = os.path.join(ROOT, "bench", "RESULTS.md")
        text = open(path).read()
        start = text.find("## Registry\n")
        if start >= 0:
            end = text.find("\n## ", start + 1)
            text = text[:start] + section + (text[end + 1 :] if end >= 0 else "")
        else:
            text = text.rstrip("\n") + "\n\n" + section
        open(path, "w").write(text)


if __name__ == "__main__":
    main()
