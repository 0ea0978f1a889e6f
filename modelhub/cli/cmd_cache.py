"""``modelhub cache``: see, verify, prune and remove what is on disk.

Destructive subcommands (prune, rm, clear) show what they would remove and
ask on a terminal; ``--yes`` skips the question, ``--dry-run`` only shows.
Without a terminal on stdin and without ``--yes`` they refuse (exit 2)
rather than delete unattended by accident.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

_SORTS = ("size", "last-used", "name")


def register(sub: argparse._SubParsersAction) -> None:
    """Adds the ``cache`` command and its subcommands."""
    p = sub.add_parser(
        "cache",
        help="inspect, verify, prune and remove cached models (offline)",
        description="What is in the cache, is it intact, what can go. `modelhub cache` alone "
        "lists the entries.",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_ls, sort="name", filter=None)
    cs = p.add_subparsers(dest="cache_command", metavar="SUBCOMMAND")

    def add(name: str, func: Any, help: str) -> argparse.ArgumentParser:
        sp = cs.add_parser(name, help=help, description=help)
        sp.add_argument(
            "--json", action="store_true", default=argparse.SUPPRESS, help="JSON output"
        )
        sp.set_defaults(func=func)
        return sp

    def destructive(sp: argparse.ArgumentParser) -> None:
        sp.add_argument("--dry-run", action="store_true", help="show what would go; remove nothing")
        sp.add_argument("-y", "--yes", action="store_true", help="do not ask for confirmation")

    ls = add("ls", _ls, "one row per cached entry, with totals")
    ls.add_argument("--sort", choices=_SORTS, default="name")
    ls.add_argument("--filter", metavar="TEXT", help="keep entries whose name/key/lang contains it")

    add("du", _du, "disk usage: total, per source, per model, reclaimable")

    v = add("verify", _verify, "re-hash entries against their manifests (offline)")
    v.add_argument("names", nargs="*", metavar="NAME")
    v.add_argument("--all", action="store_true", help="every entry")
    v.add_argument("--lang")
    v.add_argument("--version")
    v.add_argument("--repair", action="store_true", help="fetch only the bad files again")

    pr = add("prune", _prune, "remove least recently used entries, partials and orphans")
    pr.add_argument("--older-than", metavar="AGE", help="unused for longer than AGE (30d, 12h)")
    pr.add_argument("--max-size", metavar="SIZE", help="remove LRU entries until under SIZE")
    pr.add_argument(
        "--keep-pinned",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="keep pinned entries (default; --no-keep-pinned prunes them too)",
    )
    pr.add_argument(
        "--superseded", action="store_true", help="remove versions a newer cached one replaces"
    )
    destructive(pr)

    rm = add("rm", _rm, "remove a model's cached entries")
    rm.add_argument("name", metavar="NAME")
    rm.add_argument("--lang")
    g = rm.add_mutually_exclusive_group()
    g.add_argument("--version")
    g.add_argument("--all-versions", action="store_true")
    destructive(rm)

    for name, pinned in (("pin", True), ("unpin", False)):
        sp = add(name, _pin, f"{name} a model's cached entries (prune keeps pinned ones)")
        sp.add_argument("name", metavar="NAME")
        sp.add_argument("--lang")
        sp.add_argument("--version")
        sp.set_defaults(pinned=pinned)

    cl = add("clear", _clear, "remove every entry and leftover not in use")
    destructive(cl)

    add("dir", _dir, "print the cache directory")


# --------------------------------------------------------------------------- helpers


def _json(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "json", False))


def _when(t: float | None) -> str:
    if t is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(t))


def _usage(message: str) -> Exception:
    # CacheError exits 2, the status for usage errors and refusals.
    from modelhub.errors import CacheError

    return CacheError(message)


# --------------------------------------------------------------------------- ls / du / dir


def _ls(args: argparse.Namespace) -> int:
    from modelhub import cache
    from modelhub.cli.output import human_size, print_json, print_table
    from modelhub.registry.store.usage import totals

    inv = cache.inventory(check=True)
    rows = cache.sort_rows(cache.filter_rows(inv.entries, args.filter), args.sort)
    incomplete = cache.filter_rows(inv.incomplete, args.filter)
    t = totals(inv)
    if _json(args):
        print_json(
            {
                "root": str(inv.root),
                "entries": [r.to_dict() for r in rows],
                "incomplete": [r.to_dict() for r in incomplete],
                "totals": t.to_dict(),
            }
        )
        return 0
    if not rows and not incomplete:
        print(f"no cached models in {inv.root}")
    else:
        print_table(
            (
                "name",
                "lang",
                "version",
                "source",
                "engine",
                "size",
                "last used",
                "pinned",
                "status",
            ),
            [
                (
                    r.name,
                    r.language,
                    r.version,
                    r.source,
                    r.engine,
                    human_size(r.size),
                    _when(r.last_used),
                    "yes" if r.pinned else "",
                    r.status,
                )
                for r in [*rows, *incomplete]
            ],
        )
    print(
        f"\n{t.entries} entries, {human_size(t.size)}"
        + (f" ({t.pinned} pinned)" if t.pinned else "")
        + f"; partial downloads: {t.partials} ({human_size(t.partials_size)})"
        + f"; orphaned temporary files: {t.orphans} ({human_size(t.orphans_size)})"
    )
    if t.unknown:
        print(
            f"{t.unknown} files modelhub did not make ({human_size(t.unknown_size)}): "
            "left alone by prune, rm and clear"
        )
    return 0


def _du(args: argparse.Namespace) -> int:
    from modelhub import cache
    from modelhub.cli.output import human_size, print_json, print_table

    d = cache.du()
    if _json(args):
        print_json(d.to_dict())
        return 0
    print(f"cache: {d.root}")
    print(f"total: {human_size(d.total)}")
    print(f"  entries: {human_size(d.entries)}")
    print(f"  catalog index: {human_size(d.catalog)}")
    print(f"  partial downloads: {human_size(d.partials)}")
    print(f"  orphaned temporary files: {human_size(d.orphans)}")
    if d.per_source:
        print("\nper source:")
        for src, n in d.per_source.items():
            print(f"  {src}: {human_size(n)}")
    if d.per_model:
        print("\nper model:")
        print_table(
            ("name", "lang", "versions", "size"),
            [(m.name, m.language, m.versions, human_size(m.size)) for m in d.per_model],
        )
    print(
        f"\nreclaimable: {human_size(d.reclaimable)} (partials {human_size(d.partials)}, "
        f"orphans {human_size(d.orphans)}, superseded versions {human_size(d.superseded)})"
    )
    return 0


def _dir(args: argparse.Namespace) -> int:
    from modelhub import cache

    path = cache.cache_dir()
    if _json(args):
        from modelhub.cli.output import print_json

        print_json({"path": str(path)})
    else:
        print(path)
    return 0


# --------------------------------------------------------------------------- verify


def _verify(args: argparse.Namespace) -> int:
    from modelhub import cache
    from modelhub.cli.output import human_size, print_json

    if not args.names and not args.all:
        raise _usage("name the models to verify, or pass --all")
    if args.names and args.all:
        raise _usage("give model names or --all, not both")
    report = cache.verify(*args.names, lang=args.lang, version=args.version, repair=args.repair)
    if args.names and not report.results:
        if _json(args):
            print_json(report.to_dict())
        else:
            print(f"no cached entry matches {' '.join(args.names)}", file=sys.stderr)
        return 1
    if _json(args):
        print_json(report.to_dict())
    else:
        for r in report.results:
            label = f"{r.name} {r.language or 'xx'} {r.version or ''}".rstrip()
            for p in r.problems:
                detail = f" (expected {p.expected}, got {p.actual})" if p.expected else ""
                print(f"BAD  {label}: {p.path}: {p.problem}{detail}")
            if r.repaired:
                print(
                    f"REPAIRED {label}: replaced {', '.join(r.replaced)} "
                    f"({human_size(r.transferred)} fetched)"
                )
            elif r.error:
                print(f"FAILED TO REPAIR {label}: {r.error}")
        damaged = len(report.damaged)
        print(
            f"verified {len(report.results)} entries, {human_size(report.bytes)} in "
            f"{report.seconds:.2f} s ({report.mb_per_s:.0f} MB/s): "
            + (f"{damaged} damaged" if damaged else "all intact")
            + ("" if report.ok or args.repair else "; run with --repair to fetch the bad files")
        )
    return 0 if report.ok else 1


# --------------------------------------------------------------------------- removal


def _print_report(report: Any, *, dry_run: bool) -> None:
    from modelhub.cli.output import human_size

    items = report.planned if dry_run else report.removed
    verb = "would remove" if dry_run else "removed"
    for r in items:
        what = (
            f"{r.name} {r.language or 'xx'} {r.version or ''}".rstrip()
            if r.kind == "entry"
            else f"{r.kind.replace('_', ' ')} {r.path}"
        )
        print(f"{verb}: {what} ({human_size(r.size)}; {r.reason})")
    for s in report.skipped:
        what = s.name or s.key or str(s.path)
        print(f"kept: {what} ({human_size(s.size)}): {s.reason}")
    for e in report.errors:
        print(f"error: {e}", file=sys.stderr)
    if dry_run:
        print(f"would free {human_size(report.would_free)}")
    else:
        print(f"would free {human_size(report.would_free)}; freed {human_size(report.freed)}")


def _run_destructive(args: argparse.Namespace, run: Any) -> Any:
    """Dry run, or ask (terminal) / require --yes (no terminal), then run."""
    from modelhub.cli.output import print_json

    if args.dry_run:
        report = run(True)
        if _json(args):
            print_json(report.to_dict())
        else:
            _print_report(report, dry_run=True)
        return report
    if not args.yes:
        if not sys.stdin.isatty():
            raise _usage(
                f"`modelhub cache {args.cache_command}` deletes files: pass --yes to confirm "
                "(stdin is not a terminal, so modelhub cannot ask), or --dry-run to see what "
                "would go"
            )
        plan = run(True)
        if not plan.planned:
            _print_report(plan, dry_run=True)
            return plan
        _print_report(plan, dry_run=True)
        answer = input("remove these? [y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing removed")
            return plan
    report = run(False)
    if _json(args):
        print_json(report.to_dict())
    else:
        _print_report(report, dry_run=False)
    return report


def _prune(args: argparse.Namespace) -> int:
    from modelhub import cache

    try:
        older = None if args.older_than is None else cache.parse_duration(args.older_than, bare="d")
        size = None if args.max_size is None else cache.parse_size(args.max_size)
    except ValueError as exc:
        raise _usage(str(exc)) from exc

    def run(dry: bool) -> Any:
        return cache.prune(
            older_than=older,
            max_size=size,
            keep_pinned=args.keep_pinned,
            superseded=args.superseded,
            dry_run=dry,
        )

    report = _run_destructive(args, run)
    return 2 if report.errors else 0


def _rm(args: argparse.Namespace) -> int:
    from modelhub import cache

    def run(dry: bool) -> Any:
        return cache.remove(
            args.name,
            args.lang,
            version=args.version,
            all_versions=args.all_versions,
            dry_run=dry,
        )

    first = cache.remove(
        args.name, args.lang, version=args.version, all_versions=args.all_versions, dry_run=True
    )
    if not first.planned and not first.skipped:
        what = args.name + (f" ({args.lang})" if args.lang else "")
        if _json(args):
            from modelhub.cli.output import print_json

            print_json(first.to_dict())
        else:
            print(f"no cached entry matches {what}", file=sys.stderr)
        return 1
    report = _run_destructive(args, run)
    if report.errors:
        return 2
    done = report.planned if args.dry_run else report.removed
    return 0 if done else 1


def _clear(args: argparse.Namespace) -> int:
    from modelhub import cache

    report = _run_destructive(args, lambda dry: cache.clear(dry_run=dry))
    return 2 if report.errors else 0


def _pin(args: argparse.Namespace) -> int:
    from modelhub import cache
    from modelhub.cli.output import print_json

    fn = cache.pin if args.pinned else cache.unpin
    rows = fn(args.name, args.lang, version=args.version)
    if _json(args):
        print_json([r.to_dict() for r in rows])
    elif rows:
        for r in rows:
            state = "pinned" if args.pinned else "unpinned"
            print(f"{state}: {r.name} {r.language or 'xx'} {r.version or ''}".rstrip())
    else:
        print(f"no cached entry matches {args.name}", file=sys.stderr)
    return 0 if rows else 1
