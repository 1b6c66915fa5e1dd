"""The layer contract in pyproject.toml holds: imports point down, no cycles (import-linter)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO


def test_imports_point_down_the_layers_and_form_no_cycles():
    lint = subprocess.run(
        [sys.executable, "-c", "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())", "--no-cache"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )
    assert lint.returncode == 0, lint.stdout[-4000:] + lint.stderr[-2000:]
    assert "Contracts: 2 kept, 0 broken." in lint.stdout
