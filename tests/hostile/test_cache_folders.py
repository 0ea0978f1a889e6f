"""Issue 14, points 8 (a FIFO in place of the catalog index hangs ``list``)
and 10 (a folder refused as a foreign cache still gets
``catalog/index-*.mhx`` written into it).
"""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.hostile.conftest import Hub, assert_clean_failure, snapshot, tree


@pytest.mark.xfail(strict=True, reason="issue 14 point 8: FIFO catalog index hangs list")
@pytest.mark.timeout(30)
def test_fifo_in_place_of_the_catalog_index_does_not_hang_list(hub: Hub) -> None:
    r = hub.mh("list")
    assert r.returncode == 0, r.stderr[-2000:]
    indexes = list((hub.cache / "catalog").glob("index-*"))
    assert indexes, sorted(tree(hub.cache))
    for index in indexes:
        index.unlink()
        os.mkfifo(index)  # nobody ever opens the other end
    try:
        r = hub.mh("list", timeout=6)
    except subprocess.TimeoutExpired:
        pytest.fail("`modelhub list` hung on a FIFO in place of the catalog index")
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    assert r.returncode in (0, 2), (r.returncode, r.stderr[-2000:])


@pytest.mark.xfail(strict=True, reason="issue 14 point 10: index written into a foreign folder")
@pytest.mark.timeout(60)
def test_nothing_is_written_into_a_folder_refused_as_a_foreign_cache(hub: Hub) -> None:
    foreign = hub.root / "thesis"
    foreign.mkdir()
    (foreign / "paper.tex").write_bytes(b"\\section{Results}\n")
    before = snapshot(foreign / "paper.tex")
    hub.env["MODELHUB_CACHE"] = str(foreign)

    r = hub.mh("cache", "ls")
    assert_clean_failure(r, 2)  # refused: not a modelhub cache
    for args in (["list"], ["show", "all_minilm_l6_v2"], ["catalog", "status"]):
        r = hub.mh(*args)
        assert "Traceback" not in r.stderr, r.stderr[-2000:]
        assert r.returncode in (0, 2), (args, r.returncode, r.stderr[-2000:])
        assert tree(foreign) == {"paper.tex"}, (args, sorted(tree(foreign)))
    assert snapshot(foreign / "paper.tex") == before


def test_control_maintenance_refuses_a_foreign_folder(hub: Hub) -> None:
    """Holds today: prune, rm and clear refuse and touch nothing."""
    foreign = hub.root / "thesis"
    foreign.mkdir()
    (foreign / "paper.tex").write_bytes(b"\\section{Results}\n")
    hub.env["MODELHUB_CACHE"] = str(foreign)
    for args in (["cache", "prune", "--yes"], ["cache", "clear", "--yes"]):
        assert_clean_failure(hub.mh(*args), 2)
    assert tree(foreign) == {"paper.tex"}
