"""The Hugging Face source under the download limits of modelhub's own engine
(issue 14, points 6 and 7, for the Hub): the overall deadline
(``MODELHUB_DOWNLOAD_DEADLINE``), the size ceiling (the listing's size for a
file, ``MODELHUB_DOWNLOAD_MAX_GB`` for anything else), redirects only to
http(s), at most 10, never in a loop, a cross-host final URL recorded.

huggingface_hub and httpx run for real against the suite's Hub server
(``HF_ENDPOINT`` points there, Xet is off), with faults injected server-side.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from modelhub.errors import FetchError, ModelhubError
from modelhub.registry.artifact import Source
from modelhub.registry.pulling import pull_result
from tests.fetch.conftest import artifact, entry_files, store, visible_state
from tests.hostile.conftest import Hub, assert_clean_failure, assert_ok
from tests.servers.hf import HubServer

REPO = "hostile/tiny-bert"


def repo_files() -> dict[str, bytes]:
    return {
        "config.json": json.dumps({"model_type": "bert", "hidden_size": 8}).encode(),
        "vocab.txt": b"[PAD]\n[UNK]\nhello\n",
        "model.safetensors": os.urandom(64 * 1024),
    }


def assert_nothing_left(cache: Path) -> None:
    """No entry, no staging directory, no huggingface_hub partial file."""
    st = store()
    assert visible_state(st) == {}
    entries = cache / "entries"
    assert not entries.exists() or not any(entries.iterdir())
    # huggingface_hub's own partial files, locks and metadata live under .cache/huggingface
    stray = [p for p in cache.rglob("*") if p.suffix == ".incomplete" or p.name == "huggingface"]
    assert stray == [], stray


def fails(hf_hub: HubServer, name: str = "tiny_bert") -> FetchError:
    with pytest.raises(ModelhubError) as exc:
        pull_result(artifact(Source("hf", REPO), name=name))
    assert isinstance(exc.value, FetchError), repr(exc.value)
    return exc.value


@pytest.mark.timeout(30)
def test_trickling_hub_file_is_cut_at_the_download_deadline(
    hf_hub: HubServer, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = repo_files()
    hf_hub.add_repo(REPO, files)
    weights = hf_hub.resolve_path(REPO, "model.safetensors")
    hf_hub.fault(weights, rate=2000.0)  # ~33 s for the whole file
    monkeypatch.setenv("MODELHUB_DOWNLOAD_DEADLINE", "2")
    t0 = time.monotonic()
    err = fails(hf_hub)
    assert time.monotonic() - t0 < 6, "the trickle outlived the 2 s deadline"
    assert "MODELHUB_DOWNLOAD_DEADLINE" in str(err) and hf_hub.endpoint in str(err), err
    assert hf_hub.bytes_sent[weights] < len(files["model.safetensors"])
    assert_nothing_left(isolated_env)


@pytest.mark.timeout(30)
def test_hub_that_never_answers_the_api_is_cut_at_the_deadline(
    hf_hub: HubServer, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The API calls (revision, listing) count against the same deadline."""
    commit = hf_hub.add_repo(REPO, repo_files())
    tree = f"/api/models/{REPO}/tree/{commit}"
    hf_hub.fault(tree, rate=50.0, overlong=10_000)  # a listing that takes 200 s
    monkeypatch.setenv("MODELHUB_DOWNLOAD_DEADLINE", "1.5")
    t0 = time.monotonic()
    err = fails(hf_hub)
    assert time.monotonic() - t0 < 6
    assert "MODELHUB_DOWNLOAD_DEADLINE" in str(err), err
    assert_nothing_left(isolated_env)


@pytest.mark.timeout(60)
def test_body_longer_than_the_listing_says_is_cut_at_its_size(
    hf_hub: HubServer, isolated_env: Path
) -> None:
    files = repo_files()
    hf_hub.add_repo(REPO, files)
    config = hf_hub.resolve_path(REPO, "config.json")
    hf_hub.fault(config, overlong=48 << 20)  # HEAD: the true size; GET: 48 MiB, no length
    err = fails(hf_hub)
    assert f"the {len(files['config.json'])} bytes the Hub's listing gives config.json" in str(
        err
    ), err
    # Socket buffers take a few MiB more than the client reads; a client
    # that reads the whole body takes all 48.
    assert hf_hub.bytes_sent[config] < 16 << 20
    assert_nothing_left(isolated_env)


