"""Issue 14, points 1, 2, 7 (nested manifest) and 8 (FIFO manifest): what an
entry's ``manifest.json`` says is data, never an instruction.

In a shared (group-writable) cache anyone in the group can edit a manifest.
A path that leaves the entry (``../X``) must not make a repair write through a
symbolic link outside the cache; sources recorded in a manifest must not be
fetched by ``cache verify --repair``; a deeply nested manifest is damage, not
a RecursionError; a FIFO in place of a manifest must not hang ``cache ls`` or
``pull``.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest

from tests.hostile.conftest import (
    GOOD_FILES,
    Hub,
    assert_ok,
    make_zip,
    snapshot,
)


def _published(hub: Hub, name: str) -> dict:
    hub.publish(name, make_zip(GOOD_FILES))
    return hub.pull_json(name)


@pytest.mark.xfail(strict=True, reason="issue 14 point 1: manifest ../X path written through")
@pytest.mark.timeout(60)
def test_manifest_path_outside_entry_never_writes_through_a_symlink(hub: Hub) -> None:
    name = "manifest_dotdot"
    _published(hub, name)
    victim = hub.root / "victim.txt"
    victim.write_bytes(b"precious user data\n")
    before = snapshot(victim)
    outside_before = set(os.listdir(hub.root))

    entry = hub.entry_dir(name)
    payload = b"attacker bytes\n"
    (entry / "X").write_bytes(payload)  # what ../X of the ready directory names
    (hub.cache / "tmp").mkdir(exist_ok=True)
    (hub.cache / "tmp" / "X").symlink_to(victim)  # where ../X of a staging dir lands
    m = hub.manifest(name)
    for f in m["files"]:
        if f["path"] == "a.txt":
            f["size"] += 1  # the entry now looks damaged: pull repairs it
    m["files"].append(
        {"path": "../X", "size": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}
    )
    hub.write_manifest(name, m)

    r = hub.mh("pull", name, "--json")
    assert snapshot(victim) == before, "a file outside the cache was overwritten"
    assert set(os.listdir(hub.root)) == outside_before
    # The manifest fails validation, so the entry counts as damaged and is
    # fetched again from the catalog's source.
    assert_ok(r)
    ready = json.loads(r.stdout)["path"]
    assert (hub.cache / ready).joinpath("a.txt").read_bytes() == GOOD_FILES["a.txt"]


@pytest.mark.xfail(strict=True, reason="issue 14 point 2: repair fetches manifest sources")
@pytest.mark.timeout(60)
def test_repair_never_fetches_sources_recorded_in_a_manifest(hub: Hub) -> None:
    name = "manifest_sources"
    path = _published(hub, name)["path"]
    private = hub.root / "private"
    private.mkdir()
    secret = b"-----BEGIN OPENSSH PRIVATE KEY-----\nnot for the cache\n"
    for rel in GOOD_FILES:  # the names the entry holds, so a "file" source serves them
        (private / rel).parent.mkdir(parents=True, exist_ok=True)
        (private / rel).write_bytes(secret)
        os.chmod(private / rel, 0o600)
    key = private / "id_ed25519"
    key.write_bytes(secret)
    os.chmod(key, 0o600)

    m = hub.manifest(name)
    hostile = {"kind": "file", "location": private.as_uri()}
    m["source"] = hostile
    m["download"] = None
    m["artifact"]["sources"] = [hostile]
    hub.write_manifest(name, m)
    a_txt = hub.cache / path / "a.txt"
    a_txt.write_bytes(b"X" * len(GOOD_FILES["a.txt"]))  # same size: only a re-hash sees it
    hub.mh("cache", "verify", "--all", "--repair")
    for p in hub.cache.rglob("*"):
        if p.is_file() and not p.is_symlink():
            assert secret not in p.read_bytes(), f"{p} holds the private key"
    # Repaired from the catalog's source, or left damaged: never from the manifest's.
    assert a_txt.read_bytes() in (GOOD_FILES["a.txt"], b"X" * len(GOOD_FILES["a.txt"]))


def _nested(depth: int) -> str:
    return '{"files": ' + "[" * depth + "]" * depth + "}"


@pytest.mark.xfail(strict=True, reason="issue 14 point 7: nested manifest -> RecursionError")
@pytest.mark.timeout(60)
def test_deeply_nested_manifest_is_damage_in_cache_ls(hub: Hub) -> None:
    name = "manifest_nested_ls"
    _published(hub, name)
    (hub.entry_dir(name) / "manifest.json").write_text(_nested(100_000))

    r = hub.mh("cache", "ls")
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    assert r.returncode in (0, 1), (r.returncode, r.stderr[-2000:])


@pytest.mark.xfail(strict=True, reason="issue 14 point 7: nested manifest -> RecursionError")
@pytest.mark.timeout(60)
def test_deeply_nested_manifest_is_fetched_again_by_pull(hub: Hub) -> None:
    name = "manifest_nested_pull"
    _published(hub, name)
    (hub.entry_dir(name) / "manifest.json").write_text(_nested(100_000))

    # pull treats the entry as absent or damaged and fetches it again
    r = hub.mh("pull", name, "--json")
    assert_ok(r)
    assert json.loads(r.stdout)["files"] == len(GOOD_FILES)


@pytest.mark.xfail(strict=True, reason="issue 14 point 8: FIFO manifest hangs cache ls")
@pytest.mark.timeout(30)
def test_fifo_manifest_does_not_hang_cache_ls(hub: Hub) -> None:
    name = "manifest_fifo_ls"
    _published(hub, name)
    manifest = hub.entry_dir(name) / "manifest.json"
    manifest.unlink()
    os.mkfifo(manifest)  # nobody ever opens the other end
    try:
        r = hub.mh("cache", "ls", timeout=6)
    except subprocess.TimeoutExpired:
        pytest.fail("`modelhub cache ls` hung on a FIFO in place of manifest.json")
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    assert r.returncode in (0, 1), (r.returncode, r.stderr[-2000:])


@pytest.mark.xfail(strict=True, reason="issue 14 point 8: FIFO manifest hangs pull")
@pytest.mark.timeout(30)
def test_fifo_manifest_does_not_hang_pull(hub: Hub) -> None:
    name = "manifest_fifo_pull"
    _published(hub, name)
    manifest = hub.entry_dir(name) / "manifest.json"
    manifest.unlink()
    os.mkfifo(manifest)
    try:
        r = hub.mh("pull", name, "--json", timeout=6)
    except subprocess.TimeoutExpired:
        pytest.fail("`modelhub pull` hung on a FIFO in place of manifest.json")
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    # refused as damage (exit 1/2) or replaced by a fresh download: never a hang
    assert r.returncode in (0, 1, 2), (r.returncode, r.stderr[-2000:])
