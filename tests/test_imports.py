"""Every module of the installed package imports alone, in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "import_each_module.py"


@pytest.mark.timeout(300)
def test_every_module_imports_alone() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=280, check=False
    )

    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert " 0 failed " in done.stdout, output
