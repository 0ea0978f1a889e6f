"""``modelhub env`` (what a bug report needs, secrets hidden) and
``modelhub completion bash|zsh`` (generated from the parser, no start-up cost)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modelhub import __version__
from modelhub.cli.app import main

REPO_ROOT = Path(__file__).resolve().parents[2]


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


@pytest.fixture
def configured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config file setting two keys, variables setting two others, secrets set."""
    config = tmp_path / "config.toml"
    config.write_text('bucket = "team-bucket"\ndownload_connections = 4\n', encoding="utf-8")
    monkeypatch.setenv("MODELHUB_CONFIG", str(config))
    monkeypatch.setenv("MODELHUB_OFFLINE", "1")
    monkeypatch.setenv("MODELHUB_CHUNK_MB", "32")
    monkeypatch.setenv("MODELHUB_S3_ENDPOINT", "http://minio:hunter2@127.0.0.1:9000")
    monkeypatch.setenv("HF_TOKEN", "hf_TopSecretToken")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "AwsSecretValue")
    monkeypatch.delenv("AWS_ACCESS_KEY_ID", raising=False)
    monkeypatch.setenv("MODELHUB_OFLINE", "1")  # a typo a bug report should show
    return config


def test_env_reports_settings_with_their_sources(
    configured: Path, isolated_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, _ = run(capsys, "env", "--json")
    assert rc == 0
    info = json.loads(out)
    assert info["modelhub"] == __version__
    assert info["python"]["version"] == ".".join(map(str, sys.version_info[:3]))
    assert info["platform"]
    assert set(info["packages"]) >= {
        "torch",
        "transformers",
        "onnxruntime",
        "sentence-transformers",
        "huggingface_hub",
        "boto3",
        "pyspark",
    }
    assert info["packages"]["boto3"]  # a dependency: always installed
    settings = {s["name"]: s for s in info["settings"]}
    assert settings["cache_dir"]["value"] == str(isolated_env)
    assert settings["cache_dir"]["source"] == "env MODELHUB_CACHE"
    assert settings["offline"] == {
        "name": "offline",
        "config_key": "offline",
        "variable": "MODELHUB_OFFLINE",
        "value": True,
        "source": "env MODELHUB_OFFLINE",
    }
    assert settings["bucket"]["value"] == "team-bucket"
    assert settings["bucket"]["source"] == f"config {configured}"
    assert settings["download_connections"]["value"] == 4
    assert settings["download_connections"]["source"] == f"config {configured}"
    assert (settings["download_chunk_mb"]["value"], settings["download_chunk_mb"]["source"]) == (
        32.0,
        "env MODELHUB_CHUNK_MB",
    )
    assert (settings["folders"]["value"], settings["folders"]["source"]) == (
        ["public/models"],
        "default",
    )
    assert info["config_file"] == str(configured)
    assert info["cache_dir"] == str(isolated_env)
    env = info["environment"]
    assert env["HF_TOKEN"] == "set" and env["AWS_SECRET_ACCESS_KEY"] == "set"
    assert env["AWS_ACCESS_KEY_ID"] == "not set"
    assert env["MODELHUB_OFLINE"] == "1"
    assert {"bert", "sparknlp_bert"} <= {loader["name"] for loader in info["loaders"]}
    # secrets never appear, in any form
    for secret in ("hf_TopSecretToken", "AwsSecretValue", "hunter2"):
        assert secret not in out
    assert settings["s3_endpoint"]["value"] == "http://***@127.0.0.1:9000"


def test_env_for_people(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = run(capsys, "env")
    assert rc == 0
    assert out.startswith(f"modelhub: {__version__}\npython: ")
    assert f"config file: {configured}" in out
    rows = {ln.split()[0]: ln.split() for ln in out.splitlines() if ln.strip()}
    assert rows["bucket"][-2:] == ["config", str(configured)]
    assert rows["offline"][-3:] == ["true", "env", "MODELHUB_OFFLINE"]
    assert "  HF_TOKEN: set" in out and "hf_TopSecretToken" not in out
    assert re.search(r"^  (torch|pyspark): (\S+|not installed)$", out, re.M)
    assert "\nloaders:\n" in out and "\ncache: " in out


def test_env_still_reports_with_a_broken_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "config.toml"
    bad.write_text("bucket = [unclosed\n", encoding="utf-8")
    monkeypatch.setenv("MODELHUB_CONFIG", str(bad))
    rc, out, _ = run(capsys, "env", "--json")
    info = json.loads(out)
    assert rc == 0 and "not valid TOML" in info["settings_error"]
    assert info["packages"] and info["loaders"]


def test_bash_completion_is_generated_and_completes_subcommands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, script, _ = run(capsys, "completion", "bash")
    assert rc == 0 and "_shtab_modelhub" in script
    path = tmp_path / "modelhub.bash"
    path.write_text(script, encoding="utf-8")
    assert subprocess.run(["bash", "-n", str(path)], capture_output=True).returncode == 0
    # what a user gets after `modelhub cache p<TAB>`
    probe = (
        f"source {path}; COMP_WORDS=(modelhub cache p); COMP_CWORD=2; "
        'COMP_LINE="modelhub cache p"; COMP_POINT=${#COMP_LINE}; _shtab_modelhub; '
        'echo "${COMPREPLY[@]}"'
    )
    done = subprocess.run(["bash", "-c", probe], capture_output=True, text=True)
    assert sorted(done.stdout.split()) == ["pin", "prune"], done.stderr


def test_zsh_completion_is_generated(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc, script, _ = run(capsys, "completion", "zsh")
    assert rc == 0 and script.startswith("#compdef modelhub")
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed: the script is produced but not syntax-checked")
    path = tmp_path / "_modelhub"
    path.write_text(script, encoding="utf-8")
    assert subprocess.run(["zsh", "-n", str(path)], capture_output=True).returncode == 0


def test_completion_costs_other_commands_nothing() -> None:
    """shtab (and importlib.metadata, for env) load only in their commands:
    `modelhub --help`, which registers every command, imports neither."""
    probe = (
        "import sys\n"
        "from modelhub.cli.app import main\n"
        "try:\n"
        "    main(['--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(' '.join(sorted(sys.modules)), file=sys.stderr)\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
    )
    assert "completion" in r.stdout and "env" in r.stdout
    imported = set(r.stderr.split())
    assert "modelhub.cli.cmd_env" in imported  # the probe sees the CLI's imports
    assert "shtab" not in imported and "importlib.metadata" not in imported
