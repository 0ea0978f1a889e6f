"""The warm `modelhub list`: the table rendered with the index prints what the
rows would, follows changed inputs, and the process stays light (no logging,
dataclasses, pathlib or shutil imported) while library warnings still reach
stderr."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from modelhub.cli.app import main
from modelhub.config import load_settings
from modelhub.registry.catalog.catalog import load_catalog
from modelhub.registry.catalog.index import pick_rows, render_rows

from .conftest import card_text


def _list(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    rc = main(["list", *args])
    return rc, capsys.readouterr().out


@pytest.mark.parametrize(
    "lang, task",
    [("en", "embeddings"), ("EN", "Embeddings"), ("de", None), (None, "ner"), ("en", "embedding")],
)
def test_stored_table_is_the_rendered_rows(
    hub: Path, lang: str | None, task: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = load_catalog(load_settings())
    text = catalog.list_text(lang=lang, task=task)
    assert text is not None, "one shard matches: its table is stored"
    rows = catalog.list_rows(lang=lang, task=task)
    assert text == render_rows(pick_rows(rows))
    args = [*(["--lang", lang] if lang else []), *(["--task", task] if task else [])]
    assert _list(capsys, *args) == (0, text)


def test_queries_over_several_shards_render_from_rows(
    hub: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    catalog = load_catalog(load_settings())
    assert catalog.list_text() is None and catalog.list_text(lang="en") is None
    rc, out = _list(capsys)
    assert rc == 0
    names = [ln.split()[0] for ln in out.splitlines()[1:]]
    assert names == sorted(names)
    assert {"alpha_bert", "beta_ner", "gamma_pos"} <= set(names)
    assert names.count("alpha_bert") == 2  # en and de


def test_filters_and_targets_bypass_the_stored_table(
    hub: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    q = ["--task", "embeddings", "--lang", "en"]
    _, plain = _list(capsys, *q)
    assert "5.6.0" in plain
    rc, out = _list(capsys, *q, "--lib-version", "5.5.1")
    assert rc == 0 and "5.6.0" not in out and "3.4.0" in out
    monkeypatch.setenv("MODELHUB_LIB_VERSION", "5.5.1")  # from the environment too
    assert _list(capsys, *q) == (0, out)
    monkeypatch.delenv("MODELHUB_LIB_VERSION")
    rc, out = _list(capsys, *q, "--all-versions")
    assert rc == 0 and "5.6.0" in out and "2.4.0" in out
    assert _list(capsys, *q, "--engine", "tensorflow")[0] == 1


def test_stored_table_follows_a_new_card(hub: Path, capsys: pytest.CaptureFixture[str]) -> None:
    q = ["--task", "embeddings", "--lang", "en"]
    _, before = _list(capsys, *q)
    assert "delta_bert" not in before
    (hub / "d.md").write_text(card_text("delta_bert"))
    _bump_mtime(hub)
    _, after = _list(capsys, *q)
    assert "delta_bert" in after and len(after.splitlines()) == len(before.splitlines()) + 1


def _bump_mtime(path: Path) -> None:
    # same-second writes on coarse-mtime file systems: make the change visible
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, max(st.st_mtime_ns, time.time_ns()) + 1_000_000_000))


WARM = (
    "import sys\n"
    "from modelhub.cli.app import main\n"
    "rc = main(['list', '--task', 'embeddings', '--lang', 'en'])\n"
    "loaded = [m for m in ('logging', 'dataclasses', 'pathlib', 'shutil', 'inspect', 'json')"
    " if m in sys.modules]\n"
    "print('RESULT', rc, loaded, file=sys.stderr)\n"
)


def test_warm_list_process_stays_light(hub: Path) -> None:
    first = subprocess.run([sys.executable, "-m", "modelhub", "list"], capture_output=True)
    assert first.returncode == 0  # builds the index
    proc = subprocess.run([sys.executable, "-c", WARM], capture_output=True, text=True, timeout=60)
    assert proc.stderr.strip().splitlines()[-1] == "RESULT 0 []", proc.stderr
    assert "alpha_bert" in proc.stdout


def test_library_warnings_reach_stderr_from_a_fresh_process(hub: Path, tmp_path: Path) -> None:
    env = dict(os.environ, MODELHUB_CARDS=f"{hub}{os.pathsep}{tmp_path / 'gone'}")
    cmd = [sys.executable, "-m", "modelhub", "list", "--task", "embeddings", "--lang", "en"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "alpha_bert" in proc.stdout
    assert f"modelhub: WARNING: card folder {tmp_path / 'gone'} does not exist" in proc.stderr
    verbose = subprocess.run(
        [sys.executable, "-m", "modelhub", "-v", "catalog", "rebuild"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verbose.returncode == 0
    assert "modelhub: INFO: catalog index built" in verbose.stderr