@pytest.mark.timeout(60)
def test_gzip_bomb_is_cut_at_the_listed_size_when_decoded(
    hf_hub: HubServer, isolated_env: Path
) -> None:
    """A few KB of gzip that inflate to 256 MiB: counted decoded, cut at
    the listing's size, never written or held whole."""
    files = repo_files()
    hf_hub.add_repo(REPO, files)
    config = hf_hub.resolve_path(REPO, "config.json")
    hf_hub.fault(config, overlong=256 << 20, gzip=True)
    err = fails(hf_hub)
    assert "the Hub's listing gives config.json" in str(err), err
    assert_nothing_left(isolated_env)


def test_gzip_encoded_files_still_arrive_intact(hf_hub: HubServer) -> None:
    """The Hub sends text files gzip-encoded: decoded (here) and checked
    against the listing like any other."""
    files = repo_files()
    hf_hub.add_repo(REPO, files)
    for name in ("config.json", "vocab.txt", "model.safetensors"):
        hf_hub.fault(hf_hub.resolve_path(REPO, name), gzip=True)
    r = pull_result(artifact(Source("hf", REPO), name="tiny_bert"))
    assert entry_files(r.path) == files


def test_xet_offer_is_declined_so_the_bytes_stay_under_the_limits(
    hf_hub: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Xet on (hf_xet installed, HF_HUB_DISABLE_XET unset) the Hub's
    offer of a Xet download is removed: the file comes over HTTP, through
    the guarded client (hf_xet would try the server's refresh route, which
    answers 404, and fail)."""
    import importlib.util

    from huggingface_hub import constants

    if importlib.util.find_spec("hf_xet") is None:
        pytest.skip("hf_xet is not installed: huggingface_hub never uses Xet here")
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", False)  # as if the variable were unset
    files = repo_files()
    hf_hub.add_repo(REPO, files)
    weights = hf_hub.resolve_path(REPO, "model.safetensors")
    hf_hub.fault(weights, xet=True)
    r = pull_result(artifact(Source("hf", REPO), name="tiny_bert"))
    assert entry_files(r.path) == files
    assert hf_hub.gets[f"{REPO}/model.safetensors"] == 1  # over HTTP
    assert not any("no-xet-here" in c for c in hf_hub.api_calls)


@pytest.mark.timeout(60)
def test_api_body_of_unannounced_size_is_cut_at_the_download_ceiling(
    hf_hub: HubServer, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The listing answers without Content-Length and never ends: cut at
    MODELHUB_DOWNLOAD_MAX_GB (here about 1 KB), not read into memory."""
    commit = hf_hub.add_repo(REPO, {"config.json": b"{}", "vocab.txt": b"hi\n"})
    tree = f"/api/models/{REPO}/tree/{commit}"
    hf_hub.fault(tree, overlong=48 << 20)
    monkeypatch.setenv("MODELHUB_DOWNLOAD_MAX_GB", "0.000001")
    err = fails(hf_hub)
    assert "MODELHUB_DOWNLOAD_MAX_GB" in str(err) and tree in str(err), err
    assert hf_hub.bytes_sent[tree] < 16 << 20
    assert_nothing_left(isolated_env)


def test_listed_size_over_the_ceiling_is_refused_before_any_file_is_fetched(
    hf_hub: HubServer, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hf_hub.add_repo(REPO, repo_files())
    monkeypatch.setenv("MODELHUB_DOWNLOAD_MAX_GB", str(32 / 2**20))  # 32 KiB
    err = fails(hf_hub)
    assert "MODELHUB_DOWNLOAD_MAX_GB" in str(err) and "model.safetensors" in str(err), err
    assert sum(hf_hub.gets.values()) == 0
    assert_nothing_left(isolated_env)


@pytest.mark.timeout(60)
def test_redirect_to_a_file_url_is_refused(
    hf_hub: HubServer, isolated_env: Path, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_bytes(b"private bytes never to be cached\n")
    hf_hub.add_repo(REPO, repo_files())
    hf_hub.fault(hf_hub.resolve_path(REPO, "config.json"), redirect=secret.as_uri())
    err = fails(hf_hub)
    assert "not an http(s) URL; refused" in str(err) and secret.as_uri() in str(err), err
    for p in isolated_env.rglob("*"):
        if p.is_file():
            assert b"never to be cached" not in p.read_bytes(), p
    assert_nothing_left(isolated_env)


@pytest.mark.timeout(60)
def test_redirect_loop_is_refused(hf_hub: HubServer, isolated_env: Path) -> None:
    hf_hub.add_repo(REPO, repo_files())
    config = hf_hub.resolve_path(REPO, "config.json")
    hf_hub.fault(config, redirect=f"{hf_hub.endpoint}/loop-b")
    hf_hub.fault("/loop-b", redirect=f"{hf_hub.endpoint}{config}")
    err = fails(hf_hub)
    assert "redirect loop" in str(err), err
    assert len(hf_hub.api_calls) < 40  # bounded
    assert_nothing_left(isolated_env)


@pytest.mark.timeout(60)
def test_more_than_ten_redirects_are_refused(hf_hub: HubServer, isolated_env: Path) -> None:
    hf_hub.add_repo(REPO, repo_files())
    weights = hf_hub.resolve_path(REPO, "model.safetensors")
    hops = [f"/hop/{i}" for i in range(12)]
    hf_hub.fault(weights, redirect=f"{hf_hub.endpoint}{hops[0]}")
    for i, hop in enumerate(hops):
        nxt = hops[i + 1] if i + 1 < len(hops) else "/never"
        hf_hub.fault(hop, redirect=f"{hf_hub.endpoint}{nxt}")
    err = fails(hf_hub)
    assert "more than 10 redirects" in str(err), err
    assert_nothing_left(isolated_env)


def test_cross_host_final_url_is_recorded_and_the_pull_works(hf_hub: HubServer) -> None:
    """The weights redirect to another host (a CDN; here the same server
    under the name localhost): they are fetched from there and the manifest
    records where, without the query (signed URLs carry credentials)."""
    files = repo_files()
    hf_hub.add_repo(REPO, files)
    weights = hf_hub.resolve_path(REPO, "model.safetensors")
    port = hf_hub.endpoint.rsplit(":", 1)[1]
    cdn = f"http://localhost:{port}{weights}"
    hf_hub.fault(weights, redirect=f"{cdn}?X-Signature=secret", host=f"127.0.0.1:{port}")
    r = pull_result(artifact(Source("hf", REPO), name="tiny_bert"))
    assert entry_files(r.path) == files
    assert r.entry.manifest.download["final_urls"] == {"model.safetensors": cdn}
    again = store().lookup(r.entry.key)  # read back from manifest.json
    assert again is not None and again.manifest.download["final_urls"] == {"model.safetensors": cdn}
    assert hf_hub.gets[f"{REPO}/model.safetensors"] == 1  # from the CDN, once


def test_token_goes_to_the_hub_and_not_to_another_host(
    hf_hub: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """huggingface_hub's auth rules hold under the guard: HF_TOKEN on the
    Hub's requests, none on the CDN's."""
    files = repo_files()
    hf_hub.add_repo(REPO, files)
    weights = hf_hub.resolve_path(REPO, "model.safetensors")
    port = hf_hub.endpoint.rsplit(":", 1)[1]
    hf_hub.fault(weights, redirect=f"http://localhost:{port}{weights}", host=f"127.0.0.1:{port}")
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")
    r = pull_result(artifact(Source("hf", REPO), name="tiny_bert"))
    assert entry_files(r.path) == files
    hub = [a for host, _, a in hf_hub.auth if host.startswith("127.0.0.1")]
    cdn = [a for host, _, a in hf_hub.auth if host.startswith("localhost")]
    assert hub and all(a == "Bearer hf_test_token" for a in hub), hf_hub.auth
    assert cdn and all(a is None for a in cdn), hf_hub.auth


def test_ordinary_pull_keeps_the_users_client_factory(hf_hub: HubServer) -> None:
    """The fetch runs on the client the user's factory builds (proxies,
    certificates, hooks are theirs) and that factory is back afterwards."""
    import huggingface_hub
    from huggingface_hub.utils import _http

    seen: list[str] = []
    previous = getattr(_http, "_GLOBAL_CLIENT_FACTORY", _http.default_client_factory)

    def users_factory():
        client = _http.default_client_factory()
        client.event_hooks["request"].append(lambda req: seen.append(str(req.url)))
        return client

    huggingface_hub.set_client_factory(users_factory)
    try:
        files = repo_files()
        hf_hub.add_repo(REPO, files)
        r = pull_result(artifact(Source("hf", REPO), name="tiny_bert"))
        assert entry_files(r.path) == files
        assert "final_urls" not in r.entry.manifest.download  # same host: nothing recorded
        assert any("/resolve/" in u for u in seen), seen
        assert _http._GLOBAL_CLIENT_FACTORY is users_factory
    finally:
        huggingface_hub.set_client_factory(previous)


def test_concurrent_fetches_keep_their_own_limits(
    hf_hub: HubServer, isolated_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two pulls in two threads: one trickles past its deadline and fails,
    the other (sharing the Hub client) is not cut with it."""
    from huggingface_hub.utils import _http

    before = getattr(_http, "_GLOBAL_CLIENT_FACTORY", None)
    files = repo_files()
    hf_hub.add_repo(REPO, files)
    hf_hub.add_repo("hostile/other", files)
    hf_hub.fault(hf_hub.resolve_path(REPO, "model.safetensors"), rate=4000.0)
    monkeypatch.setenv("MODELHUB_DOWNLOAD_DEADLINE", "2")
    out: dict[str, object] = {}

    def pull(repo: str, name: str) -> None:
        try:
            out[name] = pull_result(artifact(Source("hf", repo), name=name))
        except Exception as exc:
            out[name] = exc

    threads = [
        threading.Thread(target=pull, args=(REPO, "slow")),
        threading.Thread(target=pull, args=("hostile/other", "fast")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert isinstance(out["slow"], FetchError), out
    assert "MODELHUB_DOWNLOAD_DEADLINE" in str(out["slow"])
    assert entry_files(out["fast"].path) == files  # type: ignore[attr-defined]
    assert getattr(_http, "_GLOBAL_CLIENT_FACTORY", None) is before


@pytest.mark.timeout(30)
def test_repair_of_hub_files_has_the_same_deadline(
    hf_hub: HubServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from modelhub.registry.fetch.sources.hf import fetch_hf_files

    commit = hf_hub.add_repo(REPO, repo_files())
    hf_hub.fault(hf_hub.resolve_path(REPO, "model.safetensors"), rate=2000.0)
    monkeypatch.setenv("MODELHUB_DOWNLOAD_DEADLINE", "1.5")
    t0 = time.monotonic()
    with pytest.raises(FetchError, match="MODELHUB_DOWNLOAD_DEADLINE"):
        fetch_hf_files(
            store(),
            f"hf/{REPO}@main",
            Source("hf", REPO),
            commit,
            ["model.safetensors"],
            endpoint=hf_hub.endpoint,
        )
    assert time.monotonic() - t0 < 6
    assert visible_state(store()) == {}


@pytest.mark.timeout(60)
def test_cli_pull_from_a_trickling_hub_exits_2_naming_the_setting(hub_hf: Hub) -> None:
    """Through the CLI: the documented exit status, no traceback, the
    endpoint and the setting named."""
    assert hub_hf.hf is not None
    name = "hf_trickle"
    hub_hf.publish(name, None, hf_repo=f"hostile/{name}")
    hub_hf.hf.add_repo(f"hostile/{name}", {**repo_files()})
    hub_hf.hf.fault(hub_hf.hf.resolve_path(f"hostile/{name}", "model.safetensors"), rate=2000.0)
    r = hub_hf.mh("pull", name, "--source", "hf", timeout=30, MODELHUB_DOWNLOAD_DEADLINE="2")
    assert_clean_failure(r, 2)
    assert "MODELHUB_DOWNLOAD_DEADLINE" in r.stderr and hub_hf.hf.endpoint in r.stderr, r.stderr
    # and without the fault the same pull works
    hub_hf.hf.faults.clear()
    assert_ok(hub_hf.mh("pull", name, "--source", "hf", timeout=30))
