"""One validation path for every setting (issue 14, point 9; issue 15): a
bad value is a ConfigError naming the variable and its config key, whether it
came from the environment or the config file, and nothing else reads
``MODELHUB_*`` but :mod:`modelhub.config`."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from modelhub.config import ENV, KNOBS, load_settings
from modelhub.errors import ConfigError

PACKAGE = Path(__file__).resolve().parents[2] / "modelhub"


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    # no config file unless a test writes one (the default location is read
    # from the process environment)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return {"MODELHUB_CACHE": str(tmp_path / "cache")}


@pytest.mark.parametrize(
    ("var", "value", "problem"),
    [
        ("MODELHUB_FSYNC", "banana", "is not a boolean"),
        ("MODELHUB_DIRECT_IO", "maybe", "is not a boolean"),
        ("MODELHUB_TRUST_UNRECORDED", "sure", "is not a boolean"),
        ("MODELHUB_CONNECTIONS", "inf", "is not a finite number"),
        ("MODELHUB_CONNECTIONS", "1e400", "is not a finite number"),
        ("MODELHUB_CONNECTIONS", "2.5", "is not a whole number"),
        ("MODELHUB_CHUNK_MB", "abc", "is not a number"),
        ("MODELHUB_CHUNK_MB", "1e-9", "must be at least"),  # 0-byte chunks
        ("MODELHUB_CHUNK_MB", "nan", "is not a finite number"),
        ("MODELHUB_RETRIES", "abc", "is not a number"),
        ("MODELHUB_RETRIES", "-5", "must be more than 0"),
        ("MODELHUB_RETRY_BASE", "-1", "must be more than 0"),
        ("MODELHUB_RETRY_TOTAL", "inf", "is not a finite number"),
        ("MODELHUB_READ_TIMEOUT", "0", "must be more than 0"),
        ("MODELHUB_LOCK_STALE", "-5", "must be more than 0"),
        ("MODELHUB_EXTRACT_MAX_GB", "1e400", "is not a finite number"),
        ("MODELHUB_EXTRACT_MAX_FILES", "ten", "is not a number"),
        ("MODELHUB_EXTRACT_MAX_RATIO", "-inf", "is not a finite number"),
        ("MODELHUB_S3_ENDPOINT", "not a url", "is not a URL"),
        ("MODELHUB_S3_ENDPOINT", "ftp://host/", "is not a URL"),
        ("HF_ENDPOINT", "huggingface.co", "is not a URL"),
    ],
)
def test_a_bad_variable_is_a_config_error_naming_it_and_its_key(
    env: dict[str, str], var: str, value: str, problem: str
) -> None:
    key = next((k.key for k in KNOBS.values() if k.env == var), "s3_endpoint")
    with pytest.raises(ConfigError) as caught:
        load_settings({**env, var: value})
    msg = str(caught.value)
    assert f"{var}={value!r}" in msg and f"'{key}'" in msg and problem in msg


@pytest.mark.parametrize(
    ("line", "key", "problem"),
    [
        ("extract_max_ratio = true", "extract_max_ratio", "is not a number"),  # bool is no number
        ("download_connections = 1e400", "download_connections", "is not a finite number"),
        ("download_connections = inf", "download_connections", "is not a finite number"),
        ("download_chunk_mb = 0", "download_chunk_mb", "must be more than 0"),
        ('retries = "many"', "retries", "is not a number"),
        ('fsync = "banana"', "fsync", "is not a boolean"),
        ("fsync = 7", "fsync", "is not a boolean"),
        ('s3_endpoint = "not a url"', "s3_endpoint", "is not a URL"),
        ('hf_endpoint = "file:///etc"', "hf_endpoint", "is not a URL"),
        ("cache_dir = 5", "cache_dir", "must be a path"),
        ("offline = 1", "offline", "must be true or false"),
        ("cards = 3", "cards", "must be a string or a list"),
        ("mirrors = [1]", "mirrors", "must be a string or a list"),
    ],
)
def test_a_bad_config_value_is_a_config_error_naming_the_file_key_and_variable(
    env: dict[str, str], tmp_path: Path, line: str, key: str, problem: str
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text(line + "\n")
    with pytest.raises(ConfigError) as caught:
        load_settings({**env, "MODELHUB_CONFIG": str(cfg)})
    msg = str(caught.value)
    var = KNOBS[key].env if key in KNOBS else ENV[key]
    assert str(cfg) in msg and f"'{key}'" in msg and var in msg and problem in msg


def test_good_values_are_typed_fields(env: dict[str, str], tmp_path: Path) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("fsync = false\nextract_max_ratio = 50\ndownload_chunk_mb = 0.5\n")
    s = load_settings(
        {
            **env,
            "MODELHUB_CONFIG": str(cfg),
            "MODELHUB_RETRIES": "3",
            "MODELHUB_DIRECT_IO": "off",
            "MODELHUB_READ_TIMEOUT": "2.5",
            "HF_ENDPOINT": "http://127.0.0.1:9/",
        }
    )
    assert s.fsync is False and s.direct_io is False and s.retries == 3
    assert s.extract_max_ratio == 50.0 and s.download_chunk == 512 * 1024
    assert s.read_timeout == 2.5 and s.hf_endpoint == "http://127.0.0.1:9/"
    # the variable wins over the file
    assert load_settings({**env, "MODELHUB_CONFIG": str(cfg), "MODELHUB_FSYNC": "1"}).fsync


def test_a_binary_config_file_is_a_config_error_naming_it(
    env: dict[str, str], tmp_path: Path
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff\xfe binary")
    with pytest.raises(ConfigError, match="not UTF-8") as caught:
        load_settings({**env, "MODELHUB_CONFIG": str(cfg)})
    assert str(cfg) in str(caught.value)


def test_a_config_path_that_is_a_folder_says_so(env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "conf.d"
    folder.mkdir()
    with pytest.raises(ConfigError, match="is a folder") as caught:
        load_settings({**env, "MODELHUB_CONFIG": str(folder)})
    assert "MODELHUB_CONFIG" in str(caught.value)
    # the default location too
    (tmp_path / "xdg" / "modelhub" / "config.toml").mkdir(parents=True)
    with pytest.raises(ConfigError, match="is a folder"):
        load_settings(env)


def test_an_unknown_config_key_is_an_error_with_a_suggestion(
    env: dict[str, str], tmp_path: Path
) -> None:
    cfg = tmp_path / "config.toml"
    cfg.write_text("fsycn = false\n")
    with pytest.raises(ConfigError, match="unknown config key 'fsycn'; did you mean 'fsync'"):
        load_settings({**env, "MODELHUB_CONFIG": str(cfg)})


def test_only_config_reads_modelhub_variables() -> None:
    """No module but config.py reads the environment for a MODELHUB_* or
    HF_ENDPOINT variable (a name in a message comes from config's tables)."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "config.py":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                text = node.value
                if text == "HF_ENDPOINT" or (text.startswith("MODELHUB_") and text.isupper()):
                    offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno} {text}")
    assert offenders == []


def test_settings_annotations_are_typed() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in sorted(PACKAGE.rglob("*.py"))
        if "settings: Any" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []
