"""``modelhub export``, ``modelhub import`` and ``modelhub lock``: mirrors for
air-gapped sites and lock files for reproducible installs.

Only argparse at module level; the registry is imported in the handlers.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from modelhub.cli.argtypes import path


def register(sub: argparse._SubParsersAction) -> None:
    """Adds ``export``, ``import`` and ``lock``."""
    from modelhub.config import ENV  # variable names for the help; no settings read

    p = sub.add_parser(
        "export",
        help="write models, their cards and a sha256 manifest into a mirror folder",
        description=f"Resolve each NAME, pull it when it is not cached, and write its verified "
        "files (in the remote layout), its card and a manifest with the sha256 of every file "
        "into DIR. DIR may be new, empty or an existing mirror (models are added). Copy DIR "
        "to the air-gapped machine and run `modelhub import DIR` there, or point "
        f"{ENV['mirrors']} at it.",
    )
    p.add_argument("names", nargs="+", metavar="NAME", help="model names")
    p.add_argument("--to", required=True, type=path, metavar="DIR", help="the mirror folder")
    _common(p)
    p.add_argument("--json", action="store_true", help="JSON object for scripts")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser(
        "import",
        help="install every model of a mirror folder into the cache, verified",
        description="Check every file of the mirror at DIR against its manifest (size and "
        "sha256), then install its models into the cache and its cards into the catalog. "
        "Any mismatch fails with nothing installed.",
    )
    p.add_argument("dir", type=path, metavar="DIR", help="a folder written by `modelhub export`")
    p.add_argument("--json", action="store_true", help="JSON object for scripts")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser(
        "lock",
        help="print a lock file: the exact artifacts and file hashes of NAMEs",
        description="Resolve and pull each NAME, then print a JSON lock file recording the "
        "exact artifact and the size and sha256 of every file. Save it "
        "(`modelhub lock NAME... > modelhub.lock`) and install exactly those files elsewhere "
        "with `modelhub pull --lock modelhub.lock`.",
    )
    p.add_argument("names", nargs="+", metavar="NAME", help="model names")
    _common(p)
    p.set_defaults(func=cmd_lock)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lang", default="en", help="language code for every NAME (default: en)")
    p.add_argument("--version", metavar="V", help="pin a library version, artifact or timestamp")
    p.add_argument(
        "--offline",
        action="store_true",
        help="no network: the cache and local sources (package, mirror, file://) only",
    )


def _requests(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    return [(n, args.lang) for n in args.names]


def cmd_export(args: argparse.Namespace) -> int:
    from modelhub.cli.output import human_size, plural, print_json, print_table
    from modelhub.registry.mirror.export import export_mirror

    manifest = export_mirror(
        _requests(args),
        args.to,
        version=args.version,
        offline=True if args.offline else None,
    )
    wanted = {(n, args.lang) for n in args.names}
    models = [m for m in manifest.models if (m.name, m.language) in wanted]
    if args.json:
        print_json(
            {
                "mirror": args.to,
                "models": [
                    {
                        "name": m.name,
                        "language": m.language,
                        "key": m.key,
                        "dir": m.dir,
                        "files": len(m.files),
                    }
                    for m in models
                ],
                "files": len(manifest.files),
            }
        )
        return 0
    print_table(
        ("name", "lang", "files", "size", "path"),
        [
            (m.name, m.language, len(m.files), human_size(sum(f.size for f in m.files)), m.dir)
            for m in models
        ],
    )
    print(
        f"mirror {args.to}: {plural(len(manifest.models), 'model')}, "
        f"{plural(len(manifest.files), 'file')}",
        file=sys.stderr,
    )
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from modelhub.cli.output import plural, print_json, print_table
    from modelhub.registry.mirror.importing import import_mirror

    done = import_mirror(args.dir)
    if args.json:
        out: dict[str, Any] = {
            "installed": [
                {"key": e.key, "path": str(e.path), "files": len(e.manifest.files)}
                for e in done.entries
            ],
            "unchanged": list(done.skipped),
            "cards": [str(c) for c in done.cards],
        }
        print_json(out)
        return 0
    rows = [(e.key, "installed", str(e.path)) for e in done.entries]
    rows += [(k, "already cached", "-") for k in done.skipped]
    print_table(("artifact", "status", "path"), rows)
    added = plural(len(done.cards), "card")
    print(f"imported {args.dir}: {added} added to the catalog", file=sys.stderr)
    return 0


def cmd_lock(args: argparse.Namespace) -> int:
    from modelhub.cli.output import print_json
    from modelhub.registry.mirror.lockfile import make_lock

    print_json(
        make_lock(_requests(args), version=args.version, offline=True if args.offline else None)
    )
    return 0
