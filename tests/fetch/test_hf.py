"""Hugging Face sources through huggingface_hub against the local Hub server."""

from __future__ import annotations

import json
import socket

import pytest

from modelhub.errors import FetchError, IntegrityError, ModelNotFound
from modelhub.registry.artifact import Source
from modelhub.registry.fetch.sources.hf import select_files
from modelhub.registry.pulling import pull_result
from tests.fetch.conftest import artifact, entry_files

REPO = "acme/tiny-bert"


def repo_files() -> dict[str, bytes]:
    return {
        "config.json": json.dumps({"model_type": "bert", "hidden_size": 8}).encode(),
        "tokenizer.json": b'{"version": "1.0"}',
        "tokenizer_config.json": b'{"do_lower_case": true}',
        "special_tokens_map.json": b'{"cls_token": "[CLS]"}',
        "vocab.txt": b"[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n",
        "model.safetensors": bytes(range(256)) * 64,
        "pytorch_model.bin": b"PICKLE" * 500,
        "README.md": b"# tiny bert\n",
        ".gitattributes": b"*.bin filter=lfs\n",
        "onnx/model.onnx": b"onnx" * 300,
        "1_Pooling/config.json": b'{"pooling_mode_mean_tokens": true}',
    }


WANTED = {
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "vocab.txt",
    "model.safetensors",
    "1_Pooling/config.json",
}


def test_snapshot_fetches_only_what_a_loader_needs(hf_hub, no_network):
    files = repo_files()
    commit = hf_hub.add_repo(REPO, files)
    art = artifact(Source("hf", REPO, "main"), name="tiny_bert")
    assert art.key == f"hf/{REPO}@main"
    r = pull_result(art)
    got = entry_files(r.path)
    assert got == {k: files[k] for k in WANTED}
    assert r.entry.manifest.commit == commit and r.entry.manifest.kind == "hf"
    assert hf_hub.gets[f"{REPO}/pytorch_model.bin"] == 0
    assert hf_hub.gets[f"{REPO}/onnx/model.onnx"] == 0
    assert hf_hub.gets[f"{REPO}/model.safetensors"] == 1
    assert not (r.path / ".cache").exists()
    # cached: no network at all, even online
    no_network.on()
    again = pull_result(art)
    assert again.cache_hit and again.path == r.path


def test_pickles_when_there_are_no_safetensors(hf_hub):
    files = {k: v for k, v in repo_files().items() if k != "model.safetensors"}
    hf_hub.add_repo(REPO, files)
    r = pull_result(artifact(Source("hf", REPO), name="tiny_bert"))
    assert "pytorch_model.bin" in entry_files(r.path)


def test_revision_pinned_to_a_commit(hf_hub):
    old = hf_hub.add_repo(REPO, repo_files())
    newer = dict(repo_files(), **{"config.json": b'{"model_type": "bert", "v": 2}'})
    new = hf_hub.add_repo(REPO, newer)
    assert old != new
    hf_hub.repos[REPO].refs["v1"] = new
    r = pull_result(artifact(Source("hf", REPO, new), name="tiny_bert"))
    assert r.entry.manifest.commit == new
    assert (r.path / "config.json").read_bytes() == newer["config.json"]
    # the commit is used as given: no revision look-up
    assert not any("/revision/" in c for c in hf_hub.api_calls)


def test_progress_and_heartbeat_follow_the_hub_download(hf_hub, monkeypatch):
    import huggingface_hub

    from modelhub.registry.store.locks import ArtifactLock

    files = repo_files()
    hf_hub.add_repo(REPO, files)
    beats: list[int] = []
    real_beat = ArtifactLock.beat

    def beat(self: ArtifactLock, done: int, *, force: bool = False) -> None:
        beats.append(done)
        real_beat(self, done, force=force)

    monkeypatch.setattr(ArtifactLock, "beat", beat)
    seen: list[tuple[int, int | None]] = []
    r = pull_result(
        artifact(Source("hf", REPO), name="tiny_bert"), progress=lambda d, t: seen.append((d, t))
    )
    total = sum(len(files[k]) for k in WANTED)
    assert r.transferred == total
    # bytes as they arrive, never backwards, ending at the whole snapshot
    assert len(seen) > len(WANTED)
    assert all(t == total for _, t in seen)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    assert seen[-1] == (total, total)
    # the lock saw the download alive (waiters would not take it over)
    assert beats and max(beats) == total
    # the user's own Hub progress bars are left as they were
    assert not huggingface_hub.utils.are_progress_bars_disabled()


def test_unknown_repo_and_revision(hf_hub):
    with pytest.raises(ModelNotFound, match="not found"):
        pull_result(artifact(Source("hf", "acme/nothing"), name="x"))
    hf_hub.add_repo(REPO, repo_files())
    with pytest.raises(ModelNotFound, match="revision"):
        pull_result(artifact(Source("hf", REPO, "no-such-branch"), name="y"))


def test_an_unreachable_hub_is_a_fetch_error_naming_it(monkeypatch):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # Nothing listens on the port now: connections are refused at once.
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    # refused: not retried, and the line names the endpoint tried
    match = f"hf http://127.0.0.1:{port}/{REPO}@main: connection refused by 127.0.0.1:{port}"
    with pytest.raises(FetchError, match=match):
        pull_result(artifact(Source("hf", REPO), name="z"))


def test_bytes_that_do_not_match_the_listing_are_refused(hf_hub):
    files = repo_files()
    hf_hub.add_repo(REPO, files)
    repo = hf_hub.repos[REPO]
    real_entry = repo.entry

    def lying_entry(path: str) -> dict[str, object]:
        e = real_entry(path)
        if path == "model.safetensors":
            e["lfs"] = dict(e["lfs"], oid="0" * 64)  # type: ignore[arg-type]
        return e

    repo.entry = lying_entry  # type: ignore[method-assign]
    art = artifact(Source("hf", REPO), name="tiny_bert")
    with pytest.raises(IntegrityError) as exc:
        pull_result(art)
    assert exc.value.expected == "0" * 64
    from tests.fetch.conftest import store, visible_state

    assert store().lookup(art.key) is None and visible_state(store()) == {}


def test_select_files_rules():
    paths = [
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "pytorch_model.bin",
        "tf_model.h5",
        "flax_model.msgpack",
        "onnx/model.onnx",
        "onnx/config.json",
        "sentencepiece.bpe.model",
        "2_Normalize/config.json",
    ]
    assert select_files(paths) == [
        "2_Normalize/config.json",
        "config.json",
        "model-00001-of-00002.safetensors",
        "model-00002-of-00002.safetensors",
        "model.safetensors.index.json",
        "sentencepiece.bpe.model",
    ]
