"""Loader discovery through the entry-point group, priority, forcing a loader,
and NoLoaderError — with a real third-party distribution on sys.path."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from modelhub.cli.app import main
from modelhub.errors import NoLoaderError
from modelhub.loaders import (
    accepted_engines,
    discover,
    get_loader,
    installed_loaders,
    load_path,
    select_loader,
)

PLUGIN = """
from modelhub.loaders.base import Loader


class MarkerLoader(Loader):
    name = "marker"
    priority = 500
    formats = ("marker-dir",)
    engines = ("marker-engine",)
    summary = "directories holding marker.txt"

    def accepts(self, path, record):
        return None if (path / "marker.txt").is_file() else "no marker.txt"

    def load(self, path, record, **options):
        return ("marker", path, options)


class LowLoader(Loader):
    name = "low"
    priority = -5
    formats = ("anything",)
    annotators = ("OddEmbeddings",)

    def accepts(self, path, record):
        return None if path.is_dir() else "not a directory"

    def load(self, path, record, **options):
        return ("low", path, options)


NOT_A_LOADER = object()
"""

ENTRY_POINTS = """\
[modelhub.loaders]
marker = fakeloaders_mh:MarkerLoader
low = fakeloaders_mh:LowLoader
broken = fakeloaders_mh_missing:Nope
notaloader = fakeloaders_mh:NOT_A_LOADER
"""


@pytest.fixture(scope="session")
def plugin_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A site directory with an installed third-party distribution
    (``fakeloaders-mh``) that registers loaders under ``modelhub.loaders``."""
    site = tmp_path_factory.mktemp("site")
    (site / "fakeloaders_mh.py").write_text(textwrap.dedent(PLUGIN), encoding="utf-8")
    info = site / "fakeloaders_mh-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: fakeloaders-mh\nVersion: 0.1\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(ENTRY_POINTS, encoding="utf-8")
    return site


@pytest.fixture
def with_plugin(plugin_site: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(plugin_site))
    return plugin_site


def test_builtin_bert_loader_registers_through_the_entry_point_group() -> None:
    [entry] = [e for e in discover() if e.name == "bert"]
    assert entry.entry_point == "bert = modelhub.loaders.bert:BertLoader"
    assert entry.distribution == "modelhub"
    assert entry.loader is not None and entry.loader.formats == ("hf-transformers",)
    assert "pytorch" in accepted_engines()


def test_third_party_loaders_are_found_and_ordered_by_priority(with_plugin: Path) -> None:
    loaders = installed_loaders()
    names = [lo.name for lo in loaders]
    # Built-ins other than bert (the Spark NLP zip loader) sit between by priority.
    assert [n for n in names if n in {"marker", "bert", "low"}] == ["marker", "bert", "low"]
    assert [lo.priority for lo in loaders] == sorted((lo.priority for lo in loaders), reverse=True)
    entries = {e.name: e for e in discover()}
    assert entries["marker"].distribution == "fakeloaders-mh"
    # Broken plugins are reported, not fatal, and listed after working ones.
    assert entries["broken"].loader is None and "ModuleNotFoundError" in entries["broken"].error
    assert entries["notaloader"].loader is None and "not a" in entries["notaloader"].error
    assert [e.name for e in discover()][-2:] == ["broken", "notaloader"]
    assert {"marker-engine", "pytorch"} <= set(accepted_engines())


def test_highest_priority_loader_that_accepts_wins(
    with_plugin: Path, tiny_bert: Path, copy_of
) -> None:
    assert select_loader(tiny_bert).name == "bert"  # marker declines, bert beats low
    d = copy_of(tiny_bert)
    (d / "marker.txt").write_text("x")
    assert select_loader(d).name == "marker"
    kind, path, options = load_path(d, device="cpu", answer=42)
    assert (kind, path, options) == ("marker", d, {"device": "cpu", "answer": 42})


def test_a_loader_can_be_forced(with_plugin: Path, tiny_bert: Path, tmp_path: Path) -> None:
    assert select_loader(tiny_bert, loader="low").name == "low"
    assert load_path(tiny_bert, loader="low")[0] == "low"
    with pytest.raises(NoLoaderError, match=r"'marker' does not accept .*no marker\.txt"):
        select_loader(tiny_bert, loader="marker")
    with pytest.raises(NoLoaderError, match=r"no installed loader is named 'nope'.*bert"):
        get_loader("nope")


def test_annotator_filter(with_plugin: Path, tmp_path: Path) -> None:
    assert select_loader(tmp_path, annotator="OddEmbeddings").name == "low"
    with pytest.raises(NoLoaderError, match="does not serve annotator BertEmbeddings"):
        select_loader(tmp_path, annotator="BertEmbeddings")


