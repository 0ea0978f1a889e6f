"""The code base stays `ruff check` and `ruff format` clean (part of the test command)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _ruff() -> list[str]:
    # The one installed beside this interpreter first: a virtual environment
    # used without activating it has no ruff on PATH.
    exe = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("ruff is not installed: CI installs the [dev] extra, which has it")
        pytest.skip("ruff is not installed (it comes with the [dev] extra)")
    return [exe]


@pytest.mark.parametrize(
    "args", [["check", "."], ["format", "--check", "."]], ids=["check", "format"]
)
def test_ruff_clean(args: list[str]) -> None:
    out = subprocess.run(_ruff() + args, cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
