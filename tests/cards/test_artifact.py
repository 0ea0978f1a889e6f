"""Artifact file names and S3 locations."""

from __future__ import annotations

import pytest

from modelhub.cards import parse_card
from modelhub.cards.artifact import parse_artifact_name, parse_location

ZIP = "bert_biomed_pubmed_uncased_en_3.4.0_3.0_1645440129466.zip"
HTTPS = f"https://s3.amazonaws.com/auxdata.johnsnowlabs.com/public/models/{ZIP}"
S3 = f"s3://auxdata.johnsnowlabs.com/public/models/{ZIP}"


@pytest.mark.parametrize(
    ("file", "fields"),
    [
        (ZIP, ("bert_biomed_pubmed_uncased", "en", "3.4.0", "3.0", 1645440129466)),
        (
            "ner_clinical_large_en_en_3.0.0_3.0_1617193894127.zip",
            ("ner_clinical_large_en", "en", "3.0.0", "3.0", 1617193894127),
        ),
        (
            "Nomic_Embed_Text_v1.5.Q8_0.gguf_en_5.5.2_3.4_1730556912139.zip",
            ("Nomic_Embed_Text_v1.5.Q8_0.gguf", "en", "5.5.2", "3.4", 1730556912139),
        ),
        (
            "layoutlmv2_rvl_cdip_40k_en_3.14.0_3.0_1658336853162.zip",
            ("layoutlmv2_rvl_cdip_40k", "en", "3.14.0", "3.0", 1658336853162),
        ),
        (
            "opus_mt_rnd_en_xx_2.7.0_2.4_1609166434564.zip",
            ("opus_mt_rnd_en", "xx", "2.7.0", "2.4", 1609166434564),
        ),
    ],
)
def test_artifact_names_are_read_from_the_right(file: str, fields: tuple) -> None:
    a = parse_artifact_name(file)
    assert a is not None
    assert (a.name, a.language, a.lib_version, a.spark_version, a.timestamp) == fields


@pytest.mark.parametrize(
    "file", ["model.zip", "x_en_3.0.0_3.0.zip", "en_3.0.0_3.0_1645440129466.zip", "a_b_c.tar.gz"]
)
def test_other_file_names_are_not_artifacts(file: str) -> None:
    assert parse_artifact_name(file) is None


@pytest.mark.parametrize(
    "link",
    [
        HTTPS,
        S3,
        "||" + HTTPS,
        f"https://auxdata.johnsnowlabs.com.s3.amazonaws.com/public/models/{ZIP}",
        f"https://s3.us-east-1.amazonaws.com/auxdata.johnsnowlabs.com/public/models/{ZIP}",
        "https://s3.console.aws.amazon.com/s3/object/auxdata.johnsnowlabs.com"
        f"?region=us-east-1&prefix=public/models/{ZIP}",
        "https://s3.console.aws.amazon.com/s3/object/auxdata.johnsnowlabs.com"
        f"?prefix=public%2Fmodels%2F{ZIP}",
    ],
)
def test_location_forms(link: str) -> None:
    loc = parse_location(link)
    assert loc is not None
    assert (loc.bucket, loc.folder, loc.file) == ("auxdata.johnsnowlabs.com", "public/models", ZIP)
    assert loc.download_url == HTTPS
    assert loc.s3_uri == S3


@pytest.mark.parametrize(
    "link", ["https://example.com/x.zip", "https://s3.amazonaws.com/bucket-only", "not a url", ""]
)
def test_non_s3_links(link: str) -> None:
    assert parse_location(link) is None


def test_card_with_console_link_derives_both_forms() -> None:
    text = (
        "---\nname: whatever\n---\n\n## Description\nText.\n\n"
        "[Download](https://s3.console.aws.amazon.com/s3/object/models-hub-auxdata"
        "?region=us-east-1&prefix=clinical/models/ner_x_en_4.0.0_3.0_1660000000000.zip)\n"
    )
    c = parse_card(text)
    assert c.download_url == (
        "https://s3.amazonaws.com/models-hub-auxdata/clinical/models/"
        "ner_x_en_4.0.0_3.0_1660000000000.zip"
    )
    assert (
        c.s3_uri == "s3://models-hub-auxdata/clinical/models/ner_x_en_4.0.0_3.0_1660000000000.zip"
    )
    assert (c.name, c.language, c.folder, c.timestamp) == (
        "ner_x",
        "en",
        "clinical/models",
        1660000000000,
    )
    assert any("whatever" in w for w in c.warnings)


def test_huggingface_revision_and_datasets_are_not_upstreams() -> None:
    body = (
        "---\nname: m\n---\n\n## Description\n"
        "Trained on [data](https://huggingface.co/datasets/org/data). "
        "Weights from https://huggingface.co/org/model/tree/v1.0.\n"
    )
    c = parse_card(body)
    assert c.upstream is not None
    assert (c.upstream.kind, c.upstream.repo, c.upstream.revision) == (
        "huggingface",
        "org/model",
        "v1.0",
    )
