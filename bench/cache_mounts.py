#!/usr/bin/env python3
"""Issue 18.3: a dependency install with a cache mount on a second machine (empty store),
its cache imported from a registry with and without `--cache-to ...,mounts=true`.

Offline (the machine reaches only loopback), so the package mirror is local:

  pip      `pip install awscli boto3` (13 packages) with `--mount=type=cache` on pip's
           cache, from a PyPI-like simple index served on 127.0.0.1. The wheels are the
           host's installed distributions packed back into wheels; the index sends PyPI's
           Cache-Control headers, so pip caches what it downloads as it does from PyPI
           (`--trusted-host`: pip caches plain-http responses only from trusted hosts).
  pip-sdist the same, with awscli and docutils published as source distributions only (as
           many PyPI packages are): pip builds their wheels, and caches what it built.
  download a stand-in for a big dependency set (apt archives, CUDA wheels, a cargo
           registry): 200 files of 1 MiB of random bytes, each fetched over HTTP only when
           the cache mount lacks it, then copied into the image ("installed").

The image is Debian bookworm minbase (/var/cache/slipway/bookworm-minbase.tar) with the
host's pyenv CPython 3.11.7 and pip copied in. Machine A builds each workload once and
exports its cache twice: `ref=R:plain` and `ref=R:mounts,mounts=true`. Each timed build
is machine B: a fresh store holding only the base image (a CI runner with the base
cached, unpacked), building with a changed ARG (so the install RUN misses, as after a
change of the requirements) and `--cache-from` one of the two caches.

Two links, side by side in one run: `loopback` (the index and the registry unshaped) and
`shaped` (both behind one shared link of --rate-mb MB/s, --latency-ms per request: the
registry gets no advantage over the mirror). Rounds interleave the cases.

Usage: bench/cache_mounts.py [--slipway PATH] [--rounds N] [--rate-mb 20] [--latency-ms 20]
                             [--links loopback,shaped] [--dump DIR]
(root; `cargo build --release --bin slipway` first; needs docker-registry, and the host's
pyenv CPython 3.11.7 with awscli and boto3 installed — the wheels come from there.)
"""

import argparse
import base64
import hashlib
import http.server
import io
import importlib.metadata
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = "/root/.pyenv/versions/3.11.7"
MINBASE = "/var/cache/slipway/bookworm-minbase.tar"
PACKAGES = ["awscli", "boto3"]
BLOBS, BLOB_SIZE = 200, 1 << 20
# Served as source distributions in the pip-sdist workload: pip builds their wheels (and
# caches what it built) — as for the many PyPI packages that publish no wheel.
SDISTS = {"awscli", "docutils"}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url):
    for _ in range(200):
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except Exception:
            time.sleep(0.05)
    raise SystemExit(f"{url} does not answer")


class Registry:
    def __init__(self, work):
        self.dir = os.path.join(work, "registry")
        os.makedirs(self.dir)
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
        wait_http(f"http://127.0.0.1:{self.port}/v2/")


class Shaper:
    """One link shared by every connection through it: a token bucket on the bytes coming
    back, and a delay before each chunk the client sends (a round trip per request)."""

    def __init__(self):
        self.rate = 0  # bytes/s; 0: unshaped
        self.latency = 0.0
        self.lock = threading.Lock()
        self.next_free = 0.0
        self.bytes = {}

    def send(self, n):
        if not self.rate:
            return
        with self.lock:
            now = time.monotonic()
            start = max(now, self.next_free)
            self.next_free = start + n / self.rate
            wait = self.next_free - now
        time.sleep(wait)


class Link:
    """A TCP proxy on loopback in front of `upstream`, through a Shaper."""

    def __init__(self, name, upstream, shaper):
        self.name, self.upstream, self.shaper = name, upstream, shaper
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.down = 0
        self.requests = 0
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            client, _ = self.sock.accept()
            server = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self.pipe, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self.pipe, args=(server, client, False), daemon=True).start()

    def pipe(self, src, dst, up):
        try:
            while True:
                data = src.recv(1 << 16)
                if not data:
                    break
                if up:
                    if self.shaper.latency:
                        time.sleep(self.shaper.latency)
                    self.requests += data.count(b" HTTP/1.1\r\n")
                else:
                    for i in range(0, len(data), 16384):
                        self.shaper.send(len(data[i : i + 16384]))
                    self.down += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


