"""The light line scan before Markdown parsing: splits a card body into
sections by heading, drops the ones that never carry metadata (Results,
Benchmarking, ...) and repairs tables whose rows have more cells than their
header, so that markdown-it parses only what the parser reads."""

from __future__ import annotations

import re
from itertools import repeat

_HEADING_RE = re.compile(r" {0,3}(#{1,6})(?:[ \t]+|$)(.*)")
_FENCE_OPEN_RE = re.compile(r"[ \t]*(`{3,}|~{3,})")
_DELIM_ROW_RE = re.compile(r"^\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?$")


# Sections whose text never carries metadata (and is most of a card's bytes).
_SKIP_SECTION_RE = re.compile(
    r"result|benchmark|evaluation|included|metric|accuracy|sample output|example output"
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


def _count_cells(line: str) -> int:
    s = line.strip()
    if s.startswith("|"):
        s = s[1:]
    if s.endswith("|") and not s.endswith("\\|"):
        s = s[:-1]
    return s.count("|") - s.count("\\|") + 1


def _max_cells(rows: list[str]) -> int:
    """``max(map(_count_cells, rows))``, counted over all rows at once where
    each is ``|...|`` (two characters at least) without backslashes: most
    tables. Then a row has one cell fewer than pipes."""
    stripped = list(map(str.strip, rows))
    joined = "\n".join(stripped)
    k = len(stripped) - 1
    if (
        joined[:1] == "|"
        and joined[-1:] == "|"
        and "\\" not in joined
        and joined.count("\n|") == k
        and joined.count("|\n") == k
        and min(map(len, stripped)) > 1
    ):
        return max(map(str.count, stripped, repeat("|"))) - 1
    return max(map(_count_cells, rows))


def _repair_table(rows: list[str], out: list[str]) -> None:
    """kramdown (the engine these cards were written for) accepts tables
    without a header row, split by blank lines, or with extra cells;
    CommonMark tables need a header and a delimiter row, and drop cells beyond
    the header's count. Give each run of rows a blank header wide enough for
    its widest row, so markdown-it parses every row and keeps every cell."""
    body = [r for r in rows if "-" not in r or not _DELIM_ROW_RE.match(r.strip())]
    if not body:
        return
    n = _max_cells(body)
    out.append("|" + "|".join([" "] * n) + "|\n")
    out.append("|" + "|".join(["---"] * n) + "|\n")
    out.extend(r if r.endswith("\n") else r + "\n" for r in body)


def _worth_keeping(lines: list[str]) -> bool:
    """A section skipped by its title is still read when it holds what the
    parser looks for: download links, Hugging Face links, "imported from"."""
    text = "".join(lines)
    return ".zip" in text or "huggingface.co" in text or "imported from" in text.lower()


# Line breaks other than "\n" that str.splitlines() also splits at.
_ODD_BREAKS = "\r\x0b\x0c\x1c\x1d\x1e"
_ODD_BREAK_RE = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


# The next line that select_sections() must look at (a fence, heading or table
# line), found from the newline before it; group 1 is how it starts.
_NEXT_MARK_RE = re.compile(r"\n[^\S\n]*(```|~~~|#|\|)")
_FIRST_MARK_RE = re.compile(r"[^\S\n]*(```|~~~|#|\|)")
_TABLE_RUN_RE = re.compile(r"(?:[^\S\n]*\|[^\n]*(?:\n|\Z))+")


_fence_close_res: dict[tuple[str, int], re.Pattern[str]] = {}


def _fence_close_re(char: str, length: int) -> re.Pattern[str]:
    """The line that closes a fence of ``length`` ``char``s, found from the
    newline before it."""
    key = (char, length)
    found = _fence_close_res.get(key)
    if found is None:
        found = re.compile(rf"\n[^\S\n]*{re.escape(char)}{{{length},}}[^\S\n]*(?=\n|\Z)")
        _fence_close_res[key] = found
    return found


def select_sections(body: str) -> str:
    """The body without the sections that carry no metadata, with header-less
    tables repaired. Tracks fenced code so that ``#`` comments in code samples
    are not taken for headings."""
    if body.isascii():
        odd = any(c in body for c in _ODD_BREAKS)
    else:
        odd = _ODD_BREAK_RE.search(body) is not None
    return _select_by_lines(body) if odd else _select_by_marks(body)


def _select_by_marks(body: str) -> str:
    """select_sections() for text whose only line break is "\n": jumps from
    one fence, heading or table line to the next (and over fenced code whole)
    instead of looking at every line. The same result as _select_by_lines()."""
    out: list[str] = []
    table: list[str] = []
    skipped: list[str] | None = None  # text of the section being skipped
    n = len(body)
    pos = 0
    m = _FIRST_MARK_RE.match(body)
    start = 0
    if m is None:
        m = _NEXT_MARK_RE.search(body)
        start = n if m is None else m.start() + 1
    while True:
        if start > pos:  # lines that are neither fence, heading nor table
            if table:
                _repair_table(table, out if skipped is None else skipped)
                table.clear()
            (out if skipped is None else skipped).append(body[pos:start])
            pos = start
        if m is None:
            break
        mark = m.group(1)
        if mark == "|":  # the whole run of table lines at once
            end = _TABLE_RUN_RE.match(body, start).end()  # type: ignore[union-attr]
            table.extend(body[start:end].splitlines(keepends=True))
        else:
            end = body.find("\n", start)
            end = n if end < 0 else end + 1
            if table:
                _repair_table(table, out if skipped is None else skipped)
                table.clear()
            if mark == "#":
                heading = _HEADING_RE.match(body, start, end)
                if heading is not None:
                    if skipped is not None and _worth_keeping(skipped):
                        out.extend(skipped)
                    title = heading.group(2)
                    skipped = [] if _SKIP_SECTION_RE.search(title.lower()) else None
            else:
                fence = _FENCE_OPEN_RE.match(body, start, end)
                if fence is not None:
                    marker = fence.group(1)
                    close = _fence_close_re(marker[0], len(marker)).search(body, end - 1)
                    if close is None:
                        end = n
                    else:
                        end = body.find("\n", close.end())
                        end = n if end < 0 else end + 1
            (out if skipped is None else skipped).append(body[start:end])
        pos = end
        # From the newline that ends the line just read: the next mark may be
        # on the very next line.
        m = _NEXT_MARK_RE.search(body, pos - 1) if pos < n else None
        start = n if m is None else m.start() + 1
    if table:
        _repair_table(table, out if skipped is None else skipped)
    if skipped is not None and _worth_keeping(skipped):
        out.extend(skipped)
    return "".join(out)


def _select_by_lines(body: str) -> str:
    """select_sections(), one line (as str.splitlines() splits) at a time."""
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
