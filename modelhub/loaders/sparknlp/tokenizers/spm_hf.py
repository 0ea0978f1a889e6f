"""The upstream Hugging Face tokenizer of a SentencePiece zip, rebuilt from the ``*_spp``
bytes alone: the vocabulary layout of transformers' converters (``XLMRobertaConverter``,
``CamembertConverter``, ``T5Converter``; raw pieces for DeBERTa-v2, ALBERT, XLNet) and the
normalizer / pre-tokenizer / template of each family's tokenizer class with its defaults,
as transformers builds them from a ``sentencepiece`` model file (no ``tokenizer_config``:
ALBERT lowercases and strips accents, XLNet strips accents, DeBERTa does neither)."""

from __future__ import annotations

from typing import Any

from modelhub.errors import ArtifactFormatError
from modelhub.loaders.sparknlp.tokenizers.base import need_tokenizers
from modelhub.loaders.sparknlp.tokenizers.spm_proto import CONTROL, SpmModel, read_spm_model

T5_EXTRA_IDS = 100


def _vocab(family: str, model: SpmModel) -> tuple[list[tuple[str, float]], int]:
    raw = [(piece, score) for piece, score, _ in model.pieces]
    if family == "xlm-roberta":
        head = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
        return [*head, *raw[3:], ("<mask>", 0.0)], 3
    if family == "camembert":
        head = [("<s>NOTUSED", 0.0), ("<pad>", 0.0), ("</s>NOTUSED", 0.0), ("<unk>", 0.0)]
        return [*head, ("<unk>NOTUSED", -100.0), *raw[1:], ("<mask>", 0.0)], 3
    if family == "instructor":  # T5
        extra = [(f"<extra_id_{i}>", 0.0) for i in range(T5_EXTRA_IDS - 1, -1, -1)]
        return [*raw, *extra], 2
    if family == "deberta":
        return raw, raw.index(("[UNK]", 0.0)) if ("[UNK]", 0.0) in raw else 1
    if family == "albert":
        return raw, 1
    return raw, 0  # xlnet


def _normalizer(family: str, charsmap: bytes) -> Any:
    from tokenizers import Regex, normalizers

    steps: list[Any] = []
    if family in ("albert", "xlnet"):
        steps += [normalizers.Replace("``", '"'), normalizers.Replace("''", '"')]
        steps += [normalizers.NFKD(), normalizers.StripAccents()]
        if family == "albert":
            steps.append(normalizers.Lowercase())
    if family == "deberta":
        if charsmap:
            steps.append(normalizers.Precompiled(charsmap))
            steps.append(normalizers.Strip(left=False, right=True))
            steps.append(normalizers.Replace(Regex(r" {2,}"), " "))
        else:
            steps.append(normalizers.Replace(Regex(r"\s{2,}|[\n\r\t]"), " "))
            steps += [normalizers.NFC(), normalizers.Strip(left=False, right=True)]
    elif charsmap:
        steps.append(normalizers.Precompiled(charsmap))
    return normalizers.Sequence(steps)


def _template(family: str, token_id: Any) -> Any:
    from tokenizers import processors

    def specials(*names: str) -> list[tuple[str, int]]:
        return [(n, token_id(n)) for n in names]

    if family in ("xlm-roberta", "camembert"):
        return processors.TemplateProcessing(
            single="<s> $A </s>",
            pair="<s> $A </s> </s> $B </s>",
            special_tokens=specials("<s>", "</s>"),
        )
    if family == "xlnet":
        return processors.TemplateProcessing(
            single="$A:0 <sep>:0 <cls>:2",
            pair="$A:0 <sep>:0 $B:1 <sep>:1 <cls>:2",
            special_tokens=specials("<sep>", "<cls>"),
        )
    if family == "instructor":
        return processors.TemplateProcessing(
            single=["$A", "</s>"],
            pair=["$A", "</s>", "$B", "</s>"],
            special_tokens=specials("</s>"),
        )
    return processors.TemplateProcessing(  # deberta, albert
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=specials("[CLS]", "[SEP]"),
    )


_SPECIALS = {
    "xlm-roberta": ("<s>", "<pad>", "</s>", "<unk>", "<mask>"),
    "camembert": ("<s>", "</s>", "<pad>", "<unk>", "<mask>", "<s>NOTUSED", "</s>NOTUSED"),
    "deberta": ("[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]"),
    "albert": ("[CLS]", "[SEP]", "<pad>", "<unk>", "[MASK]"),
    "xlnet": ("<s>", "</s>", "<unk>", "<sep>", "<pad>", "<cls>", "<mask>", "<eop>", "<eod>"),
    "instructor": ("</s>", "<unk>", "<pad>"),
}


def hf_tokenizer(family: str, spp: bytes, source: str) -> Any:
    tk = need_tokenizers(source)
    from tokenizers import AddedToken, decoders, pre_tokenizers
    from tokenizers.models import Unigram

    model = read_spm_model(spp, source)
    vocab, unk_id = _vocab(family, model)
    tok = tk.Tokenizer(Unigram(vocab, unk_id=unk_id, byte_fallback=model.byte_fallback))
    tok.normalizer = _normalizer(family, model.precompiled_charsmap)
    if family == "deberta":  # DebertaV2Tokenizer: no whitespace split before Metaspace
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")]
        )
    else:
        tok.pre_tokenizer = pre_tokenizers.Sequence(
            [
                pre_tokenizers.WhitespaceSplit(),
                pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always"),
            ]
        )
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    ids = {piece: i for i, (piece, _) in reversed(list(enumerate(vocab)))}

    def token_id(name: str) -> int:
        if name not in ids:
            raise ArtifactFormatError(
                f"{source}: the SentencePiece model has no {name!r} piece, which the "
                f"{family} template needs"
            )
        return ids[name]

    tok.post_processor = _template(family, token_id)
    names = [*_SPECIALS[family]]
    if family != "camembert":  # control pieces are special tokens (SentencePieceExtractor)
        names += [p for p, _, kind in model.pieces if kind == CONTROL]
    if family == "instructor":
        names += [f"<extra_id_{i}>" for i in range(T5_EXTRA_IDS)]
    seen: set[str] = set()
    added = []
    for name in names:
        if name in ids and name not in seen:
            seen.add(name)
            added.append(AddedToken(name, lstrip=name == "<mask>", normalized=False, special=True))
    tok.add_special_tokens(added)
    return tok


__all__ = ["hf_tokenizer"]