BUILD_WHEELS = [  # what building an sdist needs from the index (setuptools' build backend)
    "/root/.pyenv/versions/3.13.0/lib/python3.13/test/wheeldata/setuptools-67.6.1-py3-none-any.whl",
    "/root/.pyenv/versions/3.13.0/lib/python3.13/test/wheeldata/wheel-0.43.0-py3-none-any.whl",
]


def page(out, canon, filename):
    d = os.path.join(out, "simple", canon)
    os.makedirs(d, exist_ok=True)
    sha = hashlib.sha256(open(os.path.join(out, "packages", filename), "rb").read()).hexdigest()
    with open(os.path.join(d, "index.html"), "w") as f:
        f.write(f'<html><body><a href="../../packages/{filename}#sha256={sha}">{filename}</a></body></html>\n')


def sdist(out, dist, files):
    """A source distribution of an installed pure-Python distribution: its packages, its
    metadata as PKG-INFO, a pyproject.toml for setuptools."""
    name = dist.metadata["Name"]
    top = f"{name}-{dist.version}"
    tops = sorted({str(f).split("/")[0] for f in files if "/" in str(f) and ".dist-info" not in str(f)})
    deps = ", ".join(json.dumps(r) for r in dist.requires or [])
    pyproject = (
        '[build-system]\nrequires = ["setuptools>=61", "wheel"]\nbuild-backend = "setuptools.build_meta"\n\n'
        f'[project]\nname = "{name}"\nversion = "{dist.version}"\ndependencies = [{deps}]\n\n'
        "[tool.setuptools.packages.find]\n"
        f"include = [{', '.join(json.dumps(t + '*') for t in tops)}]\n\n"
        '[tool.setuptools.package-data]\n"*" = ["**/*"]\n'
    )
    filename = f"{top}.tar.gz"
    with tarfile.open(os.path.join(out, "packages", filename), "w:gz") as t:
        for f in sorted(files, key=str):
            if ".dist-info" not in str(f):
                t.add(f.locate(), arcname=f"{top}/{f}", recursive=False)
        for member, text in [("pyproject.toml", pyproject), ("PKG-INFO", dist.read_text("METADATA"))]:
            data = text.encode()
            info = tarfile.TarInfo(f"{top}/{member}")
            info.size = len(data)
            t.addfile(info, io.BytesIO(data))
    return filename


def wheel(out, dist, files):
    """The installed distribution packed back into a wheel."""
    info = next(f for f in files if str(f).endswith(".dist-info/WHEEL"))
    tags = [l.split(":", 1)[1].strip() for l in open(info.locate()).read().splitlines() if l.startswith("Tag:")]
    stem = f"{dist.metadata['Name'].replace('-', '_')}-{dist.version}"
    # The compressed tag set of the WHEEL file's tags (`py2.py3-none-any`).
    parts = [list(dict.fromkeys(t.split("-")[i] for t in tags)) for i in range(3)]
    whl = f"{stem}-{'-'.join('.'.join(p) for p in parts)}.whl"
    record_name = next(str(f) for f in files if str(f).endswith(".dist-info/RECORD"))
    with zipfile.ZipFile(os.path.join(out, "packages", whl), "w", zipfile.ZIP_DEFLATED) as z:
        record = []
        for f in sorted(files, key=str):
            if str(f) == record_name or str(f).endswith((".dist-info/INSTALLER", ".dist-info/REQUESTED")):
                continue
            data = open(f.locate(), "rb").read()
            z.writestr(str(f), data)
            b64 = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{f},sha256={b64},{len(data)}")
        record.append(f"{record_name},,")
        z.writestr(record_name, "\n".join(record) + "\n")
    return whl


