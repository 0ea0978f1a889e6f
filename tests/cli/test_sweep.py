"""Every CLI verb with bad input, as real processes: one line (no traceback,
no "internal error"), and the exit status the README documents (1 nothing
matched / not cached, 2 usage or error). Also a real terminal: Ctrl-D and
Ctrl-C at a ``[y/N]`` prompt, and ``--json`` errors through a pipe.

The processes run concurrently, once per module, and each case is checked
by its own test."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.cache.conftest import install

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parents[2]

# --device/--dtype/--max-length mistakes are left to the loaders' own tests:
# they load torch and copy a model (seconds each).

# (argv with {d} for a scratch folder, the documented exit status)
CASES: list[tuple[str, int] | object] = [
    ("card {d}/missing.md", 1),
    ("card {d}/notcard.md", 1),
    ("card {d}/empty", 1),
    ("card", 2),
    ("card --json {d}/missing.md", 1),
    ("list --bogus", 2),
    ("list --lib-version abc", 2),
    ("list --task no-such-task", 1),
    ("search", 2),
    ("search x --limit abc", 2),
    ("search zzzzqqqq", 1),
    ("search x --limit -1", 2),
    ("show nope", 1),
    ("show nope --json", 1),
    ("show all_minilm_l6_v2 --lib-version abc", 2),
    ("show all_minilm_l6_v2 --folder nowhere", 1),
    ("explain nope", 1),
    ("explain all_minilm_l6_v2 --source bogus", 2),
    ("catalog", 2),
    ("catalog bogus", 2),
    ("catalog sync --timeout abc", 2),
    ("catalog sync --timeout 0", 2),
    ("catalog status --bogus", 2),
    ("catalog rebuild --bogus", 2),
    ("pull", 2),
    ("pull nope", 1),
    ("pull nope --json", 1),
    ("pull x --source bogus", 2),
    ("pull all_minilm_l6_v2 --version zzz", 1),
    ("pull --lock {d}/missing.lock", 2),
    ("pull --lock {d}/bad.lock", 2),
    ("pull --lock {d}/empty", 2),
    ("pull --lock {empty}", 2),
    ("embed nope hi", 1),
    ("embed all_minilm_l6_v2 hi --max-length abc", 2),
    ("embed all_minilm_l6_v2 hi --loader nope", 2),
    ("embed {d}/empty hi", 2),
    ("similarity nope a b", 1),
    ("similarity all_minilm_l6_v2 a", 2),
    ("loaders --bogus", 2),
    ("convert x", 2),
    ("convert {d}/empty --to {d}/out", 2),
    ("convert x --to {d}/out --num-attention-heads abc", 2),
    ("convert x --to {d}/out --num-attention-heads 0", 2),
    ("convert x --to {empty}", 2),
    ("convert nope --to {d}/out", 1),
    ("export", 2),
    ("export nope --to {d}/mirror", 1),
    ("export nope --to {empty}", 2),
    ("export all_minilm_l6_v2 --to {d}/notcard.md", 2),
    ("import {d}/missing", 2),
    ("import {d}/empty", 2),
    ("import {d}/notcard.md", 2),
    ("import {empty}", 2),
    ("lock", 2),
    ("lock nope", 1),
    ("cache bogus", 2),
    ("cache ls --sort bogus", 2),
    ("cache ls --bogus", 2),
    ("cache du --bogus", 2),
    ("cache verify", 2),
    ("cache verify nope", 1),
    ("cache verify --all nope", 2),
    ("cache prune --older-than abc", 2),
    ("cache prune --max-size abc", 2),
    ("cache prune", 2),
    ("cache rm", 2),
    ("cache rm nope", 1),
    ("cache pin nope", 1),
    ("cache unpin nope", 1),
    ("cache clear", 2),
    ("cache dir --bogus", 2),
    ("env --bogus", 2),
    ("completion", 2),
    ("completion fish", 2),
]

VERBS = {
    *("card", "list", "search", "show", "explain", "catalog", "pull", "embed", "similarity"),
    *("loaders", "convert", "export", "import", "lock", "cache", "env", "completion"),
}


def _argv(case: str, scratch: Path) -> list[str]:
    """``{d}``: the scratch folder; ``{empty}``: an empty argument."""
    return [token.format(d=scratch, empty="") for token in case.split()]


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELHUB_")}
    env.update(
        MODELHUB_CACHE=str(home / "cache"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_CACHE_HOME=str(home / "xdg-cache"),
        HF_HOME=str(home / "hf"),
        # nothing here may reach a network: a refused local port everywhere
        MODELHUB_S3_ENDPOINT="http://127.0.0.1:9",
        HF_ENDPOINT="http://127.0.0.1:9",
        PYTHONPATH=str(REPO_ROOT),
    )
    return env


@pytest.fixture(scope="module")
def sweep(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess]:
    home = tmp_path_factory.mktemp("sweep")
    scratch = home / "scratch"
    (scratch / "empty").mkdir(parents=True)
    (scratch / "notcard.md").write_text("not a card\n")
    (scratch / "bad.lock").write_text("{bad json\n")
    env = _env(home)

    def run(case: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "modelhub", *_argv(case, scratch)],
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=REPO_ROOT,
            timeout=120,
        )

    cases = [c.values[0] if hasattr(c, "values") else c[0] for c in CASES]  # type: ignore[index,union-attr]
    with ThreadPoolExecutor(max_workers=4) as pool:
        return dict(zip(cases, pool.map(run, cases), strict=True))


def test_the_sweep_covers_every_verb() -> None:
    cases = [c.values[0] if hasattr(c, "values") else c[0] for c in CASES]  # type: ignore[index,union-attr]
    assert {c.split()[0] for c in cases} == VERBS


@pytest.mark.parametrize(("case", "status"), CASES)
def test_bad_input_is_one_line_and_the_documented_status(
    case: str, status: int, sweep: dict[str, subprocess.CompletedProcess]
) -> None:
    r = sweep[case]
    assert "Traceback" not in r.stderr, r.stderr
    assert "internal error" not in r.stderr, r.stderr
    assert r.returncode == status, r.stderr
    # the last line says what went wrong (a usage error shows the usage above)
    last = r.stderr.strip().splitlines()[-1] if r.stderr.strip() else ""
    assert last, f"{case}: nothing on stderr"


def test_json_errors_go_through_a_pipe_to_json_tool() -> None:
    """`modelhub show nope --json | python -m json.tool` works."""
    show = subprocess.Popen(
        [sys.executable, "-m", "modelhub", "show", "nope", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO_ROOT,
    )
    tool = subprocess.run(
        [sys.executable, "-m", "json.tool"], stdin=show.stdout, capture_output=True, text=True
    )
    assert show.stdout is not None
    show.stdout.close()
    err = show.stderr.read().decode() if show.stderr else ""
    assert show.wait(timeout=60) == 1
    assert tool.returncode == 0, tool.stderr
    assert '"type": "ModelNotFound"' in tool.stdout and '"exit_code": 1' in tool.stdout
    assert err.startswith("modelhub: error: no model named 'nope'")


# -- a real terminal -----------------------------------------------------------------


def _signal_state(pid: int) -> str:
    """The child's signal masks, as /proc shows them (for a failure's message)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            return " ".join(line.strip() for line in fh if line.startswith(("Sig", "Shd")))
    except OSError as exc:
        return f"no /proc status ({exc.strerror})"


