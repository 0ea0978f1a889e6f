"""What real cards do (../shared/corpus/README.md), one test per oddity, on the
real files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from modelhub.cards import ModelCard, Upstream, load_card, load_cards

pytestmark = pytest.mark.corpus


def card(corpus_dir: Path, name: str) -> ModelCard:
    return load_card(corpus_dir / "cards" / name)


def has_warning(c: ModelCard, *words: str) -> bool:
    return any(all(w in message for w in words) for message in c.warnings)


# -- old cards: the table is the only source --------------------------------


def test_old_card_reads_everything_from_the_table(corpus_dir: Path) -> None:
    c = card(corpus_dir, "2019-07-13-wikiner_6B_300_fr.md")
    assert c.language == "fr"
    assert c.lib_version == "2.1.0"  # "Compatibility:| Spark NLP 2.1.0" (leading space)
    assert c.input_labels == ("sentence", "token", "embeddings")  # "Spark inputs:"
    assert c.output_labels == ("ner",)  # "Spark outputs:"
    assert c.edition_kind == "Official"
    assert c.annotator == "NerDLModel"  # from the code sample


def test_table_split_by_a_blank_line_is_read_whole(corpus_dir: Path) -> None:
    # |Language:|fr| <blank line> |Case sensitive:|false| |License:|Open Source|
    c = card(corpus_dir, "2019-07-13-wikiner_6B_300_fr.md")
    assert c.case_sensitive is False
    assert c.license == "Open Source"


# -- download links -----------------------------------------------------------


def test_malformed_download_link_with_pipes(corpus_dir: Path) -> None:
    # [Download](||https://s3.amazonaws.com/...)
    c = card(corpus_dir, "2020-05-10-norne_6B_100_no.md")
    assert c.artifact == "norne_6B_100_no_2.5.0_2.4_1588781289907.zip"
    assert c.download_url == (
        "https://s3.amazonaws.com/auxdata.johnsnowlabs.com/public/models/" + c.artifact
    )
    assert c.s3_uri == "s3://auxdata.johnsnowlabs.com/public/models/" + c.artifact


def test_copy_s3_uri_without_download_link_gives_both(corpus_dir: Path) -> None:
    # Only "[Copy S3 URI](s3://...)": the https link is derived.
    c = card(corpus_dir, "2020-06-24-chunkresolve_rxnorm_xsmall_clinical_en.md")
    zip_ = "chunkresolve_rxnorm_xsmall_clinical_en_2.5.2_2.4_1592959394598.zip"
    assert c.s3_uri == f"s3://auxdata.johnsnowlabs.com/clinical/models/{zip_}"
    assert (
        c.download_url
        == f"https://s3.amazonaws.com/auxdata.johnsnowlabs.com/clinical/models/{zip_}"
    )
    assert c.folder == "clinical/models"
    assert c.timestamp == 1592959394598


def test_hidden_download_button_still_counts(corpus_dir: Path) -> None:
    # {:.button...hidden}: hidden on the site, still the artifact.
    c = card(corpus_dir, "2020-01-28-ner_crf_en.md")
    assert c.artifact == "ner_crf_en_2.4.0_2.4_1580237286004.zip"
    assert c.name == "ner_crf"


def test_no_link_at_all_keeps_front_matter_name(corpus_dir: Path) -> None:
    c = card(corpus_dir, "01-02-2020-clinical_analysis_en.md")
    assert c.name == "clinical_analysis"
    assert c.download_url is None and c.s3_uri is None and c.artifact is None
    assert c.timestamp is None
    # class: and repository: instead of annotator: (and no link for the folder)
    assert c.annotator == "PipelineModel"
    assert c.folder == "clinical/models"


def test_community_bucket(corpus_dir: Path) -> None:
    c = card(corpus_dir, "2022-06-07-ner_anatomy_en_test_en_3_0.md")
    assert c.download_url == (
        "https://s3.amazonaws.com/community.johnsnowlabs.com/ahmedlone127/"
        "ner_anatomy_en_test_en_3.0.0_3.0_1654588794344.zip"
    )
    assert c.folder == "ahmedlone127"
    assert c.edition_kind == "Community"


@pytest.mark.parametrize(
    ("file", "folder"),
    [
        ("2022-08-03-finance_sequence_classifier_esg_en_3_2.md", "finance/models"),
        ("2022-08-03-legal_sequence_classifier_force_majeure_clause_en_3_2.md", "legal/models"),
        ("2022-07-20-layoutlmv2_rvl_cdip_40k_en_3_0.md", "clinical/ocr"),
        ("2020-01-30-ner_clinical_en.md", "clinical/models"),
    ],
)
def test_folders(corpus_dir: Path, file: str, folder: str) -> None:
    assert card(corpus_dir, file).folder == folder


def test_misspelt_s3_host_gets_the_canonical_url(corpus_dir: Path) -> None:
    # https://s3.amazon.com/... (sic)
    c = card(corpus_dir, "2020-04-22-ner_posology_small_en.md")
    assert c.download_url is not None
    assert c.download_url.startswith("https://s3.amazonaws.com/auxdata.johnsnowlabs.com/")
    assert has_warning(c, "s3.amazon.com")


def test_download_button_only_in_html_is_not_taken(corpus_dir: Path) -> None:
    # A lorem-ipsum draft whose raw-HTML button points at another model's zip.
    c = card(corpus_dir, "2020-06-26-glove_100d.md")
    assert c.name == "glove_100d"
    assert c.artifact is None
    assert c.dimension == 100  # "## Dimension: 100": key/value rows written as headings
    assert c.lib_version == "2.4.0"


# -- names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "front_matter_name", "name"),
    [
        ("2020--03-25-ner_diseases_en.md", "ner_diseases_en", "ner_diseases"),
        (
            "2020-07-03-classifierdl_use_emotion_en.md",
            "Emotion Classifier",
            "classifierdl_use_emotion",
        ),
        (
            "2022-01-25-frWiki_no_lem_no_postag_no_phrase_1000_cbow_cut100_fr.md",
            "Word Embeddings for French (word2vec_wiki_1000)",
            "frWiki_no_lem_no_postag_no_phrase_1000_cbow_cut100",
        ),
        ("2020-05-10-ner_clinical_large_en.md", "ner_clinical_large", "ner_large_clinical"),
    ],
)
def test_name_comes_from_the_artifact(
    corpus_dir: Path, file: str, front_matter_name: str, name: str
) -> None:
    c = card(corpus_dir, file)
    assert c.name == name
    assert has_warning(c, "name:", repr(front_matter_name), repr(name))


def test_name_with_language_like_segment(corpus_dir: Path) -> None:
    # ner_clinical_large_en_en_3.0.0_3.0_...zip: the name itself ends in "_en".
    c = card(corpus_dir, "2021-03-31-ner_clinical_large_en_en.md")
    assert c.name == "ner_clinical_large_en"
    assert c.language == "en"
    assert c.warnings == ()


def test_dotted_names(corpus_dir: Path) -> None:
    c = card(corpus_dir, "2024-11-02-Nomic_Embed_Text_v1.5.Q8_0.gguf_en.md")
    assert c.name == "Nomic_Embed_Text_v1.5.Q8_0.gguf"
    assert (c.language, c.lib_version, c.spark_version) == ("en", "5.5.2", "3.4")
    assert c.upstream == Upstream(kind="huggingface", repo="nomic-ai/nomic-embed-text-v1.5")


# -- dates ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "date"),
    [
        ("2020-01-28-ner_crf_en.md", "2020-01-28"),
        ("2020-02-17-lemma_es.md", "2020-02-17"),  # 2020-02-17 00:16:00 +0800
        ("2020-07-03-classifierdl_use_emotion_en.md", "2020-07-03"),  # 03/07/2020
        ("01-02-2020-clinical_analysis_en.md", "2020-02-01"),  # file name day-month-year
        ("06-10-2020-classifierdl_ade_biobert_en.md", "2020-10-06"),
        ("2020--03-25-ner_diseases_en.md", "2020-03-25"),
    ],
)
def test_dates(corpus_dir: Path, file: str, date: str) -> None:
    assert card(corpus_dir, file).date == date


# -- languages ------------------------------------------------------------------


def test_language_in_brackets_and_plain(corpus_dir: Path) -> None:
    assert card(corpus_dir, "2020-01-30-assertion_dl_en.md").language == "en"  # [en]
    assert card(corpus_dir, "2022-03-03-lemma_spacylookup_ur_3_0.md").language == "ur"


def test_empty_language_stays_empty(corpus_dir: Path) -> None:
    c = card(corpus_dir, "01-09-2020-entity_recognizer_lg_.md")  # language: (empty)
    assert c.language is None


def test_multilingual_and_odd_codes(corpus_dir: Path) -> None:
    assert card(corpus_dir, "2020-12-08-tfhub_use_multi_lg_xx.md").language == "xx"
    c = card(
        corpus_dir,
        "2022-11-30-bert_token_classifier_autotrain_medicaltokenclassification_1279048948_unk.md",
    )
    assert c.language == "unk"
    assert c.name == "bert_token_classifier_autotrain_medicaltokenclassification_1279048948"


def test_artifact_language_beats_the_table(corpus_dir: Path) -> None:
    c = card(corpus_dir, "2020-02-03-glove_6B_300_en.md")  # table en, artifact ..._xx_...
    assert c.language == "xx"
    assert has_warning(c, "language:", "'en'", "'xx'")


def test_language_only_in_the_file_name(corpus_dir: Path) -> None:
    text = (corpus_dir / "cards" / "01-02-2020-clinical_analysis_en.md").read_text("utf-8")
    text = text.replace("language: en\n", "")
    from modelhub.cards import parse_card

    assert parse_card(text, "cards/01-02-2020-clinical_analysis_en.md").language == "en"
    assert parse_card(text).language is None


# -- table keys -----------------------------------------------------------------


def test_padded_cells_and_lower_case_keys(corpus_dir: Path) -> None:
    c = card(corpus_dir, "2020-01-28-ner_crf_en.md")  # "| Name:          | ner_crf  |"
    assert c.input_labels == ("sentence", "token", "pos", "word_embeddings")  # "Input labels:"
    assert c.license == "Licensed"
    assert c.lib_version == "2.4.0"  # "Spark NLP 2.4.0+"


def test_colon_less_keys_and_swapped_compatibility_rows(corpus_dir: Path) -> None:
    c = card(corpus_dir, "2020-07-03-classifierdl_use_emotion_en.md")
    assert c.annotator == "ClassifierDLModel"  # front matter class:
    assert c.input_labels == ("document", "sentence_embeddings")
    assert (c.lib_version, c.spark_version) == ("2.5.3", "2.4")
    assert has_warning(c, "swapped")
    assert c.edition_kind == "public"


def test_three_cell_dimension_row(corpus_dir: Path) -> None:
    c = card(corpus_dir, "snm__top__2020-01-31-elmo.md")  # |Dimension:|512|1024|
    assert c.dimension == 512
    assert has_warning(c, "dimension", "512", "1024")


def test_max_sentence_length_row(corpus_dir: Path) -> None:
    c = card(corpus_dir, "2022-11-29-bert_token_classifier_swedish_ner_sv.md")
    assert c.max_sentence_length == 256  # |Max sentence length:|256|
    assert c.case_sensitive is True  # the row before it
    assert card(corpus_dir, "2022-10-11-beto_sentiment_es.md").max_sentence_length == 128
    assert card(corpus_dir, "2019-07-13-wikiner_6B_300_fr.md").max_sentence_length is None


def test_annotator_from_table_type_when_it_is_a_class(corpus_dir: Path) -> None:
    text = (corpus_dir / "cards" / "2020-01-28-ner_crf_en.md").read_text("utf-8")
    from modelhub.cards import parse_card

    stripped = text.replace("class: NerCrfModel\n", "").replace("annotator: NerCrfModel\n", "")
    assert parse_card(stripped).annotator == "NerCrfModel"  # | Type: | NerCrfModel |


# -- front matter ---------------------------------------------------------------


def test_task_list_is_joined(corpus_dir: Path) -> None:
    c = card(corpus_dir, "2023-05-31-ner_deid_subentity_ar.md")
    assert c.task == "Named Entity Recognition, De-identification"


def test_spark_version_list_in_front_matter(corpus_dir: Path) -> None:
    c = card(corpus_dir, "2022-10-11-beto_sentiment_es.md")  # spark_version: [3.2, 3.0]
    assert c.spark_version == "3.2"
    text = (corpus_dir / "cards" / "2022-10-11-beto_sentiment_es.md").read_text("utf-8")
    from modelhub.cards import parse_card

    no_link = "\n".join(ln for ln in text.splitlines() if ".zip" not in ln)
    c = parse_card(no_link)
    assert c.spark_version == "3.2"
    assert has_warning(c, "spark_version", "highest")


def test_unindented_cover_type_is_harmless(corpus_dir: Path) -> None:
    # article_header: / type: cover (unindented): YAML reads a top-level "type".
    c = card(corpus_dir, "2020-01-30-assertion_dl_en.md")
    assert c.annotator == "AssertionDLModel"
    assert c.name == "assertion_dl"


def test_flags(corpus_dir: Path) -> None:
    assert card(corpus_dir, "2020-01-28-ner_crf_en.md").supported is True
    assert card(corpus_dir, "2022-06-07-ner_anatomy_en_test_en_3_0.md").supported is False
    # deprecated: true and no supported: flag
    c = card(corpus_dir, "2021-05-06-tfhub_use_multi_xx.md")
    assert c.supported is None
    assert c.name == "tfhub_use_multi"


def test_edition_as_written_and_disagreeing_versions(corpus_dir: Path) -> None:
    c = card(corpus_dir, "2021-01-18-jsl_assertion_wip_en.md")
    assert c.edition == "Healthcare NLP 2.7.0"
    assert c.lib_version == "2.6.1"  # the artifact name wins
    assert has_warning(c, "lib_version", "'2.7.0'", "'2.6.1'")
    assert card(corpus_dir, "2022-07-20-layoutlmv2_rvl_cdip_40k_en_3_0.md").edition == (
        "Visual NLP 3.14.0"
    )


# -- sizes, licenses --------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "size_mb"),
    [
        ("2022-01-25-frWiki_no_lem_no_postag_no_phrase_1000_cbow_cut100_fr.md", 921 / 1024**2),
        ("2022-03-03-lemma_spacylookup_ur_3_0.md", 272.3 / 1024),
        ("2022-02-01-word2vec_wac_200_fr.md", 118.0),
        ("2022-03-14-w2v_cc_300d_zh_3_0.md", 1.4 * 1024),
    ],
)
def test_sizes(corpus_dir: Path, file: str, size_mb: float) -> None:
    assert card(corpus_dir, file).size_mb == pytest.approx(size_mb, abs=1e-6)


def test_missing_license_row_falls_back_to_tags(corpus_dir: Path) -> None:
    c = card(corpus_dir, "2021-03-09-pos_ud_nynorsk_nn.md")
    assert c.license == "Open Source"  # no License row; tags has open_source


# -- code blocks -------------------------------------------------------------------


def test_nlu_block(corpus_dir: Path) -> None:
    c = card(corpus_dir, "2020-12-09-hebrew_cc_300d_he.md")
    assert c.nlu_refs == ("he.embed.cbow_300d",)


def test_annotator_matches_the_model_not_other_stages(corpus_dir: Path) -> None:
    # A pipeline with several .pretrained() calls, no annotator: in front matter.
    c = card(corpus_dir, "2021-11-03-robertaresolve_snomed_es.md")
    assert c.annotator == "SentenceEntityResolverModel"
    c = card(corpus_dir, "2022-08-03-legal_sequence_classifier_force_majeure_clause_en_3_2.md")
    assert c.annotator == "ClassifierDLModel"  # ClassifierDLModel().pretrained(...)


def test_nested_fences_do_not_hide_the_table(corpus_dir: Path) -> None:
    c = card(corpus_dir, "2020-04-15-ner_posology_en.md")  # closed by ``````
    assert c.output_labels == ("ner",)


def test_zero_width_characters_are_dropped(corpus_dir: Path) -> None:
    c = card(corpus_dir, "snm__top__2020-04-28-xlnet_base_cased.md")
    assert c.description is not None and "\u200b" not in c.description


def test_liquid_tags_and_html_comments(corpus_dir: Path) -> None:
    c = card(corpus_dir, "2021-01-18-jsl_assertion_wip_en.md")  # trailing <!--stackedit...
    assert c.name == "jsl_assertion_wip"
    c = card(corpus_dir, "2023-06-08-instructor_base_en.md")
    assert c.description is not None and "{%" not in c.description
    assert c.upstream == Upstream(kind="huggingface", repo="hkunlp/instructor-base")


def test_lorem_ipsum_and_test_cards_parse(corpus_dir: Path) -> None:
    assert card(corpus_dir, "2020-06-26-template.md").name == "template"
    assert card(corpus_dir, "2022-08-02-Testing123_en_3_0.md").name == "Testing123"


# -- copy-paste errors ------------------------------------------------------------


def test_engine_tag_contradicting_engine(corpus_dir: Path) -> None:
    c = card(corpus_dir, "2025-05-24-sentence_transformers_e5_large_v2_en.md")
    assert c.engine == "openvino"
    assert has_warning(c, "engine", "onnx")


def test_download_link_of_another_model(corpus_dir: Path) -> None:
    c = card(corpus_dir, "2020-01-30-assertion_ml_en.md")
    assert c.name == "assertion_dl_large"
    assert has_warning(c, "annotator", "assertion_ml")


# -- bare links, references -------------------------------------------------------


def test_bare_huggingface_url_in_references(corpus_dir: Path) -> None:
    c = card(corpus_dir, "2022-04-14-roberta_embeddings_SecRoBERTa_en_3_0.md")
    assert c.upstream == Upstream(kind="huggingface", repo="jackaduma/SecRoBERTa")
    assert "https://huggingface.co/jackaduma/SecRoBERTa" in c.references


# -- the whole corpus --------------------------------------------------------------


def test_every_card_parses_and_loads_as_a_folder(corpus_dir: Path) -> None:
    files = sorted((corpus_dir / "cards").glob("*.md"))
    cards = load_cards([corpus_dir / "cards"], strict=True)
    assert [c.path for c in cards] == [str(f) for f in files]
    assert len(cards) == len(files) > 200


def test_agreement_with_the_metadata_table(corpus_dir: Path) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
    try:
        import corpus_report
    finally:
        sys.path.pop(0)
    report = corpus_report.build_report(corpus_dir)
    assert report.parse_rate == 1.0
    assert report.compared >= 50
    unexplained = [d for d in report.disagreements if (d[0], d[1]) not in corpus_report.EXPLAINED]
    assert unexplained == []
    for card_field, _, _ in corpus_report.FIELDS:
        assert report.agreement(card_field, explained=True) >= corpus_report.THRESHOLD