def index(out, sdists=()):
    """A PEP 503 simple index of the closure of PACKAGES in the host's site-packages: the
    installed distributions packed back into wheels, or, for `sdists`, source
    distributions (with the wheels that building them needs)."""
    from pip._vendor.packaging.requirements import Requirement
    from pip._vendor.packaging.utils import canonicalize_name

    os.makedirs(os.path.join(out, "packages"))
    seen, todo = {}, list(PACKAGES)
    while todo:
        name = todo.pop()
        if canonicalize_name(name) in seen:
            continue
        dist = importlib.metadata.distribution(name)
        seen[canonicalize_name(name)] = dist
        for r in dist.requires or []:
            req = Requirement(r)
            if not req.marker or req.marker.evaluate({"extra": ""}):
                todo.append(req.name)
    for canon, dist in sorted(seen.items()):
        files = [f for f in dist.files if not str(f).startswith("..") and "__pycache__" not in str(f)]
        make = sdist if canon in sdists else wheel
        page(out, canon, make(out, dist, files))
    if sdists:
        for w in BUILD_WHEELS:
            shutil.copy(w, os.path.join(out, "packages"))
            page(out, canonicalize_name(os.path.basename(w).split("-")[0]), os.path.basename(w))
    files = os.listdir(os.path.join(out, "packages"))
    return len(seen), sum(os.path.getsize(os.path.join(out, "packages", w)) for w in files)


def index_server(root):
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=root, **k)

        def end_headers(self):
            # PyPI's: files are immutable, index pages fresh for 10 minutes.
            if "/simple/" in self.path:
                self.send_header("Cache-Control", "max-age=600, public")
            else:
                self.send_header("Cache-Control", "max-age=365000000, immutable, public")
            super().end_headers()

        def log_message(self, *a):
            pass

    Handler.protocol_version = "HTTP/1.1"
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv.server_address[1]


FETCH = """#!/usr/bin/env python3
# fetch-deps URL N DIR: downloads part-I.bin (I < N) from URL into DIR unless DIR has it.
import os, sys, urllib.request
url, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
got = 0
for i in range(n):
    p = os.path.join(out, f"part-{i}.bin")
    if not os.path.exists(p):
        urllib.request.urlretrieve(f"{url}part-{i}.bin", p + ".tmp")
        os.rename(p + ".tmp", p)
        got += 1
print(f"downloaded {got} of {n}")
"""


def base_rootfs(out):
    os.makedirs(out)
    subprocess.run(["tar", "-xf", MINBASE, "-C", out], check=True)
    keep = {"pip", "pip-23.2.1.dist-info"}

    def ignore(d, names):
        skip = set()
        if d.endswith("lib/python3.11"):
            skip |= {"test", "idlelib", "tkinter", "turtledemo", "ensurepip"} & set(names)
        if d.endswith("lib/python3.11/site-packages"):
            skip |= {n for n in names if n not in keep}
        return skip

    shutil.copytree(PY, out + PY, symlinks=True, ignore=ignore)
    for lib in ["libssl.so.3", "libcrypto.so.3", "libsqlite3.so.0"]:
        src = os.path.realpath(f"/usr/lib/x86_64-linux-gnu/{lib}")
        shutil.copy2(src, f"{out}/usr/lib/x86_64-linux-gnu/{lib}")
    with open(f"{out}/usr/local/bin/fetch-deps", "w") as f:
        f.write(FETCH.replace("/usr/bin/env python3", f"{PY}/bin/python3"))
    os.chmod(f"{out}/usr/local/bin/fetch-deps", 0o755)


def pip_dockerfile(index_url):
    return (
        "FROM pybench\nARG REQS=1\n"
        "RUN --network=host --mount=type=cache,target=/root/.cache/pip "
        f'echo "requirements v$REQS" && {PY}/bin/python3 -m pip install -q --disable-pip-version-check '
        f"--no-warn-script-location --cache-dir /root/.cache/pip --trusted-host 127.0.0.1 "
        f"--index-url {index_url}simple/ "
        + " ".join(PACKAGES)
        + f" && {PY}/bin/python3 -c 'import boto3, awscli'\n"
    )


def dockerfiles(index_url):
    download = (
        "FROM pybench\nARG REQS=1\n"
        "RUN --network=host --mount=type=cache,target=/var/cache/deps "
        f'echo "deps v$REQS" && fetch-deps {index_url}blobs/ {BLOBS} /var/cache/deps '
        "&& cp -r /var/cache/deps /opt/deps\n"
    )
    return {
        "pip": pip_dockerfile(index_url + "wheels/"),
        "pip-sdist": pip_dockerfile(index_url + "sdist/"),
        "download": download,
    }


