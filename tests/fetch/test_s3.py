"""s3:// sources through boto3 against moto's S3 server: anonymous and signed
access, ETag (single and multipart) and checksum verification, ranges."""

from __future__ import annotations

import hashlib
import logging

import pytest

from modelhub.errors import AccessDenied, IntegrityError, ModelNotFound
from modelhub.registry.artifact import Source
from modelhub.registry.pulling import pull_result
from tests.fetch.conftest import FAST_RETRY, artifact, entry_files, store, visible_state

BUCKET = "auxdata.johnsnowlabs.com"
MiB = 1 << 20


@pytest.fixture
def s3env(s3, monkeypatch, tmp_path):
    monkeypatch.setenv("MODELHUB_S3_ENDPOINT", s3.endpoint)
    monkeypatch.setenv("MODELHUB_CHUNK_MB", "1")
    return s3


def _anonymous(monkeypatch, tmp_path) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")


def _zip_artifact(folder: str, name: str, **kw):
    return artifact(
        Source("s3", f"s3://{BUCKET}/{folder}/{name}"), zip_name=name, folder=folder, **kw
    )


def test_public_zip_anonymously(s3env, model_zip, monkeypatch, tmp_path):
    data, files = model_zip
    name = "bert_en_5.0.0_3.0_1700000000000.zip"
    s3env.put(f"public/models/{name}", data)
    _anonymous(monkeypatch, tmp_path)
    from modelhub.registry.fetch.sources import s3 as s3src

    assert not s3src.credentials_configured()
    r = pull_result(_zip_artifact("public/models", name), retry=FAST_RETRY)
    assert entry_files(r.path) == files
    d = r.entry.manifest.download
    assert "md5 (S3 ETag)" in d["checked"] and d["url"] == f"s3://{BUCKET}/public/models/{name}"
    assert r.entry.manifest.kind == "zip"


def test_private_folder_signed(s3env, model_zip):
    data, files = model_zip
    name = "ner_clinical_en_4.0.0_3.0_1.zip"
    s3env.put(f"clinical/models/{name}", data, public=False)
    r = pull_result(_zip_artifact("clinical/models", name), retry=FAST_RETRY)
    assert entry_files(r.path) == files


def test_private_folder_without_credentials(s3env, monkeypatch, tmp_path):
    name = "ner_clinical_en_4.0.0_3.0_2.zip"
    s3env.put(f"clinical/models/{name}", b"x", public=False)
    _anonymous(monkeypatch, tmp_path)
    with pytest.raises(AccessDenied, match="credentials"):
        pull_result(_zip_artifact("clinical/models", name), retry=FAST_RETRY)


def test_missing_key_is_model_not_found(s3env):
    s3env.ensure_bucket()
    with pytest.raises(ModelNotFound, match="not found"):
        pull_result(_zip_artifact("public/models", "nope.zip"), retry=FAST_RETRY)


def test_large_object_in_parallel_ranges_with_checksum(s3env):
    data = hashlib.shake_256(b"s3").digest(5 * MiB + 123)
    s3env.put("public/models/weights.bin", data, ChecksumAlgorithm="SHA256")
    art = artifact(Source("s3", f"s3://{BUCKET}/public/models/weights.bin"))
    r = pull_result(art, retry=FAST_RETRY)
    assert (r.path / "weights.bin").read_bytes() == data
    checked = r.entry.manifest.download["checked"]
    assert "md5 (S3 ETag)" in checked and "x-amz-checksum-sha256" in checked


def _multipart(s3env, key: str, parts: list[bytes]) -> None:
    client = s3env.client()
    s3env.ensure_bucket()
    up = client.create_multipart_upload(Bucket=BUCKET, Key=key, ACL="public-read")
    done = []
    for n, body in enumerate(parts, 1):
        p = client.upload_part(
            Bucket=BUCKET, Key=key, UploadId=up["UploadId"], PartNumber=n, Body=body
        )
        done.append({"ETag": p["ETag"], "PartNumber": n})
    client.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=up["UploadId"], MultipartUpload={"Parts": done}
    )


