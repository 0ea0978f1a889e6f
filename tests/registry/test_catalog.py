from __future__ import annotations

import logging
from pathlib import Path

import pytest

from modelhub.config import Settings
from modelhub.errors import ModelNotFound
from modelhub.registry.catalog.catalog import catalog_status, load_catalog

from .conftest import card_text, meta_line, write_copy

TS = 1645440129466
TIME = "2022-02-21T10:42:09.466Z"  # the same instant as TS


def _cards(tmp_path: Path, **cards: str) -> Path:
    folder = tmp_path / "cards"
    folder.mkdir(exist_ok=True)
    for name, text in cards.items():
        (folder / f"{name}.md").write_text(text)
    return folder


def test_card_and_metadata_line_merge_into_one_record(tmp_path: Path, settings: Settings) -> None:
    cards = _cards(tmp_path, pub=card_text("pub_bert", hf_repo="microsoft/some-bert", ts=TS))
    s = settings.with_changes(cards=(cards,))
    write_copy(
        s,
        "public/models",
        meta_line(
            "pub_bert",
            lib=(3, 4, 0),
            spark=(3, 0),
            time=TIME,
            engine="tensorflow",
            checksum="0123abcd",
            annotator="BertEmbeddings",
        )
        + "\n"
        + meta_line("pub_bert", lib=(2, 4, 0), spark=(2, 4)),
    )
    catalog = load_catalog(s)
    art = catalog.resolve("pub_bert")
    # one record: the card's fields, enriched by the metadata line
    assert art.record.title == "A test model" and art.record.task == "Embeddings"
    assert art.engine == "tensorflow" and art.checksum == "0123abcd"
    assert art.origins["title"].startswith("card:") and art.origins["title"].endswith("pub.md")
    assert art.origins["engine"].startswith("metadata:") and art.origins["engine"].endswith("#L1")
    assert art.origins["ready_to_use"].endswith("#L1")
    assert len(catalog.records_for("pub_bert")) == 2  # the 2.4.0 line stays its own record
    key = "public/models/pub_bert_en_3.4.0_3.0_1645440129466.zip"
    assert art.key == key
    assert [(x.kind, x.location) for x in art.sources] == [
        ("s3", f"s3://auxdata.johnsnowlabs.com/{key}"),
        ("https", f"https://s3.amazonaws.com/auxdata.johnsnowlabs.com/{key}"),
        ("hf", "microsoft/some-bert"),
    ]
    assert art.sources[0].kind == "s3"
    pref = catalog.resolve("pub_bert", source="hf")
    assert pref.sources[0] == Source_hf("microsoft/some-bert")
    old = catalog.resolve("pub_bert", version="2.4.0")
    assert old.record.task is None and old.origins["name"].startswith("metadata:")
    assert not any(x.kind == "hf" for x in old.sources)


def Source_hf(repo: str):
    from modelhub.registry.artifact import Source

    return Source("hf", repo)


def test_endpoint_setting_changes_the_https_source(settings: Settings) -> None:
    s = settings.with_changes(s3_endpoint="http://127.0.0.1:9/")
    write_copy(s, "public/models", meta_line("m1"))
    art = load_catalog(s).resolve("m1")
    https = next(x for x in art.sources if x.kind == "https")
    assert https.location == f"http://127.0.0.1:9/auxdata.johnsnowlabs.com/{art.key}"


def test_bundled_seed_cards_resolve_with_nlu_reference(settings: Settings) -> None:
    catalog = load_catalog(settings)
    art = catalog.resolve("en.embed.bert.pubmed.uncased")
    assert art.name == "bert_biomed_pubmed_uncased"
    assert art.record.lib_version == "3.4.0" and art.record.timestamp == TS


def test_unknown_names_get_suggestions_never_none(settings: Settings) -> None:
    write_copy(settings, "public/models", meta_line("biobert_pubmed_base_cased"))
    catalog = load_catalog(settings)
    for wrong in (
        "biobert_pubmed_base_case",
        "BioBERT_Pubmed_Base_Cased",
        "biobert_pubmed_base_cased ",
    ):
        try:
            art = catalog.resolve(wrong)
        except ModelNotFound as exc:
            assert "biobert_pubmed_base_cased" in exc.suggestions, wrong
            assert "did you mean" in str(exc)
        else:  # trailing spaces are forgiven outright
            assert wrong.strip() == art.name
    with pytest.raises(ModelNotFound) as err:
        catalog.resolve("completely_unrelated_thing_xyz")
    assert err.value.suggestions == ()


