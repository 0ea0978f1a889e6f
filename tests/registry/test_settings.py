"""Settings keep the behaviour of a frozen dataclass with Path fields, while
load_settings() keeps paths as text until they are read."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from modelhub.config import DEFAULT_BUCKET, Settings, load_settings


def test_paths_read_as_path_objects_with_pathlib_normalization(tmp_path: Path) -> None:
    env = {"MODELHUB_CACHE": f"{tmp_path}//cache/./", "MODELHUB_CARDS": f"a:~/b/::{tmp_path}/c"}
    s = load_settings(env)
    assert s.path_text("cache_dir") == str(tmp_path / "cache")
    assert s.path_text("cards") == ("a", str(Path.home() / "b"), str(tmp_path / "c"))
    assert s.cache_dir == tmp_path / "cache" and isinstance(s.cache_dir, Path)
    assert s.cards == (Path("a"), Path.home() / "b", tmp_path / "c")
    assert s.config_file is None
    assert s.path_text("cache_dir") == str(s.cache_dir)  # also once built


def test_config_file_path(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('cache_dir = "~/data"\ncards = ["x"]\nfsync = 0\n')
    s = load_settings({"MODELHUB_CONFIG": f"{tmp_path}//c.toml"})
    assert s.config_file == cfg and s.cache_dir == Path.home() / "data"
    assert s.cards == (Path("x"),) and s.extra == {"fsync": 0}


def test_frozen_comparable_picklable_and_changed_by_copy(tmp_path: Path) -> None:
    s = load_settings({"MODELHUB_CACHE": str(tmp_path)})
    with pytest.raises(AttributeError):
        s.offline = True  # type: ignore[misc]
    changed = s.with_changes(offline=True, cards=(tmp_path,))
    assert changed.offline and changed.cards == (tmp_path,) and not s.offline
    assert changed.path_text("cards") == (str(tmp_path),)
    with pytest.raises(TypeError):
        s.with_changes(no_such_field=1)
    assert s == load_settings({"MODELHUB_CACHE": str(tmp_path)}) and s != changed
    assert pickle.loads(pickle.dumps(changed)) == changed
    made = Settings(cache_dir=tmp_path)
    assert made.bucket == DEFAULT_BUCKET and made.extra == {} and made.folders == ("public/models",)
    assert repr(made).startswith(f"Settings(cache_dir={tmp_path!r}, offline=False, cards=()")
    with pytest.raises(TypeError):
        hash(made)  # holds a dict (extra), like the dataclass it replaces


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="/.a~", min_size=1, max_size=12))
def test_text_paths_are_what_pathlib_makes(raw: str) -> None:
    env = {"MODELHUB_CACHE": raw, "MODELHUB_CARDS": raw}
    try:
        path = Path(raw).expanduser()
    except RuntimeError:  # "~user" of no such user: the same error as before
        with pytest.raises(RuntimeError):
            load_settings(env)
        return
    s = load_settings(env)
    assert s.path_text("cache_dir") == str(path)
    assert s.path_text("cards") == (str(path),)
    assert s.cache_dir == path


@pytest.mark.parametrize("var", ["MODELHUB_LIB_VERSION", "MODELHUB_SPARK_VERSION"])
def test_version_target_without_a_number_is_a_config_error(var: str, tmp_path: Path) -> None:
    from modelhub.errors import ConfigError

    env = {"MODELHUB_CACHE": str(tmp_path)}
    with pytest.raises(ConfigError, match=f"{var}='bogus'"):
        load_settings({**env, var: "bogus"})
    field = var.removeprefix("MODELHUB_").lower()
    assert getattr(load_settings({**env, var: "3.4"}), field) == "3.4"
    cfg = tmp_path / "c.toml"
    cfg.write_text('lib_version = "latest"\n')
    with pytest.raises(ConfigError, match=r"'lib_version'.*'latest'"):
        load_settings({**env, "MODELHUB_CONFIG": str(cfg)})