def _parts(*sizes: int) -> list[bytes]:
    return [hashlib.shake_256(bytes([i])).digest(n) for i, n in enumerate(sizes)]


def test_multipart_etag_is_checked(s3env):
    key = "public/models/multi.bin"
    parts = _parts(5 * MiB, 5 * MiB, 4)
    _multipart(s3env, key, parts)
    r = pull_result(artifact(Source("s3", f"s3://{BUCKET}/{key}")), retry=FAST_RETRY)
    assert (r.path / "multi.bin").read_bytes() == b"".join(parts)
    assert "multipart-etag" in r.entry.manifest.download["checked"]
    assert r.entry.manifest.download["etag"].strip('"').endswith("-3")


def test_multipart_etag_mismatch_raises(s3env):
    key = "public/models/rotten.bin"
    _multipart(s3env, key, _parts(5 * MiB, 5 * MiB, 4))
    etag = s3env.client().head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')
    s3env.corrupt(key)  # wrong bytes behind a correct multipart ETag
    with pytest.raises(IntegrityError, match="multipart ETag") as exc:
        pull_result(artifact(Source("s3", f"s3://{BUCKET}/{key}")), retry=FAST_RETRY)
    e = exc.value
    assert e.expected == etag and etag.endswith("-3")
    assert e.actual.endswith("-3") and e.actual != e.expected
    st = store()
    assert st.lookup(artifact().key) is None and visible_state(st) == {}


@pytest.mark.parametrize(
    "sizes",
    [(5 * MiB, 7 * MiB), (6 * MiB, 5 * MiB, 4)],
    ids=["last-part-larger", "first-part-larger"],
)
def test_multipart_with_unequal_parts_passes(s3env, sizes, caplog):
    # The part size read from part 1 does not give the ETag's part count:
    # the multipart ETag cannot be recomputed, so it is not held against the bytes.
    key = "public/models/uneven.bin"
    parts = _parts(*sizes)
    _multipart(s3env, key, parts)
    caplog.set_level(logging.INFO, logger="modelhub.registry.fetch.verify")
    r = pull_result(artifact(Source("s3", f"s3://{BUCKET}/{key}")), retry=FAST_RETRY)
    assert (r.path / "uneven.bin").read_bytes() == b"".join(parts)
    assert "multipart-etag" not in r.entry.manifest.download["checked"]
    assert "multipart ETag not checked" in caplog.text


def test_resume_restarts_when_the_version_changed(s3env):
    # Same bytes uploaded again: same ETag, another VersionId.  The recorded
    # VersionId is compared, so the kept bytes are not trusted.
    s3env.ensure_bucket()
    client = s3env.client()
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    key = "public/models/versioned.bin"
    data = hashlib.shake_256(b"v").digest(4 * MiB)
    s3env.put(key, data)
    art = artifact(Source("s3", f"s3://{BUCKET}/{key}"))

    def stop(done: int, total: int | None) -> None:
        if done >= 2.5 * MiB:
            raise KeyError("stop")

    with pytest.raises(KeyError):
        pull_result(art, retry=FAST_RETRY, connections=1, progress=stop)
    v1 = client.head_object(Bucket=BUCKET, Key=key)["VersionId"]
    s3env.put(key, data)
    assert client.head_object(Bucket=BUCKET, Key=key)["VersionId"] != v1
    r = pull_result(art, retry=FAST_RETRY)
    assert (r.path / "versioned.bin").read_bytes() == data
    d = r.entry.manifest.download
    assert d["restarts"] >= 1 and d["resumed"] is False and d["version_id"] != v1


def test_s3_then_https_fall_through(s3env, model_zip):
    data, files = model_zip
    name = "pos_en_5.0.0_3.0_3.zip"
    url = s3env.put(f"public/models/{name}", data)
    art = artifact(
        Source("s3", f"s3://{BUCKET}/public/models/missing-{name}"),
        Source("https", url),
        zip_name=name,
        folder="public/models",
    )
    r = pull_result(art, retry=FAST_RETRY)
    assert r.source is not None and r.source.kind == "https" and entry_files(r.path) == files
    assert "md5 (S3 ETag)" in r.entry.manifest.download["checked"]
