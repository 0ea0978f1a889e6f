"""``modelhub card PATH... [--json]``: parse model cards and show their records.

The parser is imported inside the handler, so other commands start without it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, TextIO

from modelhub.cli.output import print_json


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``card``."""
    p = sub.add_parser(
        "card",
        help="parse model cards (Markdown with YAML front matter) into records",
        description="Parse each card file and print its normalised record. With --json: "
        "a JSON array, one object per file in the order given; a file that fails to "
        'parse becomes {"path": ..., "error": ...} in its place. Exit status 1 when '
        "any file fails.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="card files (*.md)")
    p.add_argument("--json", action="store_true", help="print a JSON array of records")
    p.set_defaults(func=cmd_card)


def _format_value(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value) if value else "-"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _print_card(data: dict[str, Any], out: TextIO) -> None:
    long_fields = {"description", "citation", "warnings"}
    keys = [k for k in data if k not in long_fields and k != "path"]
    width = max(len(k) for k in keys)
    out.write(f"{data.get('path') or '<text>'}\n")
    for key in keys:
        out.write(f"  {key:<{width}}  {_format_value(data[key])}\n")
    if data.get("description"):
        desc = data["description"]
        out.write(f"  {'description':<{width}}  {desc[:300]}{'...' if len(desc) > 300 else ''}\n")
    if data.get("citation"):
        out.write(f"  {'citation':<{width}}  {data['citation'].splitlines()[0]} ...\n")
    for warning in data.get("warnings") or ():
        out.write(f"  warning: {warning}\n")


def cmd_card(args: argparse.Namespace) -> int:
    from modelhub.cards import load_card
    from modelhub.errors import CardError

    results: list[dict[str, Any]] = []
    failed = False
    for path in args.paths:
        try:
            results.append(load_card(path).to_dict())
        except CardError as exc:
            failed = True
            results.append({"path": path, "error": str(exc)})
    if args.json:
        print_json(results)
        for data in results:
            if "error" in data:  # the human line stays on stderr
                print(f"modelhub: error: {data['error']}", file=sys.stderr)
    else:
        for index, data in enumerate(results):
            if index:
                sys.stdout.write("\n")
            if "error" in data:
                print(f"modelhub: error: {data['error']}", file=sys.stderr)
                continue
            _print_card(data, sys.stdout)
    return 1 if failed else 0
