"""catalog sync against a local S3 (moto server), over plain HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelhub.config import load_settings
from modelhub.errors import ConfigError
from modelhub.registry.catalog.catalog import catalog_status, load_catalog
from modelhub.registry.catalog.paths import metadata_copy_path
from modelhub.registry.catalog.sync import read_copy_headers, sync

from .conftest import meta_line

KEY = "public/models/metadata.json"


@pytest.fixture
def local(s3, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("MODELHUB_S3_ENDPOINT", s3.endpoint)
    return s3


def test_sync_then_not_modified_then_offline_use(local, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    local.put(KEY, (meta_line("synced_model") + "\n").encode())
    settings = load_settings()
    first = sync(settings)
    assert [(r.folder, r.status, r.lines) for r in first] == [("public/models", "updated", 1)]
    copy = Path(metadata_copy_path(settings, "public/models"))
    headers = read_copy_headers(str(copy))
    assert headers["etag"] and headers["url"] == f"{local.endpoint}/auxdata.johnsnowlabs.com/{KEY}"
    mtime = copy.stat().st_mtime_ns

    second = sync(settings)  # conditional request: the object did not change
    assert second[0].status == "not-modified"
    assert read_copy_headers(str(copy))["etag"] == headers["etag"]
    assert copy.stat().st_mtime_ns == mtime  # the copy was not rewritten

    # the copy is used offline, with the URL as provenance
    monkeypatch.setenv("MODELHUB_OFFLINE", "1")
    offline = load_settings()
    art = load_catalog(offline).resolve("synced_model")
    assert art.origins["name"] == f"metadata:{headers['url']}#L1"
    with pytest.raises(ConfigError):
        sync(offline)
    status = catalog_status(offline)
    meta = next(i for i in status["inputs"] if i["kind"] == "metadata")
    assert meta["records"] == 1 and meta["last_status"] == "not-modified"


def test_changed_object_is_fetched_again(local) -> None:  # type: ignore[no-untyped-def]
    local.put(KEY, (meta_line("v1_model") + "\n").encode())
    settings = load_settings()
    sync(settings)
    local.put(KEY, (meta_line("v1_model") + "\n" + meta_line("v2_model") + "\n").encode())
    assert sync(settings)[0].status == "updated"
    assert load_catalog(settings).resolve("v2_model").name == "v2_model"


def test_failing_sync_keeps_the_previous_copy(local) -> None:  # type: ignore[no-untyped-def]
    local.put(KEY, (meta_line("kept_model") + "\n").encode())
    settings = load_settings()
    sync(settings)
    copy = Path(metadata_copy_path(settings, "public/models"))
    before = copy.read_bytes()

    local.put(KEY, b"<html>oops, not metadata</html>")
    bad = sync(settings)[0]
    assert bad.status == "failed" and "not a metadata.json" in (bad.message or "")
    assert copy.read_bytes() == before

    local.client().delete_object(Bucket="auxdata.johnsnowlabs.com", Key=KEY)
    gone = sync(settings)[0]
    assert gone.status == "failed" and "404" in (gone.message or "")
    assert copy.read_bytes() == before

    dead = settings.with_changes(s3_endpoint="http://127.0.0.1:9")  # nothing listens there
    assert sync(dead, timeout=2)[0].status == "failed"
    assert copy.read_bytes() == before
    assert load_catalog(settings).resolve("kept_model").name == "kept_model"
    assert json.loads(Path(str(copy) + ".http.json").read_text())["last_status"] == "failed"


def test_private_folder_is_synced_with_credentials(local, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    key = "clinical/models/metadata.json"
    local.put(key, (meta_line("private_model") + "\n").encode(), public=False)
    settings = load_settings().with_changes(folders=("clinical/models",))
    assert "clinical/models" in settings.private_folders
    first = sync(settings)[0]
    assert (first.status, first.lines) == ("updated", 1)
    assert sync(settings)[0].status == "not-modified"  # conditional through boto3 too
    assert load_catalog(settings).resolve("private_model", folder="clinical/models")

    # unsigned, as a public folder is read, the object is refused
    public = settings.with_changes(private_folders=())
    refused = sync(public)[0]
    assert refused.status == "failed" and "403" in (refused.message or "")
