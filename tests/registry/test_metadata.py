from __future__ import annotations

import logging
from pathlib import Path

import pytest

from modelhub.registry.catalog.metadata import iso_to_epoch_ms, read_metadata

from .conftest import meta_line


def test_real_metadata_file_parses_fully(corpus_dir: Path) -> None:
    path = corpus_dir / "metadata" / "jsl_metadata.json"
    lines = read_metadata(str(path), folder="clinical/models")
    assert len(lines) == 325
    first = lines[0]
    assert first.name == "spellcheck_clinical"
    assert first.lib_version == (2, 4, 2) and first.spark_version == (2, 4)
    # "2020-04-17T18:05:27.460Z" in epoch milliseconds, in the object key
    assert first.time_ms == 1587146727460
    assert first.key == "clinical/models/spellcheck_clinical_en_2.4.2_2.4_1587146727460.zip"
    assert first.checksum is None  # "" means no checksum


def test_iso_time_to_epoch_ms_is_exact() -> None:
    assert iso_to_epoch_ms("1970-01-01T00:00:00.001Z") == 1
    assert iso_to_epoch_ms("2022-02-21T10:42:09.466Z") == 1645440129466
    assert iso_to_epoch_ms("2022-02-21T10:42:09.466") == 1645440129466  # no zone: UTC


def test_bad_and_truncated_lines_are_skipped_with_file_and_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    good = meta_line("ner_clinical")
    text = "\n".join(
        [
            good,
            '{"name": "broken", "language": "en", "libVer',  # truncated
            "[1, 2, 3]",
            meta_line("no_time").replace('"time": "2020-01-28T17:34:18.110Z", ', ""),
            meta_line("bad_parts", lib=()).replace('"parts": []', '"parts": ["x"]'),
            "",
            meta_line("assertion_dl", engine="tensorflow", annotator="AssertionDLModel"),
            good[: len(good) // 2],  # a truncated last line
        ]
    )
    path = tmp_path / "metadata.json"
    path.write_text(text)
    with caplog.at_level(logging.WARNING):
        lines = read_metadata(str(path), folder="clinical/models")
    assert [x.name for x in lines] == ["ner_clinical", "assertion_dl"]
    assert lines[1].engine == "tensorflow" and lines[1].annotator == "AssertionDLModel"
    assert lines[1].line == 7
    warned = {r.getMessage().split(": ", 1)[0] for r in caplog.records}
    assert warned == {f"{path}:{n}" for n in (2, 3, 4, 5, 8)}