def _wait_until_reading_stdin(pid: int, events: list[str], t0: float) -> None:
    """Returns once ``pid`` blocks in ``read(0, ...)``. A SIGINT that lands
    between the prompt's write and that read is only noticed after the read
    returns (CPython's handler just sets a flag); a person's Ctrl-C never
    comes that fast, a test's does."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with open(f"/proc/{pid}/syscall") as fh:
                fields = fh.read().split()
        except OSError as exc:
            events.append(f"{time.monotonic() - t0:.2f}s no /proc syscall ({exc.strerror})")
            return  # no /proc: send at once
        # read(2) is syscall 0 on x86-64 and 63 on arm64; first argument fd 0
        if fields[:2] in (["0", "0x0"], ["63", "0x0"]):
            events.append(f"{time.monotonic() - t0:.2f}s blocked in read(0)")
            return
        select.select([], [], [], 0.02)  # a scheduling tick, not a fixed delay
    events.append(f"{time.monotonic() - t0:.2f}s never seen in read(0)")


def _on_a_terminal(argv: list[str], answer: bytes | None) -> tuple[int, str, str]:
    """Runs ``modelhub ARGV`` on a pseudo-terminal; at the ``[y/N]`` prompt
    types ``answer`` (``None``: sends SIGINT, as Ctrl-C does). Returns the
    exit status, everything the terminal showed, and what happened when (for
    a failure's message)."""
    import pty

    master, slave = pty.openpty()
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelhub", *argv],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    os.close(slave)
    events: list[str] = []
    shown = b""
    answered = False
    while proc.poll() is None or select.select([master], [], [], 0)[0]:
        if time.monotonic() - t0 > 60:
            # Closing the terminal under a live child would turn a hang into an
            # unrelated exit status (its next write fails): name the hang instead.
            events.append(f"{time.monotonic() - t0:.2f}s still running: killed")
            proc.kill()
            break
        ready, _, _ = select.select([master], [], [], 1.0)
        if not ready:
            continue
        try:
            chunk = os.read(master, 4096)
        except OSError:  # EIO: the process closed the terminal
            break
        if not chunk:
            break
        shown += chunk
        if not answered and b"[y/N]" in shown:
            answered = True
            events.append(f"{time.monotonic() - t0:.2f}s prompt shown")
            if answer is None:
                _wait_until_reading_stdin(proc.pid, events, t0)
                events.append(f"SIGINT sent; child {_signal_state(proc.pid)}")
                proc.send_signal(signal.SIGINT)
            else:
                os.write(master, answer)
    rc = proc.wait(timeout=60)
    events.append(f"{time.monotonic() - t0:.2f}s exited {rc}")
    os.close(master)
    text = shown.decode(errors="replace").replace("\r\n", "\n")
    return rc, text, "; ".join(events)


@pytest.mark.parametrize(
    ("answer", "status", "last_line"),
    [
        (b"\x04", 2, "modelhub: error: no answer (end of input): nothing removed"),  # Ctrl-D
        (None, 130, "modelhub: interrupted"),  # Ctrl-C
        (b"n\n", 0, "nothing removed"),
    ],
    ids=["ctrl-d", "ctrl-c", "no"],
)
def test_the_prompt_on_a_real_terminal(answer: bytes | None, status: int, last_line: str) -> None:
    install("keep", {"f": b"k" * 10})
    rc, shown, events = _on_a_terminal(["cache", "clear"], answer)
    said = f"{shown}\n[{events}]"
    assert "remove these? [y/N]" in shown, said
    assert "Traceback" not in shown and "EOFError" not in shown, said
    assert rc == status, said
    assert shown.strip().splitlines()[-1].strip() == last_line, said
    r = subprocess.run(
        [sys.executable, "-m", "modelhub", "cache", "ls"],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert "keep " in r.stdout  # nothing was removed
