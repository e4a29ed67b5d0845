#!/usr/bin/env python3
"""Container start with and without the sandbox, interleaved (bench/RESULTS.md, issue 15).

Usage: bench/sandbox_start.py SLIPWAY STORE N BUILDAH_CONTAINER
(STORE holds an image "probe": busybox with /bin/true; BUILDAH_CONTAINER a vfs working
container under /tmp/sb-buildah with /bin/busybox copied in). Needs root."""
import os, statistics, subprocess, sys, time
S = sys.argv[1]; env = dict(os.environ, SLIPWAY_ROOT=sys.argv[2]); ctr = sys.argv[4]
B = ["buildah","--storage-driver","vfs","--root","/tmp/sb-buildah/root","--runroot","/tmp/sb-buildah/run"]
cases = {
  "slipway run --rm --network none": [S,"run","--rm","--network","none","probe","true"],
  "slipway run --rm --network none --privileged (no sandbox)": [S,"run","--rm","--network","none","--privileged","probe","true"],
  "slipway run --rm --network host": [S,"run","--rm","--network","host","probe","true"],
  "slipway run --rm (default network: own namespace + pasta)": [S,"run","--rm","probe","true"],
  "buildah run --isolation chroot": B+["run","--isolation","chroot",ctr,"/bin/busybox","true"],
  "unshare --mount --pid --uts --ipc --fork true": ["unshare","--mount","--pid","--uts","--ipc","--fork","true"],
}
res = {k: [] for k in cases}
for i in range(int(sys.argv[3])):
    for k, c in cases.items():
        t = time.perf_counter(); subprocess.run(c, env=env, check=True, stdout=subprocess.DEVNULL); res[k].append((time.perf_counter()-t)*1000)
for k, v in res.items():
    print(f"| {k} | {statistics.median(v):.1f} ms | {min(v):.1f} ms |")
