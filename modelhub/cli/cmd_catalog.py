"""``modelhub list | search | show | explain | catalog sync|status|rebuild``.

Only argparse at module level: ``modelhub list`` is on the warm path, so the
catalog is imported inside the handlers and ``list`` never builds a record
object (rows come straight from the index).
"""

from __future__ import annotations

import argparse
import sys

# typing stays off the CLI's start (annotations are strings here)
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def _targets(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--lib-version",
        metavar="V",
        help="Spark NLP version to be compatible with (default: config; none = no bound)",
    )
    p.add_argument(
        "--spark-version",
        metavar="V",
        help="Spark version to be compatible with (default: config; none = no bound)",
    )


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("list", help="list models (one row per model, newest compatible version)")
    p.add_argument("--task", help="task, e.g. embeddings, ner, 'text classification'")
    p.add_argument("--lang", help="language code, e.g. en")
    p.add_argument("--annotator", help="annotator class, e.g. BertEmbeddings")
    p.add_argument("--tag", help="a tag of the card")
    p.add_argument("--folder", help="S3 folder, e.g. public/models")
    p.add_argument("--engine", help="engine, e.g. tensorflow, onnx")
    p.add_argument("--all-versions", action="store_true", help="one row per version")
    p.add_argument("--json", action="store_true", help="JSON array for scripts")
    _targets(p)
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("search", help="search models by name, title, tags and description")
    p.add_argument("text", help="words to look for (all must match)")
    p.add_argument("--lang", help="only this language")
    p.add_argument("--task", help="only this task")
    p.add_argument("--limit", type=int, default=20, help="at most this many results (0: all)")
    p.add_argument("--json", action="store_true", help="JSON array for scripts")
    p.set_defaults(func=cmd_search)

    p = sub.add_parser("show", help="the artifact a name resolves to, with all its fields")
    _query_args(p)
    _engine_args(p)
    p.add_argument("--sources", action="store_true", help="show where each field came from")
    p.add_argument("--json", action="store_true", help="JSON object for scripts")
    p.set_defaults(func=cmd_show)

    p = sub.add_parser("explain", help="every candidate for a name and why it lost or won")
    _query_args(p)
    _engine_args(p)
    p.add_argument("--source", choices=("hf", "s3", "https"), help="preferred source kind")
    p.add_argument("--json", action="store_true", help="JSON object for scripts")
    p.set_defaults(func=cmd_explain)

    p = sub.add_parser("catalog", help="the catalog's inputs: sync metadata.json, status")
    csub = p.add_subparsers(dest="catalog_command", metavar="ACTION")
    s = csub.add_parser("sync", help="fetch each configured folder's metadata.json (conditional)")
    s.add_argument("--json", action="store_true", help="JSON array for scripts")
    s.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    s.set_defaults(func=cmd_sync)
    s = csub.add_parser("status", help="the catalog's inputs, their ages and record counts")
    s.add_argument("--json", action="store_true", help="JSON object for scripts")
    s.set_defaults(func=cmd_status)
    s = csub.add_parser("rebuild", help="rebuild the index now (after editing cards in place)")
    s.set_defaults(func=cmd_rebuild)
    p.set_defaults(default_func=lambda args: _usage(p))


def _query_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", help="model name (as pretrained() takes it) or nlu reference")
    p.add_argument("--lang", help="language (default: en, or the model's only language)")
    p.add_argument("--version", help="pin: library version, artifact name or timestamp")
    p.add_argument(
        "--folder",
        help="S3 folder (default: public/models, as resolve() and pretrained(); any: every folder)",
    )
    _targets(p)


def _engine_args(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--engine",
        action="append",
        dest="engines",
        metavar="ENGINE",
        help="an engine the caller can load (repeatable); others are rejected "
        "(default: the engines the installed loaders run, see `modelhub loaders`)",
    )
    g.add_argument(
        "--any-engine",
        action="store_true",
        help="do not reject artifacts by engine",
    )


def _usage(p: argparse.ArgumentParser) -> int:
    p.print_help(sys.stderr)
    return 2


def _settings(args: argparse.Namespace) -> Any:
    from modelhub.config import load_settings

    settings = load_settings()
    changes = {}
    for key in ("lib_version", "spark_version"):
        value = getattr(args, key, None)
        if value:
            _check_target(value, "--" + key.replace("_", "-"))
            changes[key] = value
    return settings.with_changes(**changes) if changes else settings


