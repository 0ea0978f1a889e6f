"""Issue 14, points 6 (no overall limit on a download) and 7 (redirects).

A server trickling 2 KB/s must not outlive the retry budget
(``MODELHUB_RETRY_TOTAL``); a 200 answer without Content-Length that keeps
streaming must be cut at the expected size, not written until the disk is
full; a redirect to ``file://`` and a redirect loop are typed errors and
``pull`` goes on to the next source (the card's Hugging Face upstream).
"""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.hostile.conftest import (
    GOOD_FILES,
    Hub,
    assert_clean_failure,
    make_zip,
)


@pytest.mark.timeout(30)
def test_trickling_server_does_not_outlive_the_download_deadline(hub: Hub) -> None:
    """The retry budget (MODELHUB_RETRY_TOTAL) bounds the waits between
    retries; a trickle never fails, so the whole download's deadline
    (MODELHUB_DOWNLOAD_DEADLINE, by default max(10 min, size at 1 MB/s)) is
    what stops it."""
    name = "dl_trickle"
    data = make_zip({**GOOD_FILES, "w.bin": os.urandom(64 * 1024)})
    path = hub.publish(name, data)
    hub.server.objects[path].rate = 2000.0  # bytes per second: ~35 s for the whole body
    t0 = time.monotonic()
    try:
        r = hub.mh(
            "pull",
            name,
            "--source",
            "https",
            timeout=6,
            MODELHUB_RETRY_TOTAL="1",
            MODELHUB_RETRIES="1",
            MODELHUB_CONNECTIONS="1",
            MODELHUB_DOWNLOAD_DEADLINE="2",
        )
    except subprocess.TimeoutExpired:
        pytest.fail("a 2 KB/s download ran past MODELHUB_DOWNLOAD_DEADLINE=2 for 6 s")
    assert time.monotonic() - t0 < 5.5
    assert_clean_failure(r, 2)
    assert "MODELHUB_DOWNLOAD_DEADLINE" in r.stderr, r.stderr[-2000:]
    assert hub.server.url(path) in r.stderr, r.stderr[-2000:]


@pytest.mark.timeout(60)
def test_body_longer_than_announced_is_cut_at_the_expected_size(hub: Hub) -> None:
    name = "dl_overlong"
    data = make_zip({**GOOD_FILES, "w.bin": os.urandom(128 * 1024)})
    path = hub.publish(name, data)
    body = 48 << 20
    hub.server.objects[path].overlong = body  # HEAD: len(data); GET: 48 MiB, no length
    r = hub.mh("pull", name, "--source", "https", timeout=45)
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    assert r.returncode in (0, 2), (r.returncode, r.stderr[-2000:])
    sent = hub.server.bytes_sent[path]
    # Kernel socket buffers take a few MiB more than the client reads; a
    # client that reads the whole body takes all 48.
    assert sent < 16 << 20, f"{sent} bytes read for a {len(data)}-byte object"


@pytest.mark.timeout(60)
def test_redirect_to_file_url_is_typed_and_next_source_is_tried(hub_hf: Hub) -> None:
    name = "dl_redirect_file"
    secret = hub_hf.root / "secret.txt"
    secret.write_bytes(b"private bytes never to be cached\n")
    path = hub_hf.publish(name, make_zip(GOOD_FILES), hf_repo=f"hostile/{name}")
    hub_hf.server.objects[path].redirect = secret.as_uri()
    r = hub_hf.mh("pull", name, "--json")
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert r.returncode == 0, (r.returncode, r.stderr[-3000:])
    assert '"kind": "hf"' in r.stdout, r.stdout
    for p in hub_hf.cache.rglob("*"):
        if p.is_file():
            assert b"never to be cached" not in p.read_bytes(), p


@pytest.mark.timeout(60)
def test_redirect_loop_is_typed_and_next_source_is_tried(hub_hf: Hub) -> None:
    name = "dl_redirect_loop"
    path = hub_hf.publish(name, make_zip(GOOD_FILES), hf_repo=f"hostile/{name}")
    hub_hf.server.add("/loop-b", b"")
    hub_hf.server.objects["/loop-b"].redirect = hub_hf.server.url(path)
    hub_hf.server.objects[path].redirect = hub_hf.server.url("/loop-b")
    r = hub_hf.mh("pull", name, "--json")
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert r.returncode == 0, (r.returncode, r.stderr[-3000:])
    assert '"kind": "hf"' in r.stdout, r.stdout
    assert len(hub_hf.server.gets(path)) + len(hub_hf.server.log) < 200  # bounded


