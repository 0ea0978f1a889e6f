"""`show`/`explain` answer what `modelhub.resolve()` would: the same default
folder, the installed loaders' engines; opt-outs search every folder and
accept any engine. Names with surrounding spaces resolve with a warning."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

import modelhub
from modelhub.cli.app import main
from modelhub.config import Settings
from modelhub.errors import ConfigError, ModelNotFound
from modelhub.registry.catalog.catalog import load_catalog
from modelhub.registry.catalog.resolve import reset_default_catalog
from modelhub.registry.catalog.resolve import resolve as registry_resolve

from .conftest import meta_line, write_copy

CLINICAL = "clinical/models"


@pytest.fixture
def folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Settings:
    """A clinical-only model, and a public model whose newest artifact has an
    engine no installed loader runs."""
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'folders = ["public/models", "{CLINICAL}"]\n')
    monkeypatch.setenv("MODELHUB_CONFIG", str(cfg))
    s = settings.with_changes(folders=("public/models", CLINICAL))
    write_copy(
        s,
        "public/models",
        "\n".join(
            [
                meta_line("gguf_bert", lib=(5, 4, 0), spark=(3, 4), engine="llamacpp"),
                meta_line("gguf_bert", lib=(5, 0, 0), spark=(3, 4), engine="onnx"),
            ]
        ),
    )
    write_copy(s, CLINICAL, meta_line("clinical_only_bert", lib=(3, 0, 0), spark=(3, 0)))
    reset_default_catalog()
    return s


def test_explain_defaults_to_the_folder_resolve_searches(
    folders: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ModelNotFound):
        modelhub.resolve("clinical_only_bert")
    assert main(["explain", "clinical_only_bert"]) == 1
    out = capsys.readouterr().out
    row = next(ln for ln in out.splitlines() if "clinical_only_bert_en" in ln)
    assert row.startswith("rejected") and "not public/models" in row
    assert main(["show", "clinical_only_bert"]) == 1
    assert "not public/models" in capsys.readouterr().err

    assert main(["explain", "clinical_only_bert", "--folder", "any", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["query"]["folder"] is None
    assert data["candidates"][0]["status"] == "picked"
    assert main(["show", "clinical_only_bert", "--folder", "any", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["record"]["folder"] == CLINICAL
    assert main(["explain", "clinical_only_bert", "--folder", CLINICAL]) == 0


def test_engines_default_to_the_installed_loaders(
    folders: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["explain", "gguf_bert"]) == 0
    out = capsys.readouterr().out.splitlines()
    rejected = next(ln for ln in out if ln.startswith("rejected"))
    assert "llamacpp" in rejected and "cannot be loaded here" in rejected
    assert next(ln for ln in out if ln.startswith("picked")).split()[2] == "5.0.0"
    assert main(["show", "gguf_bert", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["record"]["engine"] == "onnx"

    assert main(["explain", "gguf_bert", "--any-engine", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["query"]["engines"] is None
    assert data["candidates"][0]["engine"] == "llamacpp"
    assert data["candidates"][0]["status"] == "picked"
    assert main(["show", "gguf_bert", "--any-engine", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["record"]["engine"] == "llamacpp"
    assert main(["explain", "gguf_bert", "--engine", "llamacpp"]) == 0  # manual set still works
    assert capsys.readouterr().out.count("picked") == 1


def test_public_resolve_passes_the_installed_engines(folders: Settings) -> None:
    assert callable(modelhub.resolve)  # the function, though the submodule was imported
    assert modelhub.resolve("gguf_bert").record.engine == "onnx"
    assert modelhub.resolve("gguf_bert", engines=None).record.engine == "llamacpp"
    assert modelhub.resolve("gguf_bert", engines=["llamacpp"]).record.engine == "llamacpp"
    with pytest.raises(ConfigError, match="'latest'"):
        modelhub.resolve("gguf_bert", lib_version="latest")
    # the registry function itself stays without an engine filter by default
    assert registry_resolve("gguf_bert").record.engine == "llamacpp"
    catalog = load_catalog()
    assert catalog.resolve("gguf_bert").record.engine == "llamacpp"


def test_name_with_surrounding_spaces_resolves_with_a_warning(
    folders: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    catalog = load_catalog()
    with caplog.at_level(logging.WARNING, logger="modelhub"):
        art = registry_resolve("gguf_bert  ", catalog=catalog)
    assert art.name == "gguf_bert"
    assert [r.getMessage() for r in caplog.records if "'gguf_bert'" in r.getMessage()]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="modelhub"):
        registry_resolve("gguf_bert", catalog=catalog)
    assert not caplog.records
