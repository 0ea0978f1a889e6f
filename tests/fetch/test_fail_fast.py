"""No network: a host that does not resolve, a refused connection or no
route fails at once (no retries), in one short paragraph, leaving nothing in
downloads/; a timeout or a reset is still retried."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelhub.cli.app import main
from modelhub.errors import Unreachable
from modelhub.registry.artifact import Source
from modelhub.registry.catalog.resolve import reset_default_catalog
from modelhub.registry.fetch.fetcher import _Bar
from modelhub.registry.netfail import why_unreachable
from modelhub.registry.pulling import pull_result
from tests.fetch.conftest import artifact, store

ZIP = "bert_test_en_5.5.0_3.0_1700000000000.zip"


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def connects(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Records every TCP connection attempt and name lookup (and lets them
    happen); ``s3.invalid`` never resolves, wherever the test runs."""
    seen: list[object] = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def connect(self: socket.socket, address: object) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6):
            seen.append(address)
        real_connect(self, address)

    def getaddrinfo(host: object, *args: object, **kw: object) -> object:
        seen.append(("dns", host))
        if isinstance(host, str) and host.endswith(".invalid"):
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return real_getaddrinfo(host, *args, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield seen


def _no_downloads_left() -> None:
    d = store().downloads_dir
    assert not d.exists() or not [p for p in d.rglob("*") if p.is_file()]


def test_unresolvable_and_refused_sources_are_tried_once_each(
    monkeypatch: pytest.MonkeyPatch, connects: list[object]
) -> None:
    port = _closed_port()
    monkeypatch.setenv("MODELHUB_S3_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    art = artifact(
        Source("s3", f"s3://bucket/public/models/{ZIP}"),
        Source("https", f"https://s3.invalid/bucket/public/models/{ZIP}"),
        Source("hf", "acme/bert-test"),
        zip_name=ZIP,
    )
    # the default retry policy: six attempts per request for what is transient
    with pytest.raises(Unreachable) as caught:
        pull_result(art)
    lookups = [c for c in connects if isinstance(c, tuple) and c[:2] == ("dns", "s3.invalid")]
    refused = [c for c in connects if isinstance(c, tuple) and c[1:2] == (port,)]
    assert len(lookups) == 1, connects
    before_https = connects[: connects.index(("dns", "s3.invalid"))]
    assert len([c for c in before_https if c in refused]) == 1, connects  # S3: no retries
    assert len(refused) <= 3, connects  # the Hub's client: at most its own second try
    err = caught.value
    assert err.exit_code == 1
    text = str(err)
    lines = text.splitlines()
    # what was tried (one line each), the likely cause, what to do
    assert [ln.split()[0] for ln in lines[1:4]] == ["s3", "https", "hf"]
    assert "acme/bert-test" in lines[3] and f"127.0.0.1:{port}" in lines[3]
    assert "cannot resolve host s3.invalid" in lines[2]
    assert f"connection refused by 127.0.0.1:{port}" in lines[1]
    assert lines[4].startswith("Likely cause:") and "no network" in lines[4]
    for hint in ("MODELHUB_OFFLINE", "MODELHUB_MIRROR", "HF_ENDPOINT", "credentials"):
        assert hint in lines[5]
    assert len(lines) == 6 and len(text) < 1500
    _no_downloads_left()


def test_only_refused_says_the_endpoint_is_wrong(
    monkeypatch: pytest.MonkeyPatch, connects: list[object]
) -> None:
    port = _closed_port()
    art = artifact(Source("https", f"http://127.0.0.1:{port}/m.bin"))
    with pytest.raises(Unreachable, match="refused") as caught:
        pull_result(art)
    assert "Likely cause: the connections were refused" in str(caught.value)
    assert len([c for c in connects if c[0] != "dns"]) == 1, connects  # no retries
    _no_downloads_left()


def test_classification() -> None:
    import requests

    assert why_unreachable(socket.gaierror(socket.EAI_NONAME, "x")) == "dns"
    assert why_unreachable(ConnectionRefusedError(errno.ECONNREFUSED, "refused")) == "refused"
    assert why_unreachable(OSError(errno.ENETUNREACH, "Network is unreachable")) == "unreachable"
    # worth a retry: timeouts and resets
    assert why_unreachable(TimeoutError("timed out")) is None
    assert why_unreachable(ConnectionResetError(errno.ECONNRESET, "reset")) is None
    assert why_unreachable(requests.ConnectTimeout("connect timed out")) is None
    assert why_unreachable(requests.ReadTimeout("read timed out")) is None


def test_botocore_endpoint_connection_error_is_classified() -> None:
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    cfg = Config(signature_version=UNSIGNED, retries={"total_max_attempts": 1})
    for endpoint, reason in (
        (f"http://127.0.0.1:{_closed_port()}", "refused"),
        ("http://s3.invalid", "dns"),
    ):
        client = boto3.client("s3", endpoint_url=endpoint, config=cfg, region_name="us-east-1")
        with pytest.raises(Exception) as caught:
            client.get_object(Bucket="b", Key="k")
        assert type(caught.value).__name__ == "EndpointConnectionError"
        assert why_unreachable(caught.value) == reason


def test_a_reset_is_still_retried(http_server) -> None:
    from tests.fetch.conftest import FAST_RETRY

    data = bytes(range(256)) * 4096
    url = http_server.add("/r.bin", data)
    http_server.fault("/r.bin", "drop")
    result = pull_result(artifact(Source("https", url)), retry=FAST_RETRY, connections=1)
    assert (result.path / "r.bin").read_bytes() == data


CARD = """---
layout: model
title: A remote-only test model
language: en
task: Embeddings
---

## Description

Imported from [Hugging Face](https://huggingface.co/acme/bert-test).

[Download](https://s3.invalid/auxdata/public/models/{zip})
"""


def test_cli_pull_without_network_one_paragraph_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, connects: list[object], capsys
) -> None:
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "bert_test.md").write_text(CARD.format(zip=ZIP), encoding="utf-8")
    monkeypatch.setenv("MODELHUB_CARDS", str(cards))
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{_closed_port()}")
    reset_default_catalog()
    assert main(["pull", "bert_test"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert err.count("s3.invalid/auxdata") == 1  # said once, not once per warning
    assert "no source could be reached (2 tried)" in err
    assert len(err) < 1500
    _no_downloads_left()


def test_status_line_on_a_terminal(capsys) -> None:
    bar = _Bar("bert_test (en)", None)
    bar.tty = True  # as on a terminal
    bar.status("resolving and connecting to s3.invalid (https)")
    assert (
        "bert_test (en): resolving and connecting to s3.invalid (https)" in capsys.readouterr().err
    )
    quiet = _Bar("bert_test (en)", None)
    quiet.tty = False
    quiet.status("connecting")
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("where", ["dns", "refused"])
def test_catalog_sync_says_plainly_that_the_host_cannot_be_reached(
    where: str, monkeypatch: pytest.MonkeyPatch, connects: list[object]
) -> None:
    from modelhub.config import load_settings
    from modelhub.registry.catalog.sync import sync

    port = _closed_port()
    endpoint = "http://s3.invalid" if where == "dns" else f"http://127.0.0.1:{port}"
    monkeypatch.setenv("MODELHUB_S3_ENDPOINT", endpoint)
    [result] = sync(load_settings())
    assert result.status == "failed"
    if where == "dns":
        assert result.message == "cannot resolve host s3.invalid (no network or no DNS?)"
    else:
        assert result.message == f"connection refused by 127.0.0.1:{port} (is the endpoint right?)"


def test_catalog_sync_offline_names_the_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    from modelhub.config import load_settings
    from modelhub.errors import ConfigError
    from modelhub.registry.catalog.sync import sync

    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    with pytest.raises(ConfigError, match=r"offline mode is on \(TRANSFORMERS_OFFLINE\)"):
        sync(load_settings())


def test_cli_pull_on_a_terminal_says_what_it_tries(tmp_path: Path) -> None:
    """stderr a real terminal (a pty): each source is announced as it is
    tried, before the error."""
    import os
    import pty
    import subprocess
    import sys

    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "bert_test.md").write_text(CARD.format(zip=ZIP), encoding="utf-8")
    env = {
        **os.environ,
        "MODELHUB_CARDS": str(cards),
        "HF_ENDPOINT": f"http://127.0.0.1:{_closed_port()}",
        "PYTHONPATH": str(Path(__file__).parents[2]),
    }
    leader, follower = pty.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "modelhub", "pull", "bert_test"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=follower,
            env=env,
            timeout=120,
        )
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
    finally:
        if follower >= 0:
            os.close(follower)
        os.close(leader)
    screen = b"".join(chunks).decode(errors="replace")
    assert proc.returncode == 1
    trying = screen.index("bert_test (en): resolving and connecting to s3.invalid (https)")
    hub = screen.index("bert_test (en): connecting to the Hugging Face Hub for acme/bert-test")
    assert trying < hub < screen.index("no source could be reached")
