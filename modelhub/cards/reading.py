"""A card being read: its front matter, model table and Markdown body, with
the look-ups the parser combines (table cells by key, the artifact location,
the annotator class and folder found in code samples, upstream, references,
NLU names, citation) and the warnings collected on the way."""

from __future__ import annotations

import re
from pathlib import PurePath
from typing import Any
from urllib.parse import unquote, urlsplit

from modelhub.cards.artifact import (
    Location,
    parse_location,
)
from modelhub.cards.markdown import Body
from modelhub.cards.record import Upstream

# X.pretrained("name", ...), also X() \ (newline) .pretrained(...): found from
# each ".pretrained(" backwards, which is far cheaper than one regex that
# tries every identifier of the code.
_PRETRAINED_CALL_RE = re.compile(r"\.pretrained\(")

# What _class_before() reads backwards: the identifier, then this tail.
_CLASS_TAIL_RE = re.compile(r"\s*(?:\(\s*\))?[\s\\]*")
_NON_WORD_RUN_RE = re.compile(r"\W*")
_WORD_RUN_RE = re.compile(r"\w*")
_IDENT_START_RE = re.compile(r"[A-Za-z_]")
_FIRST_ARG_RE = re.compile(r"\s*(?:name\s*=\s*)?(?:[\"']([^\"'\n]*)[\"']|([A-Za-z_]\w*))?")
_PIPELINE_RE = re.compile(r"\bPretrainedPipeline\(\s*(?:name\s*=\s*)?[\"']([^\"'\n]+)[\"']")
_FOLDER_ARG_RE = re.compile(
    r"\.pretrained\(\s*[\"']([^\"'\n]+)[\"']\s*,\s*[\"'][^\"'\n]*[\"']\s*,\s*[\"']([a-z]+/[a-z]+)[\"']"
)
_NLU_RE = re.compile(r"nlu\.load\(\s*[\"']([^\"'\n]+)[\"']")
_BIBTEX_RE = re.compile(r"^\s*@\w+\s*\{", re.MULTILINE)
_CLASS_NAME_RE = re.compile(r"^[A-Z][A-Za-z0-9]+$")


_HF_RESERVED = frozenset(
    {
        "datasets",
        "spaces",
        "docs",
        "blog",
        "models",
        "papers",
        "join",
        "login",
        "settings",
        "tasks",
        "learn",
        "organizations",
        "collections",
        "transformers",
        "pricing",
    }
)


# Table keys as cards write them (lower case, no colon) -> the field they fill.
_TABLE_KEYS = {
    "model name": "name",
    "name": "name",
    "type": "type",
    "model class": "model_class",
    "annotator": "model_class",
    "compatibility": "compat",
    "spark nlp compatibility": "compat",
    "spark compatibility": "spark",
    "license": "license",
    "edition": "edition_kind",
    "input labels": "inputs",
    "spark inputs": "inputs",
    "output labels": "outputs",
    "spark outputs": "outputs",
    "language": "language",
    "size": "size",
    "case sensitive": "case_sensitive",
    "dimension": "dimension",
    "dimensions": "dimension",
    "max sentence length": "max_sentence_length",
}


