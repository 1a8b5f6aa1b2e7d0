"""CCR_RATE_LIMITS: operators tune the rate limits without code."""

from __future__ import annotations

from pathlib import Path

import pytest

from ccr.config import RateLimit, Settings


def test_rate_limits_from_the_environment(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"CCR_DATA_DIR": str(tmp_path), "CCR_RATE_LIMITS": "message_user=600/10, login_ip=5/60"}
    )
    assert settings.rate_limits["message_user"] == RateLimit(600, 10)
    assert settings.rate_limits["login_ip"] == RateLimit(5, 60)
    assert (
        settings.rate_limits["register_ip"]
        == Settings.from_env({"CCR_DATA_DIR": str(tmp_path)}).rate_limits["register_ip"]
    )


@pytest.mark.parametrize("value", ["nope=1/1", "message_user=10", "message_user=ten/10", "login_ip=5/0"])
def test_bad_rate_limits_stop_with_a_clear_message(tmp_path: Path, value: str) -> None:
    with pytest.raises(SystemExit, match="CCR_RATE_LIMITS"):
        Settings.from_env({"CCR_DATA_DIR": str(tmp_path), "CCR_RATE_LIMITS": value})


@pytest.mark.parametrize(
    ("base_url", "origin"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("https://Care.Example.com:443/help/", "https://care.example.com"),
        ("HTTP://care.example.com:80", "http://care.example.com"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_the_allowed_origin_is_written_as_browsers_send_it(
    tmp_path: Path, base_url: str, origin: str
) -> None:
    assert Settings.from_env({"CCR_DATA_DIR": str(tmp_path), "BASE_URL": base_url}).origin == origin