class Ran:
    def __init__(self, returncode, stdout, stderr):
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


def run(cmd, env, check=True, dump=None):
    """Runs a command; with `dump`, writes its stderr there with each line's time."""
    t0 = time.monotonic()
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines = []

    def read_err():
        for line in p.stderr:
            lines.append((time.monotonic() - t0, line))

    t = threading.Thread(target=read_err)
    t.start()
    out = p.stdout.read()
    p.wait()
    t.join()
    err = "".join(l for _, l in lines)
    if dump:
        with open(dump, "w") as f:
            f.writelines(f"{dt:7.2f} {l}" for dt, l in lines)
    if check and p.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({p.returncode}):\n{out}\n{err}")
    return Ran(p.returncode, out, err)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--slipway", default=os.path.join(ROOT, "target/release/slipway"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--rate-mb", type=float, default=20.0)
    ap.add_argument("--latency-ms", type=float, default=20.0)
    ap.add_argument("--dump", help="write each timed build's stderr, timestamped, into this directory")
    ap.add_argument("--links", default="loopback,shaped")
    args = ap.parse_args()
    slipway = os.path.abspath(args.slipway)
    work = tempfile.mkdtemp(prefix="slipway-bench-mounts-", dir="/var/tmp")
    reg = None
    try:
        reg = Registry(work)
        n_wheels, wheel_bytes = index(os.path.join(work, "index/wheels"))
        _, sdist_bytes = index(os.path.join(work, "index/sdist"), SDISTS)
        os.makedirs(os.path.join(work, "index/blobs"))
        for i in range(BLOBS):
            with open(os.path.join(work, f"index/blobs/part-{i}.bin"), "wb") as f:
                f.write(os.urandom(BLOB_SIZE))
        shaper = Shaper()
        mirror = Link("index", index_server(os.path.join(work, "index")), shaper)
        registry = Link("registry", reg.port, shaper)
        index_url = f"http://127.0.0.1:{mirror.port}/"
        env0 = dict(os.environ, NO_COLOR="1", SLIPWAY_REGISTRIES_CONFIG=os.path.join(work, "registries.toml"))
        base_rootfs(os.path.join(work, "rootfs"))
        template = os.path.join(work, "template")
        run([slipway, "image", "import", os.path.join(work, "rootfs"), "--tag", "pybench"], dict(env0, SLIPWAY_ROOT=template))
        # Unpacked once, so no timed build unpacks the base (the same in every case).
        run([slipway, "run", "--rm", "--network", "none", "pybench", "true"], dict(env0, SLIPWAY_ROOT=template))
        shutil.rmtree(os.path.join(work, "rootfs"))

        # Machine A: builds each workload, exports plain and with mounts; then an unchanged
        # rebuild's export.
        exports = {}
        ctxs = {}
        for name, text in dockerfiles(index_url).items():
            # A machine per workload: the pip workloads mount the same cache.
            store_a = os.path.join(work, f"a-{name}")
            shutil.copytree(template, store_a, symlinks=True)
            env_a = dict(env0, SLIPWAY_ROOT=store_a)
            ctx = os.path.join(work, f"ctx-{name}")
            os.makedirs(ctx)
            with open(os.path.join(ctx, "Dockerfile"), "w") as f:
                f.write(text)
            ctxs[name] = ctx
            ref = f"127.0.0.1:{registry.port}/cache/{name}"
            t0 = time.monotonic()
            p = run(
                [slipway, "build", "--allow", "network.host", "-t", name,
                 "--cache-to", f"type=registry,ref={ref}:plain",
                 "--cache-to", f"type=registry,ref={ref}:mounts,mounts=true", ctx],
                env_a,
            )
            first = time.monotonic() - t0
            line = [l for l in p.stderr.splitlines() if "cache mount(s)" in l and "exported" in l]
            # Every step cached, the mount unchanged: what a re-export costs.
            t0 = time.monotonic()
            p2 = run([slipway, "build", "--allow", "network.host",
                      "--cache-to", f"type=registry,ref={ref}:mounts,mounts=true", ctx], env_a)
            again = time.monotonic() - t0
            line2 = [l for l in p2.stderr.splitlines() if "cache mount(s)" in l and "exported" in l]
            exports[name] = (first, line, again, line2)
        mount_bytes = {}
        for name in ctxs:
            # The mount blob's size: the mounts cache's last layer that is a mount.
            m = json.load(urllib.request.urlopen(urllib.request.Request(
                f"http://127.0.0.1:{reg.port}/v2/cache/{name}/manifests/mounts",
                headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})))
            mount_bytes[name] = sum(l["size"] for l in m["layers"] if "cache.mount" in l["mediaType"])

        results = {}
        for rnd in range(args.rounds):
            for link in args.links.split(","):
                for name, ctx in ctxs.items():
                    for case in ["plain", "mounts"]:
                        store_b = os.path.join(work, "b")
                        shutil.rmtree(store_b, ignore_errors=True)
                        shutil.copytree(template, store_b, symlinks=True)
                        shaper.rate = args.rate_mb * 1e6 if link == "shaped" else 0
                        shaper.latency = args.latency_ms / 1e3 if link == "shaped" else 0
                        i0, r0, q0 = mirror.down, registry.down, mirror.requests
                        ref = f"127.0.0.1:{registry.port}/cache/{name}:{case}"
                        t0 = time.monotonic()
                        p = run([slipway, "build", "--allow", "network.host", "--build-arg", "REQS=2",
                                 "--cache-from", f"type=registry,ref={ref}", "-t", name, ctx],
                                dict(env0, SLIPWAY_ROOT=store_b),
                                dump=args.dump and os.path.join(args.dump, f"{rnd}-{link}-{name}-{case}.txt"))
                        dt = time.monotonic() - t0
                        shaper.rate, shaper.latency = 0, 0
                        restored = "restored from the registry cache" in p.stderr
                        assert restored == (case == "mounts"), p.stderr
                        results.setdefault((link, name, case), []).append(
                            (dt, mirror.down - i0, registry.down - r0, mirror.requests - q0))
                        print(f"round {rnd + 1} {link:8} {name:8} {case:6} {dt:6.2f} s  "
                              f"index {(mirror.down - i0) / 1e6:6.1f} MB / {mirror.requests - q0} req  "
                              f"registry {(registry.down - r0) / 1e6:6.1f} MB", flush=True)
        shutil.rmtree(os.path.join(work, "b"), ignore_errors=True)

        print()
        cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
        print(f"machine: {os.cpu_count()} CPUs ({cpu}), load {os.getloadavg()[0]:.1f}; "
              f"packages: {n_wheels} ({wheel_bytes / 1e6:.1f} MB of wheels; pip-sdist: {sdist_bytes / 1e6:.1f} MB, "
              f"{', '.join(sorted(SDISTS))} as sdists); download: {BLOBS} x {BLOB_SIZE >> 20} MiB; "
              f"shaped link: {args.rate_mb} MB/s, {args.latency_ms} ms per request")
        for name in ctxs:
            first, line, again, line2 = exports[name]
            print(f"A {name}: first build + both exports {first:.2f} s ({'; '.join(line)}); "
                  f"all-cached rebuild + mounts export {again:.2f} s ({'; '.join(line2)}); mount blob {mount_bytes[name] / 1e6:.1f} MB")
        print()
        print("| workload | link | without `mounts=true` | with `mounts=true` | ratio |")
        print("|---|---|---:|---:|---:|")
        for link in args.links.split(","):
            for name in ctxs:
                row = []
                for case in ["plain", "mounts"]:
                    rs = results[(link, name, case)]
                    t = statistics.median(r[0] for r in rs)
                    idx = statistics.median(r[1] for r in rs) / 1e6
                    regb = statistics.median(r[2] for r in rs) / 1e6
                    req = statistics.median(r[3] for r in rs)
                    row.append((t, f"{t:.2f} s (index {idx:.1f} MB / {req:.0f} req, registry {regb:.1f} MB)"))
                print(f"| {name} | {link} | {row[0][1]} | {row[1][1]} | {row[0][0] / row[1][0]:.2f}x |")
        print("\nrounds (s):")
        for k, rs in sorted(results.items()):
            print(" ", *k, ", ".join(f"{r[0]:.2f}" for r in rs))
    finally:
        if reg:
            reg.proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    if os.geteuid() != 0:
        sys.exit("needs root (builds run containers)")
    main()
