"""Ranked full-text search over the catalog's models (one entry per model:
name, language, folder), on name, title, tags and description."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modelhub.registry.catalog.catalog import Catalog

# weight of a term found in each field; a whole-word hit counts more than a
# substring hit
_NAME_WORD, _NAME_SUB = 12, 6
_TITLE_WORD, _TITLE_SUB = 6, 3
_TAG_WORD, _TAG_SUB = 4, 2
_DESC_WORD, _DESC_SUB = 2, 1
_EXACT_NAME = 100


@dataclass(frozen=True)
class Hit:
    score: int
    name: str
    language: str | None
    folder: str | None
    task: str | None
    title: str | None
    tags: tuple[str, ...]
    lib_version: str | None
    key: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "name": self.name,
            "language": self.language,
            "folder": self.folder,
            "task": self.task,
            "title": self.title,
            "tags": list(self.tags),
            "lib_version": self.lib_version,
            "key": self.key,
        }


# runs of characters for which str.isalnum() is true (\w less the underscore)
_WORD = re.compile(r"[^\W_]+")


def _word_list(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _words(text: str) -> set[str]:
    return set(_word_list(text))


def word_text(text: str) -> str:
    """The distinct words of ``text``, lower-cased, in order of first
    appearance, one space apart: what search matches a long description
    against (every whole-word and in-word hit of the full text, a fraction
    of its size)."""
    return " ".join(dict.fromkeys(_word_list(text)))


def _field_score(term: str, text: str, words: set[str], whole: int, sub: int) -> int:
    if term in words:
        return whole
    if term in text:
        return sub
    return 0


def search(
    catalog: Catalog,
    text: str,
    *,
    lang: str | None = None,
    task: str | None = None,
    limit: int | None = 20,
) -> list[Hit]:
    """Models whose fields contain every word of ``text``, best first
    (score, then name). Name hits weigh most, then title, tags, description."""
    terms = sorted(_words(text))
    if not terms:
        return []
    phrase = text.strip().lower()
    want_lang = lang.strip().lower() if lang else None
    want_task = task.strip().lower() if task else None
    hits: list[Hit] = []
    for row in catalog.search_rows():
        name, language, folder, row_task, title, tags, desc, lib, key, desc_words = row
        if want_lang is not None and (language or "").lower() != want_lang:
            continue
        if want_task is not None and want_task not in (row_task or "").lower():
            continue
        name_l = name.lower()
        title_l = (title or "").lower()
        tags_l = " ".join(tags).lower()
        # a long description's words (lower-cased), else the whole short one
        desc_l = desc_words or desc.lower()
        combined = f"{name_l} {title_l} {tags_l} {desc_l}"
        if not all(t in combined for t in terms):
            continue  # cheap test first: most models miss a term
        fields = (
            (name_l, _words(name_l), _NAME_WORD, _NAME_SUB),
            (title_l, _words(title_l), _TITLE_WORD, _TITLE_SUB),
            (tags_l, {t.lower() for t in tags} | _words(tags_l), _TAG_WORD, _TAG_SUB),
            (desc_l, _words(desc_l), _DESC_WORD, _DESC_SUB),
        )
        score = _EXACT_NAME if phrase == name_l else 0
        for term in terms:
            best = sum(_field_score(term, t, w, a, b) for t, w, a, b in fields)
            if best == 0:
                break
            score += best
        else:
            hits.append(Hit(score, name, language, folder, row_task, title, tuple(tags), lib, key))
    hits.sort(key=lambda h: (-h.score, h.name, h.language or "", h.folder or ""))
    return hits[:limit] if limit else hits
