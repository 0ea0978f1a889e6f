"""Issue 14, points 7 (settings that crash) and 9 (bad settings accepted
silently): every knob goes through one validation path, and a bad value is a
ConfigError (exit 2, no traceback) naming the variable or config key.

Point 7: a binary ``config.toml``; ``MODELHUB_CONNECTIONS=inf``;
``download_connections = 1e400``; ``MODELHUB_S3_ENDPOINT='not a url'``.
Point 9: ``MODELHUB_RETRIES=abc`` and ``-5``; ``MODELHUB_CHUNK_MB=1e-9``;
``extract_max_ratio = true``; ``MODELHUB_FSYNC=banana``; a config path that
is a folder; ``MODELHUB_READ_TIMEOUT`` honoured by the s3 source.
"""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.hostile.conftest import GOOD_FILES, Hub, assert_clean_failure, make_zip


def _pull_refused(hub: Hub, name: str, must_name: str, **env: str) -> None:
    hub.publish(name, make_zip(GOOD_FILES))
    r = hub.mh("pull", name, **env)
    assert_clean_failure(r, 2)
    assert must_name in r.stderr, r.stderr[-2000:]
    assert not (hub.cache / "entries").exists() or not any((hub.cache / "entries").iterdir())


def _config(hub: Hub, text: str | bytes) -> None:
    path = hub.root / "config.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    hub.env["MODELHUB_CONFIG"] = str(path)


@pytest.mark.timeout(30)
def test_binary_config_file_is_a_config_error(hub: Hub) -> None:
    _config(hub, b"\xff\xfe\x00\x01cache_dir = \x80\x81\n\x00")
    r = hub.mh("list")
    assert_clean_failure(r, 2)
    assert "config.toml" in r.stderr


@pytest.mark.timeout(30)
def test_connections_inf_is_a_config_error(hub: Hub) -> None:
    _pull_refused(hub, "set_conn_inf", "MODELHUB_CONNECTIONS", MODELHUB_CONNECTIONS="inf")


@pytest.mark.timeout(30)
def test_config_connections_1e400_is_a_config_error(hub: Hub) -> None:
    _config(hub, "download_connections = 1e400\n")
    _pull_refused(hub, "set_conn_1e400", "download_connections")


@pytest.mark.timeout(30)
def test_s3_endpoint_not_a_url_is_a_config_error(hub: Hub) -> None:
    hub.env["MODELHUB_S3_ENDPOINT"] = "not a url"
    _pull_refused(hub, "set_endpoint", "MODELHUB_S3_ENDPOINT")


@pytest.mark.timeout(30)
def test_retries_not_a_number_is_a_config_error(hub: Hub) -> None:
    _pull_refused(hub, "set_retries_abc", "MODELHUB_RETRIES", MODELHUB_RETRIES="abc")


@pytest.mark.timeout(30)
def test_retries_negative_is_a_config_error(hub: Hub) -> None:
    _pull_refused(hub, "set_retries_neg", "MODELHUB_RETRIES", MODELHUB_RETRIES="-5")


@pytest.mark.timeout(30)
def test_chunk_smaller_than_a_byte_is_a_config_error(hub: Hub) -> None:
    _pull_refused(hub, "set_chunk", "MODELHUB_CHUNK_MB", MODELHUB_CHUNK_MB="1e-9")


@pytest.mark.timeout(30)
def test_boolean_extract_ratio_is_a_config_error(hub: Hub) -> None:
    _config(hub, "extract_max_ratio = true\n")
    _pull_refused(hub, "set_ratio_bool", "extract_max_ratio")


@pytest.mark.timeout(30)
def test_fsync_banana_is_a_config_error(hub: Hub) -> None:
    _pull_refused(hub, "set_fsync", "MODELHUB_FSYNC", MODELHUB_FSYNC="banana")


@pytest.mark.timeout(30)
def test_config_path_that_is_a_folder_says_so(hub: Hub) -> None:
    folder = hub.root / "config.d"
    folder.mkdir()
    hub.env["MODELHUB_CONFIG"] = str(folder)
    r = hub.mh("list")
    assert_clean_failure(r, 2)
    said = r.stderr.lower()
    assert "folder" in said or "directory" in said, r.stderr
    assert "missing" not in said and "not found" not in said and "no such" not in said


@pytest.mark.timeout(40)
def test_s3_source_honours_read_timeout(hub: Hub) -> None:
    name = "set_read_timeout"
    path = hub.publish(name, make_zip({**GOOD_FILES, "w.bin": bytes(range(256)) * 512}))
    for _ in range(20):
        hub.server.fault(path, "stall", seconds=30)  # half the body, then silence
    t0 = time.monotonic()
    try:
        r = hub.mh(
            "pull",
            name,
            "--source",
            "s3",
            timeout=6,
            MODELHUB_READ_TIMEOUT="1",
            MODELHUB_RETRIES="1",
            MODELHUB_RETRY_TOTAL="2",
            MODELHUB_CONNECTIONS="1",
        )
    except subprocess.TimeoutExpired:
        pytest.fail("the s3 source waited past MODELHUB_READ_TIMEOUT=1 for 6 s")
    assert time.monotonic() - t0 < 5.5
    assert_clean_failure(r, 2)
