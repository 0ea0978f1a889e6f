"""The Markdown body of a card, read with markdown-it-pyrs (the Rust port of
markdown-it) into the facts the parser needs: key/value rows of the model
table, links (per section), fenced code blocks and the description text.

Speed: cards are mostly code samples and result dumps. A light line scan splits
the body into sections and drops the ones that never carry metadata
(Results, Benchmarking, ...); markdown-it-pyrs then parses the rest in one call
and the syntax tree is walked only where links or plain text are needed.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from markdown_it_pyrs import MarkdownIt, Node

from modelhub.cards.sections import section_kind, select_sections

# Only the rules cards need. Block rules that cards do not use (indented code,
# lists, quotes, rules, setext headings, reference definitions) stay off: their
# text still reaches us as paragraphs. HTML blocks stay off too: cards wrap
# their code tabs in <div markdown="1">, which kramdown reads as Markdown, while
# a CommonMark HTML block would swallow the fence that follows it and leave its
# closing ``` to open a fence that eats the rest of the card. Inline HTML is
# still recognised (and ignored). Emphasis stays off: we only want plain text,
# and its markers are dropped from prose by _EMPHASIS_RE instead.
_INLINE_RULES = [
    "autolink",
    "backticks",
    "entity",
    "escape",
    "html_inline",
    "image",
    "link",
    "newline",
]
# Two passes: blocks first (no inline rule), then the inline content that is
# needed, all of a card's in one call (one paragraph each: with paragraphs as
# the only block rule, any text is inline Markdown).
_MD_BLOCK = MarkdownIt("zero").enable_many(["paragraph", "fence", "heading", "table"])
_MD_INLINE = MarkdownIt("zero").enable_many(["paragraph", *_INLINE_RULES])
# markdown-it 0.6.0 (inside markdown-it-pyrs 0.4.0) panics when a link label
# scan passes an unmatched backtick run, e.g. "[`" (markdown-it-rust/markdown-it
# issue 40). Such content is parsed on its own with those runs masked (they
# are literal text either way) and, should it still panic, without code spans.
_MD_INLINE_NO_CODE = MarkdownIt("zero").enable_many(
    ["paragraph", *(r for r in _INLINE_RULES if r != "backticks")]
)
_MASK = "\ue000"  # stands in for a masked backtick (a private-use character)

# kramdown attribute lists ({:.btn-box}) and Liquid tags ({% raw %}) are markup
# of the site generator, not text.
_MARKUP_RE = re.compile(r"\{:[^}]*\}|\{%.*?%\}|\{\{.*?\}\}")
_BARE_URL_RE = re.compile(r"(?:https?|s3)://[^\s<>\[\]()\"'`|{}]+")
# Runs of spaces and tabs become one space; only the runs that this changes
# (not a lone space) are matched, which spares most replacements.
_SQUEEZE_RE = re.compile(r"[ \t\r\f\v]{2,}|[\t\r\f\v]")
# Emphasis delimiters (*a*, **a**, _a_, __a__) at word edges; underscores
# inside words (snake_case names) stay. Written to start with the delimiter
# itself (the edge tests look back over it), so that the regex engine skips
# straight to the next '*' or '_': the same matches as
# (?<![\w*_])[*_]{1,3}(?=[^\s*_])|(?<=[^\s*_])[*_]{1,3}(?![\w*_]), ten times faster.
_EMPHASIS_RE = re.compile(
    r"[*_](?:(?<![\w*_][*_])[*_]{0,2}(?=[^\s*_])|(?<=[^\s*_][*_])[*_]{0,2}(?![\w*_]))"
)

BUTTON_LABELS = frozenset(
    {"live demo", "open in colab", "download", "copy s3 uri", "copy s3 link", "open in hf"}
)


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


# Backslash escapes and entities, as CommonMark resolves them in link
# destinations.
_UNESCAPE_RE = re.compile(
    r"\\([!-/:-@\[-`{-~])|&([A-Za-z][A-Za-z0-9]{1,31}|#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6});"
)


def _unescape_match(m: re.Match[str]) -> str:
    if m.group(1) is not None:
        return m.group(1)
    entity = m.group(2)
    if entity[0] != "#":
        return html.entities.html5.get(entity + ";", m.group(0))
    code = int(entity[2:], 16) if entity[1] in "xX" else int(entity[1:])
    if code == 0 or code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    return chr(code)


def _destination(raw: str, label_end: int) -> str | None:
    """The destination of the inline link ``raw`` (``[label](dest "title")``)
    as written, escapes resolved; ``label_end`` is where its label ends."""
    pos = raw.find("](", label_end)
    if pos < 0:
        return None
    pos += 2
    n = len(raw)
    while pos < n and raw[pos] in " \t\n":
        pos += 1
    if pos < n and raw[pos] == "<":
        start = pos + 1
        pos = start
        while pos < n and raw[pos] not in "<>\n":
            pos += 2 if raw[pos] == "\\" else 1
        dest = raw[start:pos]
    else:
        start = pos
        level = 0
        while pos < n:
            c = raw[pos]
            if c <= " " or c == "\x7f":
                break
            if c == "\\" and pos + 1 < n:
                pos += 2
                continue
            if c == "(":
                level += 1
            elif c == ")":
                if level == 0:
                    break
                level -= 1
            pos += 1
        dest = raw[start:pos]
    return _UNESCAPE_RE.sub(_unescape_match, dest)


class _Source:
    """The parsed text, sliced by the parser's UTF-8 byte offsets."""

    __slots__ = ("data", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.data: bytes | None = None if text.isascii() else text.encode()

    def span(self, start: int, end: int) -> str:
        if self.data is None:
            return self.text[start:end]
        return self.data[start:end].decode()


def _href(node: Node, source: _Source | None) -> str:
    """A link's destination as written: markdown-it percent-encodes it, which
    can only have changed it where the result holds a '%'."""
    url = str(node.meta.get("url", ""))
    if "%" not in url or source is None or node.srcmap is None:
        return url
    start, end = node.srcmap
    raw = source.span(start, end)
    if node.name == "autolink":
        written = raw[1:-1]
        return "mailto:" + written if url.startswith("mailto:") and ":" not in written else written
    children = node.children
    label_end = children[-1].srcmap[1] - start if children and children[-1].srcmap else 1
    written = _destination(raw, label_end)
    return url if written is None else written


def _flatten(
    nodes: Sequence[Node], source: _Source | None, out: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    """Inline nodes as a flat list of (kind, value), appended to ``out``:
    text, break, code, link_open (href), link_close, html. Escapes, entities
    and images are dropped."""
    for node in nodes:
        name = node.name
        if name == "text":
            out.append(("text", node.meta["content"]))
        elif name == "softbreak" or name == "hardbreak":
            out.append(("break", "\n"))
        elif name == "code_inline":
            out.append(("code", "".join(str(c.meta.get("content", "")) for c in node.children)))
        elif name == "link":
            out.append(("link_open", _href(node, source)))
            _flatten(node.children, source, out)
            out.append(("link_close", ""))
        elif name == "autolink":
            out.append(("link_open", _href(node, source)))
            for child in node.children:
                out.append(("text", str(child.meta.get("content", ""))))
            out.append(("link_close", ""))
        elif name == "html_inline":
            out.append(("html", node.meta["content"]))
    return out


def strip_markup(text: str) -> str:
    return _MARKUP_RE.sub("", text)


# Characters that can start inline Markdown other than emphasis.
_INLINE_MARKUP_RE = re.compile(r"[\\`\[<&]")
_TEXT_MARKUP_RE = re.compile(r"[\\`\[<&{]")  # also site-generator markup
# The same without '[': with reference definitions off, a '[' starts a link
# or image only where "](" follows it, so content with no other markup and no
# "](" reads as written ("[en]", "[sentence, token]": many table cells).
_NON_BRACKET_MARKUP_RE = re.compile(r"[\\`<&]")


def _is_plain(content: str) -> bool:
    """Whether no inline Markdown but emphasis (and bare line breaks) can be
    in ``content``: then its text is ``content`` itself, unparsed."""
    m = _INLINE_MARKUP_RE.search(content)
    return m is None or (
        m.group() == "["
        and "](" not in content
        and _NON_BRACKET_MARKUP_RE.search(content, m.end()) is None
    )


def _unemphasize(text: str) -> str:
    return _EMPHASIS_RE.sub("", text)


def _squeeze(text: str) -> str:
    """Each run of spaces and tabs in ``text`` as one space."""
    if "  " in text or "\t" in text or "\r" in text or "\f" in text or "\v" in text:
        return _SQUEEZE_RE.sub(" ", text)
    return text


@dataclass(frozen=True, slots=True)
class _Parsed:
    """The inline nodes of one piece of content."""

    nodes: Sequence[Node]
    source: _Source  # the text their offsets index
    masked: bool  # backticks were masked as _MASK


_TICK_RE = re.compile(r"\\[\s\S]|`+")


def _mask_unmatched(text: str) -> str:
    """``text`` with the backtick runs that no code span closes masked."""
    masked: list[tuple[int, int]] = []
    pos = 0
    while (m := _TICK_RE.search(text, pos)) is not None:
        run = m.group()
        pos = m.end()
        if run[0] == "\\":
            continue
        closer = re.search(f"(?<!`){run}(?!`)", text[pos:])
        if closer is None:
            masked.append(m.span())
        else:
            pos += closer.end()
    if not masked:
        return text
    parts: list[str] = []
    last = 0
    for a, b in masked:
        parts.append(text[last:a])
        parts.append(_MASK * (b - a))
        last = b
    parts.append(text[last:])
    return "".join(parts)


def _parse_risky(content: str) -> _Parsed:
    text = content if _MASK in content else _mask_unmatched(content)
    try:
        root = _MD_INLINE.tree(text)
    except BaseException as exc:  # pyo3's PanicException derives from BaseException
        if type(exc).__name__ != "PanicException":
            raise
        root = _MD_INLINE_NO_CODE.tree(text)
    nodes = [node for block in root.children for node in block.children]
    return _Parsed(nodes, _Source(text), text is not content)


def _parse_inline(contents: list[str]) -> list[_Parsed]:
    """Inline nodes of each of ``contents`` (non-blank, without blank lines)."""
    results: list[_Parsed | None] = [None] * len(contents)
    batch: list[int] = []
    for i, content in enumerate(contents):
        if "`" in content and "[" in content:
            results[i] = _parse_risky(content)
        else:
            batch.append(i)
    if batch:
        text = "\n\n".join(contents[i] for i in batch)
        source = _Source(text)
        blocks = _MD_INLINE.tree(text).children
        if len(blocks) == len(batch):
            for i, block in zip(batch, blocks, strict=True):
                results[i] = _Parsed(block.children, source, False)
        else:  # cannot happen for such contents; parse them one by one then
            for i in batch:
                one = contents[i]
                nodes = [n for b in _MD_INLINE.tree(one).children for n in b.children]
                results[i] = _Parsed(nodes, _Source(one), False)
    return [r for r in results if r is not None]


def plain_text(content: str, parsed: _Parsed | None = None) -> str:
    """Inline Markdown as plain text: links as their text, code as its content,
    HTML and site-generator markup dropped. ``parsed`` is ``content`` parsed,
    where the caller has it."""
    if _TEXT_MARKUP_RE.search(content) is None:
        if "*" in content or "_" in content:
            content = _unemphasize(content)
        return _squeeze(content).strip()
    return _read_inline(content, parsed, "other", 0, None, None)


def _read_inline(
    content: str,
    parsed: _Parsed | None,
    section: str,
    paragraph: int,
    body: Body | None,
    text_out: list[str] | None,
) -> str:
    """Plain text of ``content`` (links as their text, button links and inline
    HTML buttons dropped) and, when ``body`` is given, its links (Markdown
    links, autolinks and bare URLs) recorded. ``parsed`` is ``content`` parsed
    (here when not given and needed)."""
    parts: list[str] = []
    label: list[str] | None = None
    href = ""
    hidden = 0  # inside inline HTML buttons/anchors: their labels are not prose
    found = False
    masked = False
    if _is_plain(content):
        # No link, code, HTML, entity or escape can start here: the text is
        # the content (most prose); only bare URLs are left to find.
        stream: list[tuple[str, str]] = []
        parts.append(content)
        if body is not None and "://" in content:
            for m in _BARE_URL_RE.finditer(content):
                url = m.group(0).rstrip(".,;:!?")
                body.links.append(Link(url, url, section, paragraph))
                found = True
    else:
        if parsed is None:
            parsed = _parse_inline([content])[0]
        masked = parsed.masked
        stream = _flatten(parsed.nodes, parsed.source, [])
    for kind, piece in stream:
        if masked:
            piece = piece.replace(_MASK, "`")
        if kind == "text":
            if label is None and body is not None and "://" in piece:
                for m in _BARE_URL_RE.finditer(piece):
                    url = m.group(0).rstrip(".,;:!?")
                    body.links.append(Link(url, url, section, paragraph))
                    found = True
        elif kind == "link_open":
            href = piece
            label = []
            continue
        elif kind == "link_close":
            text = "".join(label or ()).strip()
            if body is not None and href:
                body.links.append(Link(href, text, section, paragraph))
                found = True
            if not hidden and text.lower() not in BUTTON_LABELS:
                parts.append(text)
            label = None
            continue
        elif kind == "html":
            tag = piece.lower()
            if tag.startswith(("<button", "<a ")) and not tag.endswith("/>"):
                hidden += 1
            elif tag.startswith(("</button", "</a")) and hidden:
                hidden -= 1
            continue
        if label is not None:
            label.append(piece)
        elif not hidden:
            parts.append(piece)
    text = "".join(parts)
    # Both substitutions need their character; most prose has neither.
    if "{" in text:
        text = strip_markup(text)
    if "*" in text or "_" in text:
        text = _unemphasize(text)
    if "\n" in text:
        lines = [_squeeze(ln).strip() for ln in text.split("\n")]
        plain = " ".join(ln for ln in lines if ln)
    else:
        plain = _squeeze(text).strip()
    if found and body is not None:
        body.paragraph_text[paragraph] = plain
    if text_out is not None and plain:
        text_out.append(plain)
    return plain


def _row(cells: list[str]) -> tuple[str, list[str]] | None:
    if not cells:
        return None
    key = cells[0].strip().strip("*`_ ").rstrip(":").strip().lower()
    key = _squeeze(key)
    if not key:
        return None
    values = [c for c in cells[1:] if c]
    return key, values


def _content(block: Node) -> str:
    """The inline content of a block (the block pass leaves it as text)."""
    children = block.children
    if len(children) == 1:
        return str(children[0].meta.get("content", ""))
    return "".join(str(c.meta.get("content", "")) for c in children)


def read_body(body_text: str) -> Body:
    """Parses the body into :class:`Body`: pass 1 lists the blocks and the
    inline content that needs parsing, which markdown-it parses in one call;
    pass 2 reads them in order."""
    items, wanted = _collect(select_sections(body_text))
    return _read_items(items, _parse_inline(wanted) if wanted else [])


class _Wanted(list[str]):
    """Inline content to parse in one call; ``want`` gives its index."""

    def want(self, content: str) -> int:
        if _is_plain(content):
            return -1  # plain text: read without parsing
        self.append(content)
        return len(self) - 1


def _collect(selected: str) -> tuple[list[tuple], _Wanted]:  # type: ignore[type-arg]
    """Pass 1: the blocks, in order, and the inline content that needs parsing."""
    wanted = _Wanted()
    items: list[tuple] = []  # type: ignore[type-arg]
    section = "preamble"
    # A cell's text is the source its map points at (cheaper than asking the
    # node for it) where offsets are characters (ASCII) and no backslash
    # escapes a pipe: the cases where the parser's text is exactly that slice.
    sliceable = selected.isascii()
    for block in _MD_BLOCK.tree(selected).children:
        kind = block.name
        if kind == "paragraph":
            content = _content(block)
            needed = section == "description" or "](" in content or "://" in content
            items.append(("p", section, content, wanted.want(content) if needed else -1))
        elif kind == "fence":
            meta = block.meta
            items.append(("f", meta["info"].strip(), meta["content"]))
        elif kind == "heading":
            content = _content(block)
            section = section_kind(content)
            key, sep, value = content.partition(":")
            if sep and value.strip():
                items.append(("h", key, wanted.want(key), value, wanted.want(value)))
        elif kind == "table":
            for part in block.children:  # thead, tbody
                for tr in part.children:
                    row = _table_row(tr, selected if sliceable else None, wanted)
                    if row is None:
                        continue  # empty cells (a repaired table's header): no row, no link
                    cells, ready = row
                    items.append(("R", _row(cells)) if ready else ("r", section, cells))  # type: ignore[arg-type]
    return items, wanted


def _table_row(
    tr: Node, selected: str | None, wanted: _Wanted
) -> tuple[list[str | tuple[str, int]], bool] | None:
    """A row's cells: text where that is known now (plain cells, most of
    them), else (content, index in wanted); and whether all are text.  None
    for a row of empty cells."""
    cells: list[str | tuple[str, int]] = []
    ready = True
    blank = True
    for td in tr.children:
        span = td.srcmap if selected is not None else None
        if span is None:
            content = _content(td)
        else:
            content = selected[span[0] : span[1]]  # type: ignore[index]
            if "\\" in content:
                content = _content(td)
        if not content:
            cells.append("")
            continue
        blank = False
        if "://" in content or "{" in content:
            cells.append((content, wanted.want(content)))
            ready = False
        elif _is_plain(content):
            # plain_text() without markup, in place
            if "*" in content or "_" in content:
                content = _EMPHASIS_RE.sub("", content)
            cells.append(_squeeze(content).strip())
        else:
            wanted.append(content)
            cells.append((content, len(wanted) - 1))
            ready = False
    return None if blank else (cells, ready)


def _read_items(items: list[tuple], parsed: list[_Parsed]) -> Body:  # type: ignore[type-arg]
    """Pass 2: reads the blocks in order into a :class:`Body`."""
    out = Body()
    paragraph = 0
    previous_paragraph = ""
    description: list[str] = []
    for item in items:
        tag = item[0]
        if tag == "p":
            _, section, content, index = item
            paragraph += 1
            nodes = parsed[index] if index >= 0 else None
            if section == "description":
                _read_inline(content, nodes, section, paragraph, out, description)
            elif "](" in content or "://" in content:
                _read_inline(content, nodes, section, paragraph, out, None)
            previous_paragraph = content
        elif tag == "f":
            _, info, content = item
            nlu = "nlu-block" in previous_paragraph or "nlu.load" in content
            out.fences.append(Fence(info, content, nlu))
            previous_paragraph = ""
        elif tag == "R":
            if item[1] is not None:
                out.rows.append(item[1])
        elif tag == "h":
            _, key, key_index, value, value_index = item
            row = _row(
                [
                    plain_text(key, parsed[key_index] if key_index >= 0 else None),
                    plain_text(value, parsed[value_index] if value_index >= 0 else None),
                ]
            )
            if row is not None:
                out.heading_rows.append(row)
        else:
            paragraph = _read_cells(item[1], item[2], parsed, paragraph, out)
    out.description = "\n\n".join(description) or None
    return out


def _read_cells(
    section: str,
    cells: list[str | tuple[str, int]],
    parsed: list[_Parsed],
    paragraph: int,
    out: Body,
) -> int:
    """A table row whose cells needed parsing; returns the paragraph count
    (a cell with a URL counts as a paragraph for its links)."""
    texts: list[str] = []
    for cell in cells:
        if cell.__class__ is str:
            texts.append(cell)  # type: ignore[arg-type]
            continue
        content, index = cell  # type: ignore[misc]
        if "://" in content:
            paragraph += 1
            nodes = parsed[index] if index >= 0 else None
            texts.append(_read_inline(content, nodes, section, paragraph, out, None))
        else:  # site-generator markup or inline Markdown
            texts.append(plain_text(content, parsed[index] if index >= 0 else None))
    row = _row(texts)
    if row is not None:
        out.rows.append(row)
    return paragraph
