"""Download speed: `modelhub` pull vs `curl -o` against a local nginx.

Starts nginx (Debian package ``nginx``; ``apt-get install nginx``) on a free
loopback port with a generated config in a temporary directory, serving one
file (1 GiB by default) twice: unthrottled, and with ``limit_rate 50m`` (50
MB/s per connection).  Each case runs curl and modelhub side by side, fresh
cache each time, alternating which goes first, and prints wall-clock ratios
(medians) and CPU seconds per GB (children's user+sys), with the load
average before and after (the figures mean little on a busy machine).

    python bench/download.py [--size-mb 1024] [--repeat 3] [--throttled-repeat 1]

``curl -o`` leaves its bytes in the page cache; modelhub's entry is on disk
(fsync before the manifest).  For an honest comparison of durability the
unthrottled case also times ``curl -o FILE && sync FILE`` (fsync), reported
beside the plain curl figure; the target ratio is against plain curl.

modelhub runs as a child process calling ``pull_artifact`` on an artifact
whose only source is the nginx URL (a plain file: the result is a directory
holding it), so the timing includes interpreter start-up, the parallel
ranged download with in-line SHA-256, verification and the atomic install.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
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
from modelhub.registry.pulling import pull_artifact
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


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


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
    ap.add_argument("--throttled-repeat", type=int, default=1, help="runs per tool, throttled")
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
        print(
            f"file: {args.size_mb} MiB, nginx {base}, {os.cpu_count()} CPUs, load average {_load()}"
        )
        for case, url_path, repeat, durable in (
            ("unthrottled", "/model.bin", args.repeat, True),
            ("limit_rate 50m", "/throttled/model.bin", args.throttled_repeat, False),
        ):
            if repeat < 1:
                continue
            url = base + url_path
            out = tmp / "curl.out"
            curl_cmd = [curl, "-s", "-f", "-o", str(out), url]
            curls, syncs, mhs, lazy = [], [], [], []
            for i in range(repeat):
                cache = tmp / f"cache-{i}"
                env = dict(os.environ, MODELHUB_CACHE=str(cache), PYTHONPATH=str(ROOT))

                order = ("curl", "modelhub") if i % 2 == 0 else ("modelhub", "curl")
                for tool in order:
                    if tool == "curl":
                        curls.append(timed(curl_cmd))
                        out.unlink()
                        continue
                    mhs.append(timed([sys.executable, "-c", CHILD, url, str(i)], env=env))
                    got = next((cache / "entries").glob("*/c-*/model.bin"))
                    assert got.stat().st_size == size, "modelhub result has the wrong size"
                    shutil.rmtree(cache)
                if durable:
                    syncs.append(timed(["sh", "-c", f"{shlex.join(curl_cmd)} && sync {out}"]))
                    out.unlink()
                    # curl's durability: through the page cache, no fsync
                    lazy_env = dict(env, MODELHUB_FSYNC="0", MODELHUB_DIRECT_IO="0")
                    lazy.append(timed([sys.executable, "-c", CHILD, url, str(i)], env=lazy_env))
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
            print(
                "    runs: curl "
                + " ".join(f"{w:.2f}" for w, _ in curls)
                + " | modelhub "
                + " ".join(f"{w:.2f}" for w, _ in mhs)
            )
            if syncs:
                s_wall = statistics.median(w for w, _ in syncs)
                print(
                    f"    curl -o + fsync {s_wall:.2f} s: modelhub/(curl+fsync) wall = "
                    f"{m_wall / s_wall:.2f}x"
                )
            if lazy:
                l_wall = statistics.median(w for w, _ in lazy)
                print(
                    f"    modelhub with MODELHUB_FSYNC=0 MODELHUB_DIRECT_IO=0 (page cache, as "
                    f"curl) {l_wall:.2f} s: modelhub/curl wall = {l_wall / c_wall:.2f}x"
                )
        print(f"load average after: {_load()}")
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
