"""`vidflow --help` and `vidflow plan` never import litellm (it costs seconds)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO

PROBE = """
import sys
from vidflow.cli import main
try:
    rc = main({argv!r})
except SystemExit as e:
    rc = e.code
heavy = sorted(m for m in ("litellm", "openai", "boto3", "s3fs", "distributed") if m in sys.modules)
print("HEAVY=" + ",".join(heavy))
"""


def _heavy(argv: list[str]) -> str:
    proc = subprocess.run([sys.executable, "-c", PROBE.format(argv=argv)], cwd=REPO, capture_output=True, text=True)
    line = [l for l in proc.stdout.splitlines() if l.startswith("HEAVY=")]
    assert line, proc.stderr
    return line[0].removeprefix("HEAVY=")


def test_help_does_not_import_litellm():
    assert _heavy(["--help"]) == ""


def test_plan_does_not_import_litellm(tmp_path):
    assert _heavy(["plan", "recipes/quickstart.yaml", "--cache", str(tmp_path / "c")]) == ""


def test_the_litellm_import_is_detectable():
    """The probe itself works: importing litellm's parent package shows up."""
    proc = subprocess.run([sys.executable, "-c", "import sys, json; import vidflow.cli; import litellm; print('litellm' in sys.modules)"], capture_output=True, text=True, cwd=REPO)
    assert proc.stdout.strip() == "True"
