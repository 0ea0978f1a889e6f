"""The Markdown body of a card, read with markdown-it-py into the facts the
parser needs: key/value rows of the model table, links (per section), fenced
code blocks and the description text.

Speed: cards are mostly code samples and result dumps. A light line scan splits
the body into sections and drops the ones that never carry metadata
(Results, Benchmarking, ...); markdown-it then parses the rest at block level
only, and inline parsing runs only where links or plain text are needed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from markdown_it import MarkdownIt
from markdown_it.token import Token

# One shared parser. Block rules that cards do not need (indented code,
# lists, quotes, rules, setext headings, reference definitions) are off: they
# only cost time, and their text still reaches us as paragraphs. HTML blocks
# are off too: cards wrap their code tabs in <div markdown="1">, which kramdown
# reads as Markdown, while a CommonMark HTML block would swallow the fence that
# follows it and leave its closing ``` to open a fence that eats the rest of the
# card. Inline HTML is still recognised (and ignored).
_MD = MarkdownIt("commonmark", {"html": True}).enable("table")
_MD.disable(["inline", "code", "blockquote", "hr", "list", "reference", "lheading", "html_block"])
# Emphasis is by far the slowest inline rule (every "_" of every snake_case
# name opens a delimiter run) and we only want plain text: its markers are
# dropped from prose by _EMPHASIS_RE instead.
_MD.disable(["emphasis", "balance_pairs", "fragments_join", "text_join"])
# Links are kept as written (the parser unquotes and checks them itself);
# markdown-it's percent-encoding of every href is the next slowest step.
_MD.normalizeLink = lambda url: url  # type: ignore[method-assign]
_MD.normalizeLinkText = lambda url: url  # type: ignore[method-assign]

_HEADING_RE = re.compile(r" {0,3}(#{1,6})(?:[ \t]+|$)(.*)")
_FENCE_OPEN_RE = re.compile(r"[ \t]*(`{3,}|~{3,})")
_DELIM_ROW_RE = re.compile(r"^\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?$")
# kramdown attribute lists ({:.btn-box}) and Liquid tags ({% raw %}) are markup
# of the site generator, not text.
_MARKUP_RE = re.compile(r"\{:[^}]*\}|\{%.*?%\}|\{\{.*?\}\}")
_BARE_URL_RE = re.compile(r"(?:https?|s3)://[^\s<>\[\]()\"'`|{}]+")
_SPACES_RE = re.compile(r"[ \t\r\f\v]+")
# Emphasis delimiters (*a*, **a**, _a_, __a__) at word edges; underscores
# inside words (snake_case names) stay.
_EMPHASIS_RE = re.compile(r"(?<![\w*_])[*_]{1,3}(?=[^\s*_])|(?<=[^\s*_])[*_]{1,3}(?![\w*_])")

# Sections whose text never carries metadata (and is most of a card's bytes).
_SKIP_SECTION_RE = re.compile(
    r"result|benchmark|evaluation|included|metric|accuracy|sample output|example output"
)
BUTTON_LABELS = frozenset(
    {"live demo", "open in colab", "download", "copy s3 uri", "copy s3 link", "open in hf"}
)


def section_kind(title: str) -> str:
    t = title.lower()
    if "how to use" in t:
        return "howto"
    if "description" in t:
        return "description"
    if "model information" in t or "model parameters" in t or "model info" in t:
        return "info"
    if "reference" in t:
        return "references"
    if "source" in t:
        return "source"
    return "other"


@dataclass(frozen=True, slots=True)
class Link:
    href: str
    text: str
    section: str  # section kind, see section_kind()
    paragraph: int  # index of the paragraph it appeared in (for "imported from")


@dataclass(frozen=True, slots=True)
class Fence:
    info: str
    content: str
    nlu: bool  # marked {:.nlu-block} or calls nlu.load


@dataclass(slots=True)
class Body:
    rows: list[tuple[str, list[str]]] = field(default_factory=list)
    heading_rows: list[tuple[str, list[str]]] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    fences: list[Fence] = field(default_factory=list)
    description: str | None = None
    # paragraph index -> plain text, only for paragraphs that hold links
    paragraph_text: dict[int, str] = field(default_factory=dict)


def _count_cells(line: str) -> int:
    s = line.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|") and not s.endswith("\\|"):
        s = s[:-1]
    return s.count("|") - s.count("\\|") + 1


def _repair_table(rows: list[str], out: list[str]) -> None:
    """kramdown (the engine these cards were written for) accepts tables
    without a header row, split by blank lines, or with extra cells;
    CommonMark tables need a header and a delimiter row, and drop cells beyond
    the header's count. Give each run of rows a blank header wide enough for
    its widest row, so markdown-it parses every row and keeps every cell."""
    body = [r for r in rows if not _DELIM_ROW_RE.match(r.strip())]
    if not body:
        return
    n = max(_count_cells(r) for r in body)
    out.append("|" + "|".join([" "] * n) + "|\n")
    out.append("|" + "|".join(["---"] * n) + "|\n")
    out.extend(r if r.endswith("\n") else r + "\n" for r in body)


def _worth_keeping(lines: list[str]) -> bool:
    """A section skipped by its title is still read when it holds what the
    parser looks for: download links, Hugging Face links, "imported from"."""
    text = "".join(lines)
    return ".zip" in text or "huggingface.co" in text or "imported from" in text.lower()


def select_sections(body: str) -> str:
    """The body without the sections that carry no metadata, with header-less
    tables repaired. Tracks fenced code so that ``#`` comments in code samples
    are not taken for headings."""
    out: list[str] = []
    table: list[str] = []
    skipped: list[str] | None = None  # lines of the section being skipped
    fence_char = ""
    fence_len = 0

    def flush_table() -> None:
        target = out if skipped is None else skipped
        _repair_table(table, target)
        table.clear()

    for line in body.splitlines(keepends=True):
        if fence_char:
            s = line.strip()
            if s and s[0] == fence_char and len(s) >= fence_len and s == fence_char * len(s):
                fence_char = ""
            (out if skipped is None else skipped).append(line)
            continue
        stripped = line.lstrip()
        if table and not stripped.startswith("|"):
            flush_table()
        if stripped.startswith(("```", "~~~")):
            m = _FENCE_OPEN_RE.match(line)
            if m is not None:
                marker = m.group(1)
                fence_char, fence_len = marker[0], len(marker)
        elif stripped.startswith("#"):
            m = _HEADING_RE.match(line)
            if m is not None:
                if skipped is not None and _worth_keeping(skipped):
                    out.extend(skipped)
                skipped = [] if _SKIP_SECTION_RE.search(m.group(2).lower()) else None
        elif stripped.startswith("|"):
            table.append(line)
            continue
        (out if skipped is None else skipped).append(line)
    if table:
        flush_table()
    if skipped is not None and _worth_keeping(skipped):
        out.extend(skipped)
    return "".join(out)


def _inline(content: str) -> list[Token]:
    tokens: list[Token] = []
    _MD.inline.parse(content, _MD, {}, tokens)
    return tokens


def strip_markup(text: str) -> str:
    return _MARKUP_RE.sub("", text)


# Characters that can start inline Markdown other than emphasis.
_INLINE_MARKUP = "\\`[<&"


def _unemphasize(text: str) -> str:
    return _EMPHASIS_RE.sub("", text)


def plain_text(content: str) -> str:
    """Inline Markdown as plain text: links as their text, code as its content,
    HTML and site-generator markup dropped."""
    if not any(c in content for c in "\\`[<&{"):
        if "*" in content or "_" in content:
            content = _unemphasize(content)
        return _SPACES_RE.sub(" ", content).strip()
    return _read_inline(content, "other", 0, None, None)


def _read_inline(
    content: str, section: str, paragraph: int, body: Body | None, text_out: list[str] | None
) -> str:
    """One inline parse of ``content``: returns its plain text (links as their
    text, button links and inline HTML buttons dropped) and, when ``body`` is
    given, records its links (Markdown links, autolinks and bare URLs)."""
    parts: list[str] = []
    label: list[str] | None = None
    href = ""
    hidden = 0  # inside inline HTML buttons/anchors: their labels are not prose
    found = False
    if not any(c in content for c in _INLINE_MARKUP):
        # No link, code, HTML, entity or escape can start here: the text is
        # the content (most prose); only bare URLs are left to find.
        tokens: list[Token] = []
        parts.append(content)
        if body is not None and "://" in content:
            for m in _BARE_URL_RE.finditer(content):
                url = m.group(0).rstrip(".,;:!?")
                body.links.append(Link(url, url, section, paragraph))
                found = True
    else:
        tokens = _inline(content)
    for tok in tokens:
        t = tok.type
        if t == "text":
            piece = tok.content
            if label is None and body is not None and "://" in piece:
                for m in _BARE_URL_RE.finditer(piece):
                    url = m.group(0).rstrip(".,;:!?")
                    body.links.append(Link(url, url, section, paragraph))
                    found = True
        elif t == "code_inline":
            piece = tok.content
        elif t == "softbreak" or t == "hardbreak":
            piece = "\n"
        elif t == "link_open":
            href = str(tok.attrGet("href") or "")
            label = []
            continue
        elif t == "link_close":
            text = "".join(label or ()).strip()
            if body is not None and href:
                body.links.append(Link(href, text, section, paragraph))
                found = True
            if not hidden and text.lower() not in BUTTON_LABELS:
                parts.append(text)
            label = None
            continue
        elif t == "html_inline":
            tag = tok.content.lower()
            if tag.startswith(("<button", "<a ")) and not tag.endswith("/>"):
                hidden += 1
            elif tag.startswith(("</button", "</a")) and hidden:
                hidden -= 1
            continue
        else:
            continue
        if label is not None:
            label.append(piece)
        elif not hidden:
            parts.append(piece)
    text = _unemphasize(strip_markup("".join(parts)))
    lines = [_SPACES_RE.sub(" ", ln).strip() for ln in text.split("\n")]
    plain = " ".join(ln for ln in lines if ln)
    if found and body is not None:
        body.paragraph_text[paragraph] = plain
    if text_out is not None and plain:
        text_out.append(plain)
    return plain


def _row(cells: list[str]) -> tuple[str, list[str]] | None:
    if not cells:
        return None
    key = cells[0].strip().strip("*`_ ").rstrip(":").strip().lower()
    key = _SPACES_RE.sub(" ", key)
    if not key:
        return None
    values = [c for c in cells[1:] if c]
    return key, values


def read_body(body_text: str) -> Body:
    """Parses the body into :class:`Body`."""
    out = Body()
    tokens = _MD.parse(select_sections(body_text))
    section = "preamble"
    paragraph = 0
    previous_paragraph = ""
    description: list[str] = []
    row_cells: list[str] | None = None
    i = 0
    n = len(tokens)
    while i < n:
        tok = tokens[i]
        t = tok.type
        if t == "heading_open":
            content = tokens[i + 1].content if i + 1 < n else ""
            section = section_kind(content)
            key, sep, value = content.partition(":")
            if sep and value.strip():
                row = _row([plain_text(key), plain_text(value)])
                if row is not None:
                    out.heading_rows.append(row)
            i += 3
            continue
        if t == "tr_open":
            row_cells = []
        elif t == "tr_close":
            if row_cells is not None:
                row = _row(row_cells)
                if row is not None:
                    out.rows.append(row)
            row_cells = None
        elif t == "inline":
            content = tok.content
            if row_cells is not None:
                if "://" in content:
                    paragraph += 1
                    row_cells.append(_read_inline(content, section, paragraph, out, None))
                else:
                    row_cells.append(plain_text(content))
            else:
                paragraph += 1
                if section == "description":
                    _read_inline(content, section, paragraph, out, description)
                elif "](" in content or "://" in content:
                    _read_inline(content, section, paragraph, out, None)
                previous_paragraph = content
        elif t == "fence":
            info = tok.info.strip()
            content = tok.content
            nlu = "nlu-block" in previous_paragraph or "nlu.load" in content
            out.fences.append(Fence(info, content, nlu))
            previous_paragraph = ""
        i += 1
    out.description = "\n\n".join(description) or None
    return out
