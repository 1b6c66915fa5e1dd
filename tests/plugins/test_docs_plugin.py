"""The plugin example of docs/architecture.md works as printed.

Its ``file=`` blocks are written out as an installed package (module + dist-info with entry
points, plus the METADATA pip writes), and the CLI runs its recipe in a subprocess with that
folder on PYTHONPATH: the plugin's step is validated, planned, run and cached.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from tests.conftest import REPO

DOC = REPO / "docs" / "architecture.md"
BLOCK = re.compile(r"^```\w+ file=(?P<name>\S+)\n(?P<body>.*?)^```$", re.M | re.S)


def _files() -> dict[str, str]:
    return {m.group("name"): m.group("body") for m in BLOCK.finditer(DOC.read_text(encoding="utf-8"))}


def test_the_documented_plugin_is_validated_planned_run_and_cached(project):
    files = _files()
    assert {"recipe.yaml", "vidflow_shout/__init__.py", "vidflow_shout-0.1.dist-info/entry_points.txt"} <= set(files)
    site = project / "site"
    for name, body in files.items():
        target = (project if name == "recipe.yaml" else site) / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
    (site / "vidflow_shout-0.1.dist-info" / "METADATA").write_text("Metadata-Version: 2.1\nName: vidflow-shout\nVersion: 0.1\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIDFLOW_")}
    env["PYTHONPATH"] = os.pathsep.join([str(site), str(REPO)])

    def vidflow(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "vidflow", *args], cwd=project, env=env, capture_output=True, text=True, timeout=120)

    plan = vidflow("plan", "recipe.yaml", "--json")
    assert plan.returncode == 0, plan.stderr
    rows = {r["step"]: r for r in json.loads(plan.stdout)["rows"]}
    assert rows["shout"]["kind"] == "shout" and rows["shout"]["nodes"] == 4
    run = vidflow("run", "recipe.yaml", "--until", "shout", "--emit", "json")
    assert run.returncode == 0, run.stderr
    captions = [item["caption"] for t in json.loads(run.stdout)["topics"] for item in t["value"]]
    assert len(captions) == 4 and all(c == c.upper() and ": " in c for c in captions)
    again = vidflow("run", "recipe.yaml", "--until", "shout", "--json")
    assert again.returncode == 0, again.stderr
    nodes = json.loads(again.stdout)["nodes"]
    assert nodes["ran"] == 0 and nodes["cached"] == nodes["total"] == 5
    # a wrong value of the plugin's own key is a recipe error with file:line
    (project / "recipe.yaml").write_text(files["recipe.yaml"].replace("style: upper", "style: loud"))
    bad = vidflow("plan", "recipe.yaml")
    assert bad.returncode == 2 and "recipe.yaml:14:12: steps.shout.style" in bad.stderr and "Traceback" not in bad.stderr
