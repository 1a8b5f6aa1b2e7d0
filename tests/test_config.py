"""Settings from the environment, and the generated secret key."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ccr.config import Settings


def test_defaults_with_nothing_set(tmp_path: Path) -> None:
    settings = Settings.from_env({"CCR_DATA_DIR": str(tmp_path)})
    assert settings.database_url is None
    assert settings.redis_url is None
    assert settings.smtp_url is None
    assert settings.redis_prefix == "ccr:"
    assert settings.base_url == "http://127.0.0.1:8000"
    assert settings.data_dir == tmp_path.resolve()


def test_secret_key_is_generated_once_with_mode_600(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = Settings.from_env({"CCR_DATA_DIR": str(data_dir)})
    path = data_dir / "secret_key"
    assert path.exists()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.secret_key) >= 32
    assert path.read_text().strip() == first.secret_key
    second = Settings.from_env({"CCR_DATA_DIR": str(data_dir)})
    assert second.secret_key == first.secret_key


def test_secret_key_from_the_environment_wins(tmp_path: Path) -> None:
    settings = Settings.from_env({"CCR_DATA_DIR": str(tmp_path), "SECRET_KEY": "from-env"})
    assert settings.secret_key == "from-env"
    assert not (tmp_path / "secret_key").exists()


def test_environment_is_read(tmp_path: Path) -> None:
    settings = Settings.from_env({
        "CCR_DATA_DIR": str(tmp_path),
        "DATABASE_URL": "postgresql://db/ccr",
        "REDIS_URL": "redis://cache:6379/1",
        "CCR_REDIS_PREFIX": "care:",
        "SMTP_URL": "smtp://mail:25",
        "BASE_URL": "https://care.example.com/",
    })  # fmt: skip
    assert settings.database_url == "postgresql://db/ccr"
    assert settings.redis_url == "redis://cache:6379/1"
    assert settings.redis_prefix == "care:"
    assert settings.smtp_url == "smtp://mail:25"
    assert settings.base_url == "https://care.example.com"
    assert settings.origin == "https://care.example.com"
    assert settings.secure_cookies


def test_a_base_url_that_is_not_an_origin_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="BASE_URL"):
        Settings.from_env({"CCR_DATA_DIR": str(tmp_path), "BASE_URL": "care.example.com"})
