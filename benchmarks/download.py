"""Measure the downloader and the archive extraction on this machine, over loopback (no internet).

Usage: python benchmarks/download.py [MB]   (default 200)

Prints: fetch throughput from a local HTTP server (plain, and resumed after a connection dropped
half-way), the checksum time included, and the extraction rate of a CelebA-like zip of small files.
Loopback speed is an upper bound: a real download is limited by the network.
"""

import hashlib
import sys
import tempfile
import time
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from http_fixture import LocalServer, Route  # noqa: E402

from sketchback.data.extract import extract  # noqa: E402
from sketchback.data.fetch import fetch  # noqa: E402

size_mb = int(sys.argv[1]) if len(sys.argv) > 1 else 200
data = (bytes(range(256)) * 3907)[:1_000_000] * size_mb
md5 = hashlib.md5(data).hexdigest()

with tempfile.TemporaryDirectory() as tmp, LocalServer() as server:
    tmp = Path(tmp)
    server.routes["/plain.bin"] = Route(data)
    server.routes["/dropped.bin"] = Route(data, drop_after=len(data) // 2, drops=1)
    for name in ("plain.bin", "dropped.bin"):
        start = time.perf_counter()
        fetch([server.url("/" + name)], tmp / name, {"md5": md5}, backoff=0.0, progress_every=1e9)
        seconds = time.perf_counter() - start
        print(f"fetch {name}: {size_mb} MB in {seconds:.2f} s ({size_mb / seconds:.0f} MB/s incl. md5), "
              f"requests: {[r.headers.get('Range', 'full') for r in server.requests if r.path == '/' + name]}")
    n_files = 20_000
    archive = tmp / "img_align_celeba.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(1, n_files + 1):
            zf.writestr(f"img_align_celeba/{i:06d}.jpg", data[i * 100: i * 100 + 8000])
    start = time.perf_counter()
    extract(archive, tmp / "celeba")
    seconds = time.perf_counter() - start
    print(f"extract: {n_files} files of 8 kB in {seconds:.2f} s ({n_files / seconds:,.0f} files/s)")