def test_engine_filter_rejects_with_a_reason(settings: Settings) -> None:
    write_copy(
        settings,
        "public/models",
        meta_line("m", lib=(5, 0, 0), spark=(3, 0), engine="openvino")
        + "\n"
        + meta_line("m", lib=(4, 0, 0), spark=(3, 0), engine="onnx"),
    )
    catalog = load_catalog(settings)
    assert catalog.resolve("m").engine == "openvino"
    assert catalog.resolve("m", engines={"onnx", "tensorflow"}).engine == "onnx"
    cands = catalog.explain("m", engines={"onnx"}).candidates
    assert "engine 'openvino' cannot be loaded" in (cands[0].reason or "")
    with pytest.raises(ModelNotFound):
        catalog.resolve("m", engines={"pytorch"})


def test_index_is_reused_until_an_input_changes(tmp_path: Path, settings: Settings) -> None:
    cards = _cards(tmp_path, a=card_text("model_a"))
    s = settings.with_changes(cards=(cards,))
    first = load_catalog(s)
    built = first.header["built_ms"]
    again = load_catalog(s)
    assert again.header["built_ms"] == built and again.path == first.path
    (cards / "b.md").write_text(card_text("model_b", ts=TS + 1))
    third = load_catalog(s)
    assert third.header["built_ms"] != built
    assert third.resolve("model_b").name == "model_b"
    # an in-place edit of a card (same directory) is seen too
    (cards / "b.md").write_text(card_text("model_b", ts=TS + 1, title="Edited title!"))
    assert load_catalog(s).resolve("model_b").record.title == "Edited title!"
    # and a new metadata.json copy
    write_copy(s, "public/models", meta_line("from_metadata"))
    assert load_catalog(s).resolve("from_metadata").name == "from_metadata"


def test_corrupt_or_truncated_index_is_rebuilt(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    write_copy(settings, "public/models", meta_line("m1"))
    path = Path(load_catalog(settings).path)
    data = path.read_bytes()
    for broken in (data[: len(data) // 2], data[:-1] + bytes([data[-1] ^ 0xFF]), b"garbage"):
        path.write_bytes(broken)
        with caplog.at_level(logging.WARNING):
            catalog = load_catalog(settings)
            assert catalog.resolve("m1").name == "m1"
            # every section is checked when read; a bad one triggers a rebuild
            assert "m1" in [r[0] for r in catalog.list_rows()]
            assert catalog.search_rows()
        assert path.read_bytes() != broken  # replaced by a good file
    assert any("rebuilding" in r.getMessage() for r in caplog.records)


def test_bad_card_is_skipped_with_a_warning(
    tmp_path: Path, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    cards = _cards(tmp_path, good=card_text("good_model"), bad="---\nname: [unterminated\n")
    with caplog.at_level(logging.WARNING):
        catalog = load_catalog(settings.with_changes(cards=(cards,)))
    assert catalog.resolve("good_model").name == "good_model"
    assert any("bad.md" in r.getMessage() for r in caplog.records)
    status = catalog_status(settings.with_changes(cards=(cards,)))
    user = next(i for i in status["inputs"] if i["kind"] == "cards")
    assert user["records"] == 1 and user["skipped"] == 1


def test_modelhub_cards_env_adds_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cards = _cards(tmp_path, a=card_text("env_model"))
    monkeypatch.setenv("MODELHUB_CARDS", str(cards))
    assert load_catalog().resolve("env_model").name == "env_model"


def test_listing_rows_one_group_per_model(settings: Settings) -> None:
    write_copy(
        settings,
        "public/models",
        "\n".join(
            [
                meta_line("m_de", lang="de", lib=(2, 4, 0)),
                meta_line("m_en", lib=(2, 4, 0)),
                meta_line("m_en", lib=(3, 0, 0), spark=(3, 0)),
            ]
        ),
    )
    rows = load_catalog(settings).list_rows(lang="en")
    names = [(r[0], r[4]) for r in rows if r[0].startswith("m_")]
    assert names == [("m_en", "3.0.0"), ("m_en", "2.4.0")]


def test_unwritable_index_path_still_works(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    from modelhub.registry.catalog.catalog import _index_path

    write_copy(settings, "public/models", meta_line("m1"))
    # a directory where the index file should go: it cannot be written
    Path(_index_path(settings)).mkdir(parents=True)
    with caplog.at_level(logging.WARNING):
        catalog = load_catalog(settings)
    assert catalog.resolve("m1").name == "m1"
    assert "m1" in [r[0] for r in catalog.list_rows()]
    assert any("using it from memory" in r.getMessage() for r in caplog.records)