def _check_target(value: str, flag: str) -> None:
    """A target without a version number is a usage error (exit 2), not
    "no upper bound"."""
    from modelhub.registry.versions import parse_target

    try:
        parse_target(value, flag)
    except ValueError as exc:
        from modelhub.errors import ConfigError

        raise ConfigError(str(exc)) from None


def _folder(args: argparse.Namespace) -> str | None:
    """``--folder``: the folder resolve() searches by default; ``any`` (or
    ``*``) for every folder."""
    from modelhub.registry.catalog.resolve import DEFAULT_FOLDER

    if args.folder is None:
        return DEFAULT_FOLDER
    folder = args.folder.strip().strip("/")
    return None if folder.lower() in ("any", "*", "") else folder


def _engines(args: argparse.Namespace) -> list[str] | None:
    """``--engine``s, else what the installed loaders run (as
    ``modelhub.resolve()`` and ``pretrained()``); None with ``--any-engine``.
    Read from the loader classes: imports no torch."""
    if args.any_engine:
        return None
    if args.engines:
        return args.engines
    from modelhub.api import installed_engines

    return installed_engines()


def _table(headers: list[str], rows: list[tuple[Any, ...]], out: Any) -> None:
    from modelhub.tables import render_table

    out.write(render_table(headers, rows))


def _json(data: Any) -> None:
    from modelhub.cli.output import print_json

    print_json(data)


# -- list --------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    from modelhub.registry.catalog.catalog import load_catalog

    settings = _settings(args)
    catalog = load_catalog(settings)
    filtered = (
        args.json
        or args.all_versions
        or args.annotator
        or args.tag
        or args.folder
        or args.engine
        or settings.lib_version
        or settings.spark_version
    )
    if not filtered:
        # the common case, rendered when the index was built
        text = catalog.list_text(lang=args.lang, task=args.task)
        if text is not None:
            sys.stdout.write(text)
            return 0

    from modelhub.registry.catalog.index import pick_rows, render_rows
    from modelhub.registry.versions import parse_version

    picked = pick_rows(
        catalog.list_rows(lang=args.lang, task=args.task),
        all_versions=args.all_versions,
        annotator=args.annotator,
        tag=args.tag,
        engine=args.engine,
        folder=args.folder.strip("/") if args.folder else None,
        lib_target=parse_version(settings.lib_version),
        spark_target=parse_version(settings.spark_version),
    )
    if args.json:
        _json([_row_dict(r) for r in picked])
    else:
        if not picked:
            print("no model matches", file=sys.stderr)
            return 1
        sys.stdout.write(render_rows(picked))
    return 0 if picked else 1


def _row_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    return {
        "name": row[0],
        "language": row[1],
        "task": row[2],
        "annotator": row[3],
        "lib_version": row[4],
        "spark_version": row[5],
        "date": row[6],
        "engine": row[7],
        "folder": row[8],
        "tags": list(row[9]),
        "title": row[13],
        "key": row[12],
    }


# -- search ------------------------------------------------------------------------


def cmd_search(args: argparse.Namespace) -> int:
    from modelhub.registry.catalog.catalog import load_catalog
    from modelhub.registry.catalog.search import search

    catalog = load_catalog(_settings(args))
    hits = search(catalog, args.text, lang=args.lang, task=args.task, limit=args.limit or None)
    if args.json:
        _json([h.to_dict() for h in hits])
        return 0 if hits else 1
    if not hits:
        print(f"no model matches {args.text!r}", file=sys.stderr)
        return 1
    cells = [
        (
            h.name,
            h.language or "-",
            h.task or "-",
            _clip(h.title or "-", 50),
            h.folder or "-",
            str(h.score),
        )
        for h in hits
    ]
    _table(["name", "lang", "task", "title", "folder", "score"], cells, sys.stdout)
    return 0


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


# -- show / explain --------------------------------------------------------------


def _default_lang(catalog: Any, name: str, lang: str | None) -> str | None:
    """``--lang`` when given; else ``en`` (as pretrained() does), or the
    model's only language when it has no English version."""
    if lang:
        return lang
    langs = catalog.names().get(name.strip())
    if langs and "en" not in langs and "" not in langs and len(langs) == 1:
        return langs[0]
    return "en"


