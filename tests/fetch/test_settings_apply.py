"""Settings reach every source: MODELHUB_READ_TIMEOUT bounds a stalled S3
read as it does an HTTP(S) one (the S3 source here talks to the suite's
fault-injecting HTTP server, path-style, anonymously)."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from modelhub.registry.artifact import Source
from modelhub.registry.pulling import pull_result
from tests.fetch.conftest import FAST_RETRY, artifact, entry_files, sha256

BUCKET = "auxdata.johnsnowlabs.com"
MiB = 1 << 20


def test_read_timeout_applies_to_the_s3_source(http_server, monkeypatch, tmp_path):
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("MODELHUB_READ_TIMEOUT", "0.5")
    monkeypatch.setenv("MODELHUB_CONNECTIONS", "1")
    data = bytes(range(256)) * (4 * MiB // 256)
    key = "public/models/stall.bin"
    url = http_server.add(f"/{BUCKET}/{key}", data)
    parts = urlsplit(url)
    monkeypatch.setenv("MODELHUB_S3_ENDPOINT", f"{parts.scheme}://{parts.netloc}")
    # half the body, then silence far longer than the read timeout
    http_server.fault(f"/{BUCKET}/{key}", "stall", seconds=30)
    t0 = time.monotonic()
    r = pull_result(
        artifact(Source("s3", f"s3://{BUCKET}/{key}"), sha256=sha256(data)), retry=FAST_RETRY
    )
    assert time.monotonic() - t0 < 15
    assert entry_files(r.path) == {"stall.bin": data}