@pytest.mark.timeout(60)
def test_cross_host_redirect_final_url_is_recorded_in_the_manifest(hub: Hub) -> None:
    name = "dl_redirect_cross_host"
    data = make_zip(GOOD_FILES)
    path = hub.publish(name, data)
    # the same server under another host name: a cross-host redirect
    elsewhere = f"http://localhost:{hub.server.port}/cdn/{name}.zip"
    hub.server.add(f"/cdn/{name}.zip", data)
    hub.server.objects[path].redirect = elsewhere
    hub.pull_json(name)
    download = hub.manifest(name)["download"]
    assert download["final_url"] == elsewhere, download
    assert download["url"] == hub.server.url(path), download  # the existing key stays


@pytest.mark.timeout(60)
def test_same_host_redirect_is_followed_and_not_recorded(hub: Hub) -> None:
    name = "dl_redirect_same_host"
    data = make_zip(GOOD_FILES)
    path = hub.publish(name, data)
    hub.server.add(f"/v2/{name}.zip", data)
    hub.server.objects[path].redirect = hub.server.url(f"/v2/{name}.zip")
    hub.pull_json(name)
    assert "final_url" not in hub.manifest(name)["download"]


@pytest.mark.timeout(60)
def test_too_many_redirects_are_refused(hub: Hub) -> None:
    name = "dl_redirect_chain"
    path = hub.publish(name, make_zip(GOOD_FILES))
    hops = [f"/hop/{i}" for i in range(12)]
    for i, hop in enumerate(hops):
        hub.server.add(hop, b"")
        nxt = hops[i + 1] if i + 1 < len(hops) else path
        hub.server.objects[hop].redirect = hub.server.url(nxt)
    hub.server.objects[path].redirect = hub.server.url(hops[0])
    r = hub.mh("pull", name, "--source", "https")
    assert_clean_failure(r, 2)
    assert "more than 10 redirects" in r.stderr, r.stderr[-2000:]


@pytest.mark.timeout(60)
def test_body_of_unannounced_size_is_cut_at_the_download_ceiling(hub: Hub) -> None:
    """Neither the GET nor a HEAD says how long the body is: it is cut at
    MODELHUB_DOWNLOAD_MAX_GB (here 1 MiB), not written until the disk is full."""
    name = "dl_unannounced"
    path = hub.publish(name, make_zip({**GOOD_FILES, "w.bin": os.urandom(64 * 1024)}))
    hub.server.objects[path].overlong = 48 << 20
    hub.server.objects[path].head_length = False
    r = hub.mh(
        "pull", name, "--source", "https", timeout=45, MODELHUB_DOWNLOAD_MAX_GB=str(1 / 1024)
    )
    assert_clean_failure(r, 2)
    assert "MODELHUB_DOWNLOAD_MAX_GB" in r.stderr, r.stderr[-2000:]
    assert hub.server.bytes_sent[path] < 16 << 20
    partials = [p for p in hub.cache.rglob("*") if p.is_file() and p.stat().st_size > 1 << 20]
    assert partials == [], "bytes past the ceiling were kept"


@pytest.mark.timeout(60)
def test_declared_size_over_the_ceiling_is_refused_before_writing(hub: Hub) -> None:
    name = "dl_too_big"
    path = hub.publish(name, make_zip({**GOOD_FILES, "w.bin": os.urandom(256 * 1024)}))
    r = hub.mh("pull", name, "--source", "https", MODELHUB_DOWNLOAD_MAX_GB=str(100 / 2**20))
    assert_clean_failure(r, 2)
    assert "MODELHUB_DOWNLOAD_MAX_GB" in r.stderr and hub.server.url(path) in r.stderr


def test_download_settings_must_be_positive_numbers(hub: Hub) -> None:
    name = "dl_bad_setting"
    hub.publish(name, make_zip(GOOD_FILES))
    for var, value in (("MODELHUB_DOWNLOAD_DEADLINE", "soon"), ("MODELHUB_DOWNLOAD_MAX_GB", "-1")):
        r = hub.mh("pull", name, "--source", "https", **{var: value})
        assert_clean_failure(r, 2)
        assert var in r.stderr, r.stderr[-2000:]


@pytest.mark.timeout(30)
def test_trickling_s3_server_is_cut_at_the_download_deadline(hub: Hub) -> None:
    """The same through boto3 (the S3 source): the watchdog shuts the socket
    under botocore's stream down."""
    name = "dl_trickle_s3"
    path = hub.publish(name, make_zip({**GOOD_FILES, "w.bin": os.urandom(64 * 1024)}))
    hub.server.objects[path].rate = 2000.0
    t0 = time.monotonic()
    r = hub.mh(
        "pull",
        name,
        "--source",
        "s3",
        timeout=10,
        MODELHUB_RETRIES="1",
        MODELHUB_CONNECTIONS="1",
        MODELHUB_DOWNLOAD_DEADLINE="2",
    )
    assert time.monotonic() - t0 < 9
    assert_clean_failure(r, 2)
    assert "MODELHUB_DOWNLOAD_DEADLINE" in r.stderr, r.stderr[-2000:]
