"""Variable names of real Spark NLP TensorFlow engines -> transformers torch keys: the name
forms of releases the fixtures do not cover (TF-Hub ``module/`` prefixes, transformers < 4.7
word-embedding names, XLNet's unkernelled attention tensors)."""

from __future__ import annotations

import pytest

from modelhub.loaders.sparknlp.runners.tf_names import (
    albert_hub_torch_name,
    hf_torch_name,
    layer_pattern,
    scheme_of,
    xlnet_torch_name,
)


@pytest.mark.parametrize(
    ("name", "prefix", "expected"),
    [
        (
            "tf_bert_model/bert/encoder/layer_._11/attention/self/query/kernel",
            "bert",
            ("encoder.layer.11.attention.self.query.weight", True),
        ),
        (
            "tf_distil_bert_model/distilbert/transformer/layer_._0/sa_layer_norm/gamma",
            "distilbert",
            ("transformer.layer.0.sa_layer_norm.weight", False),
        ),
        (
            "tf_camembert_model/roberta/embeddings/position_embeddings/embeddings",
            "roberta",
            ("embeddings.position_embeddings.weight", False),
        ),
        # T5's shared embedding sits outside the model scope
        ("shared/shared/embeddings", "encoder_model", ("shared.weight", False)),
        (
            "tft5_encoder_model/encoder/block_._0/layer_._1/DenseReluDense/wi_0/kernel",
            "encoder_model",
            ("encoder.block.0.layer.1.DenseReluDense.wi_0.weight", True),
        ),
        # XLNet's attention tensors are [d_model, heads, head_size], no kernel suffix
        (
            "tfxl_net_model/transformer/layer_._2/rel_attn/q",
            "transformer",
            ("layer.2.rel_attn.q", False),
        ),
        # DeBERTa names one variable with a dot
        (
            "tf_deberta_v2_model/deberta/encoder/rel_embeddings.weight",
            "deberta",
            ("encoder.rel_embeddings.weight", False),
        ),
    ],
)
def test_hugging_face_tf2_names(name: str, prefix: str, expected: tuple[str, bool]) -> None:
    assert hf_torch_name(name, prefix) == expected


def test_layer_pattern_hides_list_indices() -> None:
    assert (
        layer_pattern("encoder.layer.11.output.dense.weight")
        == "encoder.layer.#.output.dense.weight"
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("module/bert/embeddings/word_embeddings", ("embeddings.word_embeddings.weight", False)),
        (
            "module/bert/encoder/embedding_hidden_mapping_in/kernel",
            ("encoder.embedding_hidden_mapping_in.weight", True),
        ),
        (
            "bert/encoder/transformer/group_0/inner_group_0/attention_1/self/key/bias",
            ("encoder.albert_layer_groups.0.albert_layers.0.attention.key.bias", False),
        ),
        (
            "module/bert/encoder/transformer/group_0/inner_group_0/ffn_1/intermediate/output/dense/kernel",
            ("encoder.albert_layer_groups.0.albert_layers.0.ffn_output.weight", True),
        ),
        (
            "bert/encoder/transformer/group_0/inner_group_0/LayerNorm_1/beta",
            ("encoder.albert_layer_groups.0.albert_layers.0.full_layer_layer_norm.bias", False),
        ),
        ("module/cls/predictions/output_bias", None),  # the MLM head is not the encoder's
    ],
)
def test_tf_hub_albert_names(name: str, expected: tuple[str, bool] | None) -> None:
    assert albert_hub_torch_name(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("model/transformer/layer_11/rel_attn/q/kernel", ("layer.11.rel_attn.q", False)),
        (
            "model/transformer/layer_0/rel_attn/LayerNorm/gamma",
            ("layer.0.rel_attn.layer_norm.weight", False),
        ),
        ("model/transformer/layer_3/ff/layer_2/kernel", ("layer.3.ff.layer_2.weight", True)),
        ("model/transformer/layer_3/ff/layer_1/bias", ("layer.3.ff.layer_1.bias", False)),
        ("model/lm_loss/bias", None),
    ],
)
def test_original_xlnet_names(name: str, expected: tuple[str, bool] | None) -> None:
    assert xlnet_torch_name(name) == expected


@pytest.mark.parametrize(
    ("names", "scheme"),
    [
        (["tf_roberta_model/roberta/encoder/layer_._0/output/dense/kernel"], "hf"),
        (["module/bert/encoder/transformer/group_0/inner_group_0/LayerNorm/gamma"], "albert-hub"),
        (
            ["model/transformer/layer_0/rel_attn/q/kernel", "model/transformer/r_w_bias"],
            "xlnet-orig",
        ),
        (["bert/encoder/layer_0/attention/self/query/kernel"], "bert-tf1"),
        (["dense/kernel", "global_step"], "unknown"),
    ],
)
def test_scheme_of(names: list[str], scheme: str) -> None:
    assert scheme_of(names) == scheme