def test_no_loader_error_lists_installed_loaders_and_what_they_accept(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not a model")
    with pytest.raises(NoLoaderError) as info:
        load_path(tmp_path)
    msg = str(info.value)
    assert str(tmp_path) in msg
    assert "bert (priority 100; accepts Hugging Face transformers directory" in msg
    assert "no config.json" in msg


@pytest.mark.parametrize(
    ("config", "files", "reason"),
    [
        ({"model_type": "gpt2"}, ["model.safetensors"], "'gpt2' is not a BERT-family encoder"),
        (
            {"model_type": "evil", "auto_map": {"AutoModel": "x.Y"}},
            ["model.safetensors"],
            "never runs remote code",
        ),
        ({"model_type": "bert"}, ["tokenizer.json"], "no weights"),
        ({"model_type": "bert"}, ["model.safetensors"], "no tokenizer"),
    ],
)
def test_bert_loader_says_why_it_declines(
    tmp_path: Path, config: dict, files: list[str], reason: str
) -> None:
    (tmp_path / "config.json").write_text(json.dumps(config))
    for f in files:
        (tmp_path / f).write_bytes(b"{}")
    assert reason in get_loader("bert").accepts(tmp_path, None)


def test_cli_loaders_lists_installed_and_broken(with_plugin: Path, capsys) -> None:
    assert main(["loaders"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0].split()[:2] == ["NAME", "PRIORITY"]
    table = lines[: lines.index("")]
    listed = [ln.split()[0] for ln in table[1:]]
    others = [n for n in listed if n != "sparknlp_transformer"]
    assert others == ["marker", "bert", "sparknlp_bert", "low", "broken", "notaloader"]
    if "sparknlp_transformer" in listed:  # installed from this pyproject.toml (priority 80)
        assert listed.index("sparknlp_bert") < listed.index("sparknlp_transformer") < 3 + 1
    assert "directories holding marker.txt" in out
    assert "BROKEN: ModuleNotFoundError" in out
    assert main(["loaders", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    bert = next(r for r in rows if r["name"] == "bert")
    assert bert["entry_point"] == "bert = modelhub.loaders.bert:BertLoader"
    assert bert["priority"] == 100 and "hf-transformers" in bert["formats"]


def test_cli_loaders_shows_annotators_by_engine(capsys) -> None:
    """After the loaders, one row per Spark NLP transformer annotator: the loader that
    runs it with each engine, "n/a" where Spark NLP has no such engine."""
    assert main(["loaders"]) == 0
    lines = capsys.readouterr().out.splitlines()
    matrix = lines[lines.index("") + 1 :]
    assert matrix[0].split() == ["ANNOTATOR", "TENSORFLOW", "ONNX", "OPENVINO", "HUGGINGFACE"]
    rows = {ln.split()[0]: ln.split()[1:] for ln in matrix[1:]}
    assert rows["BertEmbeddings"][:2] == ["sparknlp_bert", "sparknlp_bert"]
    assert rows["BertEmbeddings"][3] == "bert"
    assert rows["XlnetEmbeddings"][1:3] == ["n/a", "n/a"]  # XLNet is TensorFlow only
    assert "InstructorEmbeddings" in rows and "UniversalSentenceEncoder" not in rows
    assert main(["loaders", "--json"]) == 0
    spark = next(r for r in json.loads(capsys.readouterr().out) if r["name"] == "sparknlp_bert")
    assert ["BertSentenceEmbeddings", "onnx"] in spark["served"]
    assert all(annotator.startswith("Bert") for annotator, _ in spark["served"])


def test_listing_loaders_does_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from modelhub.cli.app import main\n"
        "assert main(['loaders']) == 0\n"
        "import modelhub.loaders, modelhub.api\n"
        "print('HEAVY', [m for m in ('torch', 'transformers', 'numpy') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "bert" in out.stdout
    assert "HEAVY []" in out.stdout


def test_a_plugin_installed_while_running_is_found_at_the_next_call(
    plugin_site: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """discover() keeps its result while the import path is unchanged; installing a
    distribution into a folder already on the path changes that folder, and is seen."""
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    os.utime(site, ns=(0, 0))  # a stamp no later install can share
    assert "marker" not in [e.name for e in discover()]
    assert discover() == discover()  # unchanged path: the kept result
    shutil.copy(plugin_site / "fakeloaders_mh.py", site)
    shutil.copytree(plugin_site / "fakeloaders_mh-0.1.dist-info", site / "x-0.1.dist-info")
    assert "marker" in [e.name for e in discover()]
