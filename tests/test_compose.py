"""The compose files, read as Docker would (docker-compose config, offline): production
publishes no test helper and refuses to start without a real secret; the dev override's
mail catcher listens on loopback only."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = shutil.which("docker-compose")
pytestmark = pytest.mark.skipif(
    COMPOSE is None, reason="docker-compose is not installed (scripts/test.sh installs it)"
)


def config(*files: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "SMTP_URL", "BASE_URL")}
    args = [str(COMPOSE)] + [f"--file={ROOT / f}" for f in files] + ["config"]
    return subprocess.run(args, env={**base, **env}, capture_output=True, text=True, timeout=60, cwd=ROOT)


def published(service: dict[str, Any]) -> list[str]:
    return [str(p) for p in service.get("ports", [])]


def test_production_refuses_to_start_without_a_secret_key() -> None:
    result = config("docker-compose.yml", SMTP_URL="smtp://mail.example.com:25")
    assert result.returncode != 0
    assert "set SECRET_KEY" in result.stderr


def test_production_publishes_the_site_only() -> None:
    result = config("docker-compose.yml", SECRET_KEY="k" * 40, SMTP_URL="smtp://mail.example.com:25")
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    assert "mail" not in services
    exposed = {name: published(s) for name, s in services.items() if published(s)}
    assert list(exposed) == ["lb"]
    for name in ("app1", "app2"):
        env = services[name]["environment"]
        assert env["SECRET_KEY"] == "k" * 40
        assert env["CCR_TRUSTED_PROXIES"] == "172.28.0.10"
    assert services["lb"]["networks"]["default"]["ipv4_address"] == "172.28.0.10"


def test_the_dev_mail_catcher_listens_on_loopback_only() -> None:
    result = config(
        "docker-compose.yml", "docker-compose.dev.yml", SECRET_KEY="dev", SMTP_URL="smtp://mail:1025"
    )
    assert result.returncode == 0, result.stderr
    services = yaml.safe_load(result.stdout)["services"]
    ports = published(services["mail"])
    assert ports and all(p.startswith("127.0.0.1:") for p in ports), ports
    assert "mail" in services["app1"]["depends_on"]
