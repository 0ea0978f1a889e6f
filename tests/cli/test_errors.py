"""How the CLI reports failure, in process: one line on stderr, the documented
exit status, and under ``--json`` an ``{"error": {...}}`` object on stdout."""

from __future__ import annotations

import json
from typing import Any

import pytest

from modelhub.cli import cmd_env
from modelhub.cli.app import main
from modelhub.cli.output import error_dict
from modelhub.errors import CardError, FetchError, ModelNotFound


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_show_unknown_name_with_json_puts_the_error_on_stdout(
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc, out, err = run(capsys, "show", "nope", "--json")
    assert rc == 1
    error = json.loads(out)["error"]
    assert error["type"] == "ModelNotFound" and error["exit_code"] == 1
    assert error["name"] == "nope" and error["language"] == "en"
    assert "no model named 'nope'" in error["message"]
    # the human line stays on stderr, exactly one line
    assert err.splitlines() == [f"modelhub: error: {error['message']}"]


def test_without_json_stdout_stays_empty(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, "show", "nope")
    assert rc == 1 and out == "" and err.startswith("modelhub: error: no model named 'nope'")


# Each command that takes --json, with a mistake: the error object is on
# stdout whatever raised it (the parser, a handler, the registry).
JSON_CASES: list[tuple[str, ...]] = [
    ("list", "--lib-version", "abc"),
    ("list", "--bogus"),
    ("search", "x", "--limit", "abc"),
    ("show", "nope"),
    ("explain", "nope"),
    ("explain", "nope", "--source", "bogus"),
    ("catalog", "sync", "--timeout", "abc"),
    ("catalog", "status", "--bogus"),
    ("pull", "nope"),
    ("pull",),
    ("pull", "--lock", "/nonexistent/modelhub.lock"),
    ("embed", "nope", "hi"),
    ("similarity", "nope", "a", "b"),
    ("loaders", "--bogus"),
    ("convert", "nope", "--to", "/nonexistent/out"),
    ("export", "nope", "--to", "/nonexistent/mirror"),
    ("import", "/nonexistent/mirror"),
    ("cache", "ls", "--sort", "bogus"),
    ("cache", "verify"),
    ("cache", "prune", "--older-than", "abc"),
    ("cache", "clear"),
    ("env", "--bogus"),
]


@pytest.mark.parametrize("argv", JSON_CASES, ids=" ".join)
def test_every_json_command_reports_errors_as_json(
    argv: tuple[str, ...], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)
    rc, out, err = run(capsys, *argv, "--json")
    assert rc in (1, 2), err
    error = json.loads(out)["error"]
    assert error["exit_code"] == rc
    assert error["type"] and error["message"]
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].endswith(error["message"])


def test_usage_errors_carry_the_subcommand_usage(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, err = run(capsys, "pull", "--json")
    error = json.loads(out)["error"]
    assert rc == 2 and error["type"] == "UsageError"
    assert error["usage"].startswith("usage: modelhub pull")
    assert err.splitlines()[-1] == (
        "modelhub pull: error: give a model NAME or --lock FILE (not both)"
    )


@pytest.mark.parametrize(
    ("argv", "usage"),
    [
        (("list", "--bogus"), "usage: modelhub list "),
        (("cache", "ls", "--bogus"), "usage: modelhub cache ls "),
        (("catalog", "status", "--bogus"), "usage: modelhub catalog status "),
        (("env", "--bogus"), "usage: modelhub env "),
    ],
)
def test_an_unknown_option_shows_the_usage_of_its_subcommand(
    argv: tuple[str, ...], usage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, err = run(capsys, *argv)
    assert rc == 2 and out == ""
    assert err.startswith(usage), err
    prog = usage.removeprefix("usage: ").strip()
    assert err.splitlines()[-1] == f"{prog}: error: unrecognized arguments: --bogus"


def _raise(exc: BaseException) -> Any:
    def handler(args: Any) -> int:
        raise exc

    return handler


def test_an_internal_error_is_one_line_asking_for_a_report(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cmd_env, "cmd_env", _raise(ZeroDivisionError("boom")))
    rc, out, err = run(capsys, "env")
    assert rc == 2 and out == ""
    [line] = err.splitlines()
    assert line.startswith("modelhub: internal error: ZeroDivisionError: boom")
    assert "report" in line and "--debug" in line and "Traceback" not in err

    rc, out, err = run(capsys, "--debug", "env", "--json")
    assert rc == 2
    assert "Traceback (most recent call last)" in err and "ZeroDivisionError: boom" in err
    assert err.splitlines()[-1].startswith("modelhub: internal error: ZeroDivisionError")
    error = json.loads(out)["error"]
    assert error == {"type": "ZeroDivisionError", "message": "boom", "exit_code": 2}


def test_ctrl_c_is_one_line_and_exit_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cmd_env, "cmd_env", _raise(KeyboardInterrupt()))
    rc, out, err = run(capsys, "env")
    assert (rc, out, err.strip()) == (130, "", "modelhub: interrupted")


def test_an_os_error_is_the_environments_not_a_bug(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    denied = PermissionError(13, "Permission denied", "/srv/models/x")
    monkeypatch.setattr(cmd_env, "cmd_env", _raise(denied))
    rc, out, err = run(capsys, "env", "--json")
    assert rc == 2
    assert err.strip() == "modelhub: error: /srv/models/x: Permission denied"
    error = json.loads(out)["error"]
    assert error["type"] == "PermissionError" and error["path"] == "/srv/models/x"
    assert error["errno"] == 13


def test_error_objects_carry_the_fields_the_error_has() -> None:
    fetch = error_dict(FetchError("HTTP 404", url="https://h/x.zip", status=404), 2)
    assert fetch == {
        "type": "FetchError",
        "message": "HTTP 404",
        "exit_code": 2,
        "url": "https://h/x.zip",
        "status": 404,
    }
    card = error_dict(CardError("bad YAML", path="/c/a.md", line=3), 1)
    assert (card["path"], card["line"]) == ("/c/a.md", 3)
    assert card["message"] == "/c/a.md:3: bad YAML"
    missing = error_dict(ModelNotFound("no", name="x", suggestions=("y", "z")), 1)
    assert missing["suggestions"] == ["y", "z"]
    json.dumps([fetch, card, missing])  # all plain JSON
