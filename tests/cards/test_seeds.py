"""The two seed cards parse to exactly these records."""

from __future__ import annotations

import json
from pathlib import Path

from modelhub.cards import CARD_KEYS, ModelCard, Upstream, load_card, parse_card

PUBMED = "2022-02-21-bert_biomed_pubmed_uncased_en.md"
BIOBERT = "2020-08-25-biobert_pubmed_pmc_base_cased_en.md"

PUBMED_ZIP = "bert_biomed_pubmed_uncased_en_3.4.0_3.0_1645440129466.zip"
BIOBERT_ZIP = "biobert_pubmed_pmc_base_cased_en_2.6.0_2.4_1598343200280.zip"

PUBMED_CITATION = """@misc{pubmedbert,
  author = {Yu Gu and Robert Tinn and Hao Cheng and Michael Lucas and Naoto Usuyama and \
Xiaodong Liu and Tristan Naumann and Jianfeng Gao and Hoifung Poon},
  title = {Domain-Specific Language Model Pretraining for Biomedical Natural Language Processing},
  year = {2020},
  eprint = {arXiv:2007.15779},
}"""

EXPECTED_PUBMED = ModelCard(
    name="bert_biomed_pubmed_uncased",
    title="BERT Biomedical Embeddings",
    author="John Snow Labs",
    date="2022-02-21",
    task="Embeddings",
    language="en",
    edition="Spark NLP 3.4.0",
    lib_version="3.4.0",
    spark_version="3.0",
    annotator="BertEmbeddings",
    engine=None,
    tags=("pubmed", "biomedical", "bert", "microsoft", "en", "open_source"),
    supported=True,
    license="Open Source",
    edition_kind="Official",
    input_labels=("sentence", "token"),
    output_labels=("embeddings",),
    case_sensitive=True,
    dimension=None,
    max_sentence_length=None,
    size_mb=411.0,
    download_url=f"https://s3.amazonaws.com/auxdata.johnsnowlabs.com/public/models/{PUBMED_ZIP}",
    s3_uri=f"s3://auxdata.johnsnowlabs.com/public/models/{PUBMED_ZIP}",
    folder="public/models",
    artifact=PUBMED_ZIP,
    timestamp=1645440129466,
    upstream=Upstream(
        kind="huggingface", repo="microsoft/BiomedNLP-PubMedBERT-base-uncased-abstract-fulltext"
    ),
    nlu_refs=("en.embed.bert.pubmed.uncased",),
    references=("https://pubmed.ncbi.nlm.nih.gov/",),
    citation=PUBMED_CITATION,
    description=(
        "This embeddings model was imported from Hugging Face (link). It is pre trained from "
        "scratch using abstracts from PubMed and full-text articles from PubMedCentral. This "
        "model achieves state-of-the-art performance on many biomedical NLP tasks, and "
        "currently holds the top score on the Biomedical Language Understanding and "
        "Reasoning Benchmark."
    ),
)

EXPECTED_BIOBERT = ModelCard(
    name="biobert_pubmed_pmc_base_cased",
    title="BioBERT Embeddings (Pubmed PMC)",
    author="John Snow Labs",
    date="2020-08-25",
    task="Embeddings",
    language="en",
    edition="Spark NLP 2.6.0",
    lib_version="2.6.0",
    spark_version="2.4",
    annotator="BertEmbeddings",
    engine=None,
    tags=("embeddings", "en", "open_source"),
    supported=False,
    license="Open Source",
    edition_kind="Official",
    input_labels=("sentence", "token"),
    output_labels=("word_embeddings",),
    case_sensitive=True,
    dimension=768,
    max_sentence_length=None,
    size_mb=None,
    download_url=f"https://s3.amazonaws.com/auxdata.johnsnowlabs.com/public/models/{BIOBERT_ZIP}",
    s3_uri=f"s3://auxdata.johnsnowlabs.com/public/models/{BIOBERT_ZIP}",
    folder="public/models",
    artifact=BIOBERT_ZIP,
    timestamp=1598343200280,
    upstream=Upstream(kind="url", url="https://github.com/dmis-lab/biobert"),
    nlu_refs=("en.embed.biobert.pubmed_pmc_base_cased",),
    references=(),
    citation=None,
    description=(
        "This model contains a pre-trained weights of BioBERT, a language representation "
        "model for biomedical domain, especially designed for biomedical text mining tasks "
        "such as biomedical named entity recognition, relation extraction, question "
        'answering, etc. The details are described in the paper "BioBERT: a pre-trained '
        'biomedical language representation model for biomedical text mining".'
    ),
)


