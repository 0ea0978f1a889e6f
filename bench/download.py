"""Download speed: `modelhub` pull vs `curl -o` against a local nginx.

Starts nginx (Debian package ``nginx``; ``apt-get install nginx``) on a free
loopback port with a generated config in a temporary directory, serving one
file (1 GiB by default) twice: unthrottled, and with ``limit_rate 50m`` (50
MB/s per connection).  Each case runs curl and modelhub side by side, fresh
cache each time, and prints wall-clock ratios and CPU seconds per GB
(children's user+sys).

    python bench/download.py [--size-mb 1024] [--repeat 3]

modelhub runs as a child process calling ``pull_artifact`` on an artifact
whose only source is the nginx URL (a plain file: the result is a directory
holding it), so the timing includes interpreter start-up, the parallel
ranged download with in-line SHA-256, verification and the atomic install.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

NGINX_CONF = """
worker_processes 2;
daemon off;
master_process on;
user root;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {tmp}/www;
        location /throttled/ {{ limit_rate 50m; }}
    }}
}}
"""

CHILD = """
import sys
from modelhub.cards.record import ModelCard
from modelhub.registry.artifact import Artifact, Source
from modelhub.registry.pull import pull_artifact
card = ModelCard(name="bench_" + sys.argv[2], language="en")
art = Artifact(card, sources=(Source("https", sys.argv[1]),))
print(pull_artifact(art))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nginx did not start on port {port}")


def timed(cmd: list[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall seconds, CPU seconds of the child)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3, help="runs per tool, unthrottled case")
    args = ap.parse_args()
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(nginx).exists():
        raise SystemExit("nginx is not installed: apt-get install -y nginx")
    curl = shutil.which("curl")
    if curl is None:
        raise SystemExit("curl is not installed")

    tmp = Path(tempfile.mkdtemp(prefix="modelhub-bench-"))
    os.chmod(tmp, 0o755)
    (tmp / "www" / "throttled").mkdir(parents=True)
    size = args.size_mb << 20
    block = os.urandom(16 << 20)
    with open(tmp / "www" / "model.bin", "wb") as fh:
        for _ in range(size // len(block)):
            fh.write(block)
        fh.write(block[: size % len(block)])
    os.link(tmp / "www" / "model.bin", tmp / "www" / "throttled" / "model.bin")
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(NGINX_CONF.format(tmp=tmp, port=port))
    server = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp)])
    try:
        wait_port(port)
        base = f"http://127.0.0.1:{port}"
        gb = size / 1e9
        print(f"file: {args.size_mb} MiB, nginx {base}, {os.cpu_count()} CPUs")
        for case, url_path, repeat in (
            ("unthrottled", "/model.bin", args.repeat),
            ("limit_rate 50m", "/throttled/model.bin", 1),
        ):
            url = base + url_path
            curls, mhs = [], []
            for i in range(repeat):
                out = tmp / "curl.out"
                curls.append(timed([curl, "-s", "-f", "-o", str(out), url]))
                out.unlink()
                cache = tmp / f"cache-{i}"
                env = dict(os.environ, MODELHUB_CACHE=str(cache), PYTHONPATH=str(ROOT))
                mhs.append(timed([sys.executable, "-c", CHILD, url, str(i)], env=env))
                got = next((cache / "entries").glob("*/c-*/model.bin"))
                assert got.stat().st_size == size, "modelhub result has the wrong size"
                shutil.rmtree(cache)
            c_wall = statistics.median(w for w, _ in curls)
            m_wall = statistics.median(w for w, _ in mhs)
            c_cpu = statistics.median(c for _, c in curls) / gb
            m_cpu = statistics.median(c for _, c in mhs) / gb
            print(
                f"{case:15s} curl {c_wall:6.2f} s ({size / c_wall / 1e6:6.0f} MB/s, "
                f"{c_cpu:.2f} CPU s/GB) | modelhub {m_wall:6.2f} s "
                f"({size / m_wall / 1e6:6.0f} MB/s, {m_cpu:.2f} CPU s/GB) | "
                f"modelhub/curl wall = {m_wall / c_wall:.2f}x, speed-up = {c_wall / m_wall:.2f}x"
            )
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
