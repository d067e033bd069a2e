"""`postback demo`: the settings it runs with, and a full run as a real process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr

from postback.demo import DEMO_DATABASE_URL, DEMO_RETRY_SCHEDULE, demo_settings
from postback.settings import Settings


def test_default_database_becomes_a_fresh_demo_database() -> None:
    setup = demo_settings(Settings(database_url="sqlite:///./postback.db", admin_key=None))

    assert setup.fresh_database
    assert setup.settings.database_url == DEMO_DATABASE_URL
    assert setup.settings.allow_private_targets
    assert setup.settings.retry_schedule == DEMO_RETRY_SCHEDULE
    assert setup.settings.retry_delays == (1.0, 2.0, 5.0)
    assert setup.settings.admin_key is not None
    assert setup.settings.admin_key.get_secret_value() == setup.admin_key
    assert len(setup.admin_key) >= 16


def test_given_database_and_admin_key_are_kept(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mine.db'}"
    key = "k" * 24
    setup = demo_settings(Settings(database_url=url, admin_key=SecretStr(key)))

    assert not setup.fresh_database
    assert setup.settings.database_url == url
    assert setup.admin_key == key
    assert setup.settings.allow_private_targets


@pytest.mark.e2e
def test_demo_runs_end_to_end_and_delivers(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("POSTBACK_")}
    env["COLUMNS"] = "200"  # keep the summary lines unwrapped
    command = [sys.executable, "-m", "postback", "demo", "--port", "0", "--clicks", "40"]
    command.append("--no-keep-running")

    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90, check=False
    )

    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    found = re.search(r"deliveries: (\d+) delivered, (\d+) failed, (\d+) pending", done.stdout)
    assert found is not None, output
    delivered, failed, pending = (int(group) for group in found.groups())
    assert delivered > 0, output
    assert (failed, pending) == (0, 0), output
    assert "clicks: 40 sent, 40 redirected correctly" in done.stdout, output
    assert "demo checks passed" in done.stdout, output
    assert (tmp_path / "postback-demo.db").exists()


@pytest.mark.e2e
def test_demo_check_runs_its_checks_and_exits(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if not name.startswith("POSTBACK_")}
    env["COLUMNS"] = "200"
    command = [sys.executable, "-m", "postback", "demo", "--check", "--port", "0", "--clicks", "20"]

    done = subprocess.run(
        command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90, check=False
    )

    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "clicks: 20 sent, 20 redirected correctly" in done.stdout, output
    assert re.search(r"deliveries: [1-9]\d* delivered, 0 failed, 0 pending", done.stdout), output
    assert "demo checks passed" in done.stdout, output
    assert "press Ctrl-C" not in output, output