class _Card:
    """Accumulates one card's fields and warnings."""

    def __init__(self, meta: dict[str, Any], body: Body, source: str | None) -> None:
        self.meta = meta
        self.body = body
        self.source = source
        self.file_name = _file_name(source) if source else None
        self.warnings: list[str] = []
        self.table: dict[str, list[str]] = {}
        for key, cells in [*body.rows, *body.heading_rows]:
            field = _TABLE_KEYS.get(key)
            if field is not None and field not in self.table and cells:
                self.table[field] = cells

    def warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    def cell(self, field: str) -> str | None:
        cells = self.table.get(field)
        return cells[0] if cells else None

    # -- locations ---------------------------------------------------------

    def locations(self) -> tuple[Location | None, Location | None]:
        """The download link's location and the ``s3://`` link's location."""
        primary: Location | None = None
        s3_link: Location | None = None
        fallback: Location | None = None
        for link in self.body.links:
            href = unquote(link.href)
            if ".zip" not in href.lower():
                continue
            loc = parse_location(href)
            if loc is None or not loc.file.lower().endswith(".zip"):
                continue
            if loc.written.lower().startswith("s3://"):
                s3_link = s3_link or loc
            elif "download" in link.text.lower():
                primary = primary or loc
            else:
                fallback = fallback or loc
        primary = primary or fallback
        if primary is not None and s3_link is not None and primary.key != s3_link.key:
            self.warn(
                f"the Download link ({primary.download_url}) and the S3 URI "
                f"({s3_link.s3_uri}) name different artifacts; using the Download link"
            )
        return primary or s3_link, s3_link

    # -- code samples ------------------------------------------------------

    def pretrained_calls(self) -> list[tuple[int, str, str | None]]:
        """(block index, class, first argument) for each ``X.pretrained(...)``."""
        calls = []
        for index, fence in enumerate(self.body.fences):
            code = fence.content
            if fence.nlu or (".pretrained" not in code and "PretrainedPipeline" not in code):
                continue
            for m in _PRETRAINED_CALL_RE.finditer(code):
                cls = _class_before(code, max(0, m.start() - 160), m.start())
                if cls is None or not _CLASS_NAME_RE.match(cls):
                    continue
                arg = _FIRST_ARG_RE.match(code, m.end())
                first = (arg.group(1) or arg.group(2)) if arg else None
                calls.append((index, cls, first))
            if "PretrainedPipeline" not in code:
                continue  # (the regex below starts with \b: no quick scan for it)
            for m in _PIPELINE_RE.finditer(code):
                calls.append((index, "PipelineModel", m.group(1)))
        return calls

    def annotator_from_code(self, name: str, aliases: set[str]) -> str | None:
        calls = self.pretrained_calls()
        if not calls:
            return None
        for _, cls, arg in calls:
            if arg and (arg == name or arg in aliases):
                return cls
        loaded = sorted({arg for _, _, arg in calls if arg})
        classes = {cls for _, cls, _ in calls}
        if len(classes) == 1:
            if loaded:
                self.warn(
                    f"annotator: the code samples load {loaded}, not {name!r}; "
                    f"taking {calls[0][1]!r} from them anyway"
                )
            return calls[0][1]
        # A pipeline example: the model the card is about is, by convention,
        # the last stage loaded in the first example.
        first_block = calls[0][0]
        return [cls for block, cls, _ in calls if block == first_block][-1]

    def folder_from_code(self) -> str | None:
        for fence in self.body.fences:
            m = _FOLDER_ARG_RE.search(fence.content)
            if m is not None:
                return m.group(2)
        return None

    def nlu_refs(self) -> tuple[str, ...]:
        refs: list[str] = []
        for fence in self.body.fences:
            if "nlu.load" not in fence.content:
                continue
            for m in _NLU_RE.finditer(fence.content):
                ref = m.group(1).strip()
                if ref and ref not in refs:
                    refs.append(ref)
        return tuple(refs)

    def citation(self) -> str | None:
        for fence in self.body.fences:
            if "@" in fence.content and _BIBTEX_RE.search(fence.content):
                return fence.content.strip()
        return None

    # -- links -------------------------------------------------------------

    def upstream(self) -> Upstream | None:
        order = {"description": 0, "source": 1, "references": 2, "preamble": 3, "other": 4}
        links = sorted(
            (lk for lk in self.body.links if lk.section != "howto"),
            key=lambda lk: order.get(lk.section, 5),
        )
        for link in links:
            hf = _huggingface(link.href)
            if hf is not None:
                return hf
        for link in self.body.links:
            text = self.body.paragraph_text.get(link.paragraph, "").lower()
            if "imported from" in text and _is_web_url(link.href):
                return Upstream(kind="url", url=_clean_url(link.href))
        for link in self.body.links:
            if link.section == "source" and _is_web_url(link.href):
                return Upstream(kind="url", url=_clean_url(link.href))
        return None

    def package_link(self) -> str | None:
        """A Download link into an installed Python package
        (``package:<module>/<path>``): the card's offline source."""
        for link in self.body.links:
            if link.href.startswith("package:") and "download" in link.text.lower():
                return link.href.strip()
        return None

    def references(self) -> tuple[str, ...]:
        refs: list[str] = []
        for link in self.body.links:
            if link.section == "references" and _is_web_url(link.href):
                url = _clean_url(link.href)
                if url not in refs:
                    refs.append(url)
        return tuple(refs)


def _class_before(code: str, start: int, end: int) -> str | None:
    """The identifier that ``code[start:end]`` ends with, allowing ``()``,
    spaces and line continuations after it: what
    ``re.search(r"([A-Za-z_]\\w*)\\s*(?:\\(\\s*\\))?[\\s\\\\]*\\Z", code[start:end])``
    captures, read from the end instead of tried at every position (twenty
    times faster). Its identifier must be the window's last run of word
    characters, and only what follows that run can be the tail."""
    window = code[start:end]
    backwards = window[::-1]
    tail = _NON_WORD_RUN_RE.match(backwards).end()  # type: ignore[union-attr]
    ident_end = len(window) - tail
    if _CLASS_TAIL_RE.fullmatch(window, ident_end) is None:
        return None
    run = _WORD_RUN_RE.match(backwards, tail).end() - tail  # type: ignore[union-attr]
    first = _IDENT_START_RE.search(window, ident_end - run, ident_end)
    return None if first is None else window[first.start() : ident_end]


def _file_name(source: str) -> str:
    """``PurePath(source).name``, without building a path where the last
    component is plainly the name."""
    name = source.rpartition("/")[2]
    if name and name != ".":
        return name
    return PurePath(source).name


def _clean_url(href: str) -> str:
    return href.strip()


def _is_web_url(href: str) -> bool:
    return href.startswith(("http://", "https://"))


def _huggingface(href: str) -> Upstream | None:
    if "huggingface.co" not in href:
        return None
    try:
        parts = urlsplit(href.strip())
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if host not in ("huggingface.co", "www.huggingface.co"):
        return None
    segments = [s for s in unquote(parts.path).split("/") if s]
    if not segments or segments[0].lower() in _HF_RESERVED:
        return None
    revision = None
    if len(segments) >= 2 and segments[1] in ("tree", "blob", "resolve"):
        repo = segments[0]  # legacy single-name repo
        revision = segments[2] if len(segments) > 2 else None
    else:
        repo = "/".join(segments[:2])
        if len(segments) >= 4 and segments[2] in ("tree", "blob", "resolve"):
            revision = segments[3]
    return Upstream(kind="huggingface", repo=repo, revision=revision)
