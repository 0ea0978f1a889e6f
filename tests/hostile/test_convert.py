"""Issue 14, points 7 (``convert --to <symlink> --overwrite``, ``convert --to
.``) and 10 (``convert --to DIR --overwrite`` deleted a user's files).

``convert`` writes a Hugging Face directory from a Spark NLP zip (the
committed TF1 fixture). It must never delete what it did not write, never
follow a symbolic link into a folder elsewhere, and answer odd targets with a
typed error (exit 2) or a correct result, never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hostile.conftest import REPO_ROOT, Hub, run, snapshot, tree

ZIP = REPO_ROOT / "tests" / "fixtures" / "sparknlp" / "bert_tiny_tf1_uncased.zip"


def _convert(hub: Hub, to: str, *extra: str, cwd: Path | None = None):  # type: ignore[no-untyped-def]
    return run("convert", str(ZIP), "--to", to, *extra, env=hub.env, timeout=60, cwd=cwd)


@pytest.mark.xfail(strict=True, reason="issue 14 point 7: convert --to <symlink> -> traceback")
@pytest.mark.timeout(90)
def test_convert_to_a_symlink_with_overwrite(hub: Hub) -> None:
    victim = hub.root / "elsewhere"
    victim.mkdir()
    (victim / "notes.txt").write_bytes(b"my notes\n")
    before = snapshot(victim / "notes.txt")
    link = hub.root / "out-link"
    link.symlink_to(victim, target_is_directory=True)

    r = _convert(hub, str(link), "--overwrite")
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert r.returncode in (0, 2), (r.returncode, r.stderr[-2000:])
    assert snapshot(victim / "notes.txt") == before
    assert tree(victim) == {"notes.txt"}, "convert wrote into the folder the link points at"


@pytest.mark.xfail(strict=True, reason="issue 14 point 7: convert --to . -> traceback")
@pytest.mark.timeout(90)
def test_convert_to_the_current_directory(hub: Hub) -> None:
    here = hub.root / "work"
    here.mkdir()
    r = _convert(hub, ".", cwd=here)
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert r.returncode in (0, 2), (r.returncode, r.stderr[-2000:])
    if r.returncode == 0:
        assert (here / "config.json").is_file() and (here / "model.safetensors").is_file()
    assert not any(p.name.startswith(".") for p in hub.root.iterdir()), "staging left behind"


@pytest.mark.xfail(strict=True, reason="issue 14 point 10: convert --overwrite deletes user files")
@pytest.mark.timeout(90)
def test_convert_overwrite_never_deletes_files_it_did_not_write(hub: Hub) -> None:
    out = hub.root / "paper"
    out.mkdir()
    (out / "paper.tex").write_bytes(b"\\documentclass{article} months of work\n")
    (out / "figures").mkdir()
    (out / "figures" / "fig1.pdf").write_bytes(b"%PDF-1.4 figure\n")
    before = {p: snapshot(out / p) for p in ("paper.tex", "figures/fig1.pdf")}

    r = _convert(hub, str(out), "--overwrite")
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert r.returncode in (0, 2), (r.returncode, r.stderr[-2000:])
    for p, snap in before.items():
        assert (out / p).exists(), f"{p} was deleted"
        assert snapshot(out / p) == snap


@pytest.mark.timeout(90)
def test_control_convert_overwrite_replaces_its_own_output(hub: Hub) -> None:
    """The harness itself: converting twice into the same folder works."""
    out = hub.root / "hf-out"
    r = _convert(hub, str(out))
    assert r.returncode == 0, r.stderr[-2000:]
    r = _convert(hub, str(out), "--overwrite")
    assert r.returncode == 0, r.stderr[-2000:]
    assert (out / "config.json").is_file()