def test_pubmed_seed_parses_exactly(seeds_dir: Path) -> None:
    card = load_card(seeds_dir / PUBMED)
    assert card == EXPECTED_PUBMED
    assert card.warnings == ()
    assert card.path == str(seeds_dir / PUBMED)


def test_biobert_seed_parses_exactly(seeds_dir: Path) -> None:
    card = load_card(seeds_dir / BIOBERT)
    assert card == EXPECTED_BIOBERT
    assert card.warnings == ()


def test_biobert_facts_come_from_the_body(seeds_dir: Path) -> None:
    """No spark_version or annotator in its front matter: the artifact name and
    the code samples supply them."""
    text = (seeds_dir / BIOBERT).read_text(encoding="utf-8")
    front = text.split("---")[1]
    assert "spark_version" not in front and "annotator" not in front
    card = parse_card(text)
    assert card.spark_version == "2.4"
    assert card.annotator == "BertEmbeddings"
    assert card.path is None


def test_shared_seeds_parse_like_the_bundled_copies(seeds_dir: Path, shared_dir: Path) -> None:
    # The originals as given, with their hand-formatted code samples.
    assert load_card(shared_dir / "seeds" / PUBMED) == EXPECTED_PUBMED
    assert load_card(shared_dir / "seeds" / BIOBERT) == EXPECTED_BIOBERT


def test_to_dict_is_json_with_the_contract_keys(seeds_dir: Path) -> None:
    data = load_card(seeds_dir / PUBMED).to_dict()
    assert tuple(data) == CARD_KEYS
    again = json.loads(json.dumps(data))
    assert again["upstream"] == {
        "kind": "huggingface",
        "repo": "microsoft/BiomedNLP-PubMedBERT-base-uncased-abstract-fulltext",
    }
    assert again["nlu_refs"] == ["en.embed.bert.pubmed.uncased"]
    assert again["max_sentence_length"] is None  # the seed's table has no such row
    assert ModelCard.from_dict(again) == EXPECTED_PUBMED


def test_max_sentence_length_row(seeds_dir: Path) -> None:
    from modelhub.registry.catalog.build import CardInput, merge

    text = (seeds_dir / PUBMED).read_text(encoding="utf-8")
    row = "|Case sensitive:|true|\n"
    assert row in text
    card = parse_card(text.replace(row, row + "|Max sentence length:|512|\n"))
    assert card.max_sentence_length == 512
    assert card == EXPECTED_PUBMED.with_changes(max_sentence_length=512)
    assert card.warnings == ()
    data = json.loads(json.dumps(card.to_dict()))
    assert data["max_sentence_length"] == 512
    assert ModelCard.from_dict(data) == card
    # the catalog keeps it: its records are what pretrained() hands the loader
    [rec] = merge([CardInput(card, "card:pubmed")], [])
    assert ModelCard.from_dict(rec).max_sentence_length == 512

    two = parse_card(text.replace(row, row + "|Max sentence length:|128, 512|\n"))
    assert two.max_sentence_length == 128
    assert any("max_sentence_length" in w and "128" in w for w in two.warnings)
    none = parse_card(text.replace(row, row + "|Max sentence length:|unknown|\n"))
    assert none.max_sentence_length is None