def cmd_show(args: argparse.Namespace) -> int:
    from modelhub.registry.catalog.catalog import load_catalog
    from modelhub.registry.catalog.resolve import resolve

    catalog = load_catalog(_settings(args))
    art = resolve(
        args.name,
        _default_lang(catalog, args.name, args.lang),
        version=args.version,
        folder=_folder(args),
        engines=_engines(args),
        catalog=catalog,
    )
    if args.json:
        _json(art.to_dict())
        return 0
    record = art.record.to_dict()
    rows: list[tuple[str, ...]] = []
    for key, value in record.items():
        if key in ("warnings", "description", "citation") or value in (None, [], ""):
            continue
        text = ", ".join(map(str, value)) if isinstance(value, list) else value
        if key == "upstream":
            text = str(art.record.upstream)
        row = (key, str(text))
        rows.append((*row, art.origins.get(key, "-")) if args.sources else row)
    extra = {
        "key": (art.key, "-"),
        "ready_to_use": (str(art.ready_to_use).lower(), art.origins.get("ready_to_use", "-")),
        "checksum": (art.checksum or "-", art.origins.get("checksum", "-")),
    }
    for key, (value, origin) in extra.items():
        rows.append((key, value, origin) if args.sources else (key, value))
    for src in art.sources:
        loc = src.location + (f"@{src.revision}" if src.revision else "")
        rows.append(("source", f"{src.kind}: {loc}", "-") if args.sources else ("source", loc))
    headers = ["field", "value", "from"] if args.sources else ["field", "value"]
    _table(headers, rows, sys.stdout)
    for w in art.record.warnings:
        print(f"warning: {w}")
    if art.record.description:
        print()
        print(art.record.description)
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from modelhub.registry.catalog.catalog import load_catalog
    from modelhub.registry.catalog.resolve import explain

    catalog = load_catalog(_settings(args))
    result = explain(
        args.name,
        _default_lang(catalog, args.name, args.lang),
        version=args.version,
        folder=_folder(args),
        source=args.source,
        engines=_engines(args),
        catalog=catalog,
    )
    if args.json:
        _json(result.to_dict())
        return 0 if result.pick else 1
    q = result.query
    targets = (
        f"library {'.'.join(map(str, q.lib_target)) or 'any'}, "
        f"Spark {'.'.join(map(str, q.spark_target)) or 'any'}"
    )
    via = f" (nlu reference {q.via})" if q.via else ""
    print(f"{q.name} [{q.lang or 'any language'}]{via}; targets: {targets}")
    cells = [
        (
            c.status,
            c.language or "-",
            c.lib_version or "-",
            c.spark_version or "-",
            _date(c.timestamp),
            c.engine or "-",
            c.folder or "-",
            c.key.rsplit("/", 1)[-1],
            c.reason or "",
        )
        for c in result.candidates
    ]
    _table(
        ["status", "lang", "version", "spark", "date", "engine", "folder", "artifact", "why"],
        cells,
        sys.stdout,
    )
    if result.pick is None:
        print("no candidate fits", file=sys.stderr)
        return 1
    return 0


def _date(ms: int) -> str:
    if not ms:
        return "-"
    import time

    return time.strftime("%Y-%m-%d", time.gmtime(ms / 1000))


# -- catalog sync / status / rebuild -------------------------------------------------


def cmd_sync(args: argparse.Namespace) -> int:
    from modelhub.config import load_settings
    from modelhub.registry.catalog.catalog import load_catalog
    from modelhub.registry.catalog.sync import sync

    settings = load_settings()
    results = sync(settings, timeout=args.timeout)
    load_catalog(settings)  # rebuild now if a copy changed, so the next list is warm
    if args.json:
        _json([r.to_dict() for r in results])
    else:
        cells = [
            (r.folder, r.status, "-" if r.lines is None else str(r.lines), r.message or r.url)
            for r in results
        ]
        _table(["folder", "status", "lines", "detail"], cells, sys.stdout)
    return 0 if all(r.ok for r in results) else 2


def cmd_status(args: argparse.Namespace) -> int:
    from modelhub.config import load_settings
    from modelhub.registry.catalog.catalog import catalog_status

    status = catalog_status(load_settings())
    if args.json:
        _json(status)
        return 0
    print(f"index: {status['index']} ({status['records']} records, built {status['built']})")
    cells = [
        (
            i["kind"],
            i["path"],
            "missing" if i.get("missing") else str(i.get("records", "-")),
            i.get("age") or "-",
            i.get("detail") or "",
        )
        for i in status["inputs"]
    ]
    _table(["input", "path", "records", "age", "detail"], cells, sys.stdout)
    return 0


def cmd_rebuild(args: argparse.Namespace) -> int:
    from modelhub.config import load_settings
    from modelhub.registry.catalog.catalog import load_catalog

    catalog = load_catalog(load_settings(), refresh=True)
    print(f"{catalog.path}: {len(catalog)} records")
    return 0
