"""A card's Download link on any http(s) host (not only S3) is an https
source: parsed from the card, pulled from the suite's HTTP server on
127.0.0.1, verified, cached under a key that does not name the host, and
resumed after an interruption."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelhub.cards.parser import parse_card
from modelhub.registry.artifact import Source
from modelhub.registry.catalog.resolve import reset_default_catalog, resolve
from modelhub.registry.pulling import pull_result
from tests.fetch.conftest import FAST_RETRY, entry_files, make_zip, sha256, store, visible_state

ZIP = "foo_en_5.5.0_3.0_1700000000000.zip"
CARD = """---
layout: model
title: A model on a team's own server
{extra}language: en
task: Embeddings
---

## Description

Hosted on plain HTTPS.

[Download]({url})
"""


def _card(extra: str, url: str) -> str:
    return CARD.format(extra=extra, url=url)


@pytest.mark.parametrize(
    "url",
    [
        f"https://models.example.org/x/{ZIP}",
        f"http://127.0.0.1:8080/x/{ZIP}",
        f"https://github.com/acme/models/releases/download/v1/{ZIP}",
    ],
)
def test_download_link_on_any_host_is_read(url: str) -> None:
    card = parse_card(_card("", url))
    assert card.download_url == url
    assert card.s3_uri is None
    # the artifact name comes from a Spark NLP file name
    assert (card.name, card.language, card.artifact) == ("foo", "en", ZIP)
    assert card.lib_version == "5.5.0" and card.timestamp == 1700000000000
    assert not card.warnings


def test_download_link_with_any_file_name_takes_the_cards_name() -> None:
    card = parse_card(_card("name: team_model\n", "https://files.example.org/m/model.onnx"))
    assert card.download_url == "https://files.example.org/m/model.onnx"
    assert (card.name, card.artifact) == ("team_model", None)


def test_s3_links_are_read_as_before() -> None:
    url = f"https://s3.amazonaws.com/auxdata.johnsnowlabs.com/public/models/{ZIP}"
    card = parse_card(_card("", url))
    assert card.download_url == url
    assert card.s3_uri == f"s3://auxdata.johnsnowlabs.com/public/models/{ZIP}"
    assert (card.artifact, card.folder) == (ZIP, "public/models")


def _use_card(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    cards = tmp_path / "cards"
    cards.mkdir(exist_ok=True)
    (cards / "card.md").write_text(text, encoding="utf-8")
    monkeypatch.setenv("MODELHUB_CARDS", str(cards))
    reset_default_catalog()


def test_s3_card_keeps_its_key_and_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"https://s3.amazonaws.com/auxdata.johnsnowlabs.com/public/models/{ZIP}"
    _use_card(tmp_path, monkeypatch, _card("", url))
    art = resolve("foo", "en")
    assert art.key == f"public/models/{ZIP}"  # existing caches stay valid
    assert [s.kind for s in art.sources] == ["s3", "https"]


def test_card_on_a_local_http_server_pulls_verifies_caches_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server
) -> None:
    import hashlib

    monkeypatch.setenv("MODELHUB_CHUNK_MB", "0.25")  # ranges small enough to resume within
    # 2 MiB that do not compress: big enough to stop half way through
    noise = b"".join(hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range(65536))
    files = {"metadata/part-00000": b"{}\n", "fields/weights.bin": noise}
    data = make_zip(files)
    url = http_server.add(f"/x/{ZIP}", data)
    _use_card(tmp_path, monkeypatch, _card("", url))
    art = resolve("foo", "en")
    assert art.sources == (Source("https", url),)
    assert art.key == f"public/models/{ZIP}"  # no host in the key
    art = type(art)(record=art.record, sources=art.sources, sha256=sha256(data))

    class Stop(Exception):
        pass

    def stop_half_way(done: int, total: int | None) -> None:
        if done >= len(data) // 2:
            raise Stop

    with pytest.raises(Stop):
        pull_result(art, connections=1, retry=FAST_RETRY, progress=stop_half_way)
    assert store().lookup(art.key) is None
    first = pull_result(art, connections=2, retry=FAST_RETRY)
    assert first.entry.manifest.download["resumed"] is True
    assert first.entry.manifest.kind == "zip"
    assert entry_files(first.path) == files
    assert first.entry.manifest.source["location"] == url
    assert not visible_state(store())
    again = pull_result(art)
    assert again.cache_hit and again.path == first.path


def test_any_file_from_a_local_http_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server
) -> None:
    data = bytes(range(256)) * 1000
    url = http_server.add("/m/model.onnx", data)
    _use_card(tmp_path, monkeypatch, _card("name: team_model\n", url))
    art = resolve("team_model", "en")
    assert art.key == "team_model_en"
    result = pull_result(art, retry=FAST_RETRY)
    assert entry_files(result.path) == {"model.onnx": data}
