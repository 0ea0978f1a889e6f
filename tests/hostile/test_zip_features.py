"""Issue 14, point 7 (zip cases): unsupported zip features in a download.

A zip member whose name has the UTF-8 flag but invalid bytes, an encrypted
member, a deflate64 member (method 9), a 300-character name, and members
``x`` and ``x/y`` (a name that is both a file and a folder). Each must be a
typed error naming the member, not a traceback, and ``pull`` must go on to
the next source: here the card's Hugging Face upstream, which serves a good
model.
"""

from __future__ import annotations

import pytest

from tests.hostile.conftest import GOOD_FILES, Hub, Member, raw_zip

BAD_ZIPS = {
    "utf8_flag_invalid_bytes": [
        Member(b"metadata/part-00000", GOOD_FILES["metadata/part-00000"]),
        Member(b"bad-\xff\xfe-name.txt", b"x" * 100, flags=0x800),
    ],
    "encrypted_member": [
        Member(b"metadata/part-00000", GOOD_FILES["metadata/part-00000"]),
        Member(b"secret.bin", b"s" * 100, flags=0x1),
    ],
    "deflate64_member": [
        Member(b"metadata/part-00000", GOOD_FILES["metadata/part-00000"]),
        Member(b"weights.bin", b"w" * 1000, method=9),
    ],
    "name_300_chars": [
        Member(b"metadata/part-00000", GOOD_FILES["metadata/part-00000"]),
        Member(b"n" * 300, b"long name"),
    ],
    "file_and_folder": [
        Member(b"metadata/part-00000", GOOD_FILES["metadata/part-00000"]),
        Member(b"x", b"a file"),
        Member(b"x/y", b"a file inside the file"),
    ],
}


def _pull_falls_through(hub_hf: Hub, case: str) -> None:
    name = f"zip_{case}"
    path = hub_hf.publish(name, raw_zip(BAD_ZIPS[case]), hf_repo=f"hostile/{name}")
    r = hub_hf.mh("pull", name, "--json")
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert r.returncode == 0, (r.returncode, r.stderr[-3000:])
    assert hub_hf.server.gets(path), "the zip source was never tried"
    assert '"kind": "hf"' in r.stdout, r.stdout  # served by the next source
    assert hub_hf.hf is not None and hub_hf.hf.gets, "the Hub was never asked"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("case", list(BAD_ZIPS))
def test_unsupported_zip_feature_is_typed_and_next_source_is_tried(hub_hf: Hub, case: str) -> None:
    _pull_falls_through(hub_hf, case)


def test_control_a_missing_zip_falls_through_to_the_hub(hub_hf: Hub) -> None:
    """The harness itself: a zip source that answers 404 gives way to the Hub."""
    name = "zip_control_missing"
    path = hub_hf.publish(name, None, hf_repo=f"hostile/{name}")
    r = hub_hf.mh("pull", name, "--json")
    assert "Traceback" not in r.stderr, r.stderr[-3000:]
    assert r.returncode == 0, (r.returncode, r.stderr[-3000:])
    assert hub_hf.server.gets(path)
    assert '"kind": "hf"' in r.stdout, r.stdout
