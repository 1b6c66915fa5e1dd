"""Progress: totals that never shrink, an ETA, what runs now, per-topic lines."""

from __future__ import annotations

import asyncio
import io
import re

from rich.console import Console

from tests.engine.util import BASE, project_settings, write
from vidflow.api import load_recipe_file, run
from vidflow.cli.progress import PlainProgress, RichProgress

# The json step's list is sized 5 before it exists (nothing says otherwise); the test model
# answers with 3 items: the total must not shrink when the plan turns out smaller.
RECIPE = BASE.format(topics='["One", "Two", "Three"]') + """  facts:
    uses: writer
    output: json
    prompt: "facts about {{ topic }}"
  fact_art:
    for_each: facts.items
    uses: painter
    prompt: "{{ item }}"
"""

LINE = re.compile(r"^\[(\d+)/(~?)(\d+)(?: eta [^\]]+)?\] ")


def test_plain_progress_totals_never_decrease_and_count_every_node(project, registry, calls):
    loaded = load_recipe_file(write(project, RECIPE), registry=registry)
    stream = io.StringIO()
    result = asyncio.run(run(loaded, settings=project_settings(project), output_root=str(project), sink=PlainProgress(stream)))
    assert result.exit_code == 0
    lines = stream.getvalue().splitlines()
    counts = [LINE.match(line) for line in lines]
    assert lines and all(counts), [l for l, m in zip(lines, counts) if not m][:3]
    done = [int(m.group(1)) for m in counts]
    totals = [int(m.group(3)) for m in counts]
    assert totals == sorted(totals), totals  # never shrinks
    assert done == sorted(done) and all(d <= t for d, t in zip(done, totals))
    assert done[-1] == len(result.summary.nodes) == 3 * (1 + 4 + 2 + 1 + 3)
    assert any(m.group(2) == "~" for m in counts)  # a forecast is marked as one
    assert "eta" in stream.getvalue()


def test_rich_progress_shows_totals_topics_and_what_runs(project, registry, calls):
    loaded = load_recipe_file(write(project, RECIPE), registry=registry)
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=160, color_system=None)
    with RichProgress(console) as progress:
        result = asyncio.run(run(loaded, settings=project_settings(project), output_root=str(project), sink=progress))
    assert result.exit_code == 0
    text = out.getvalue()
    assert progress.state.total == progress.state.done == len(result.summary.nodes)
    for name in ("all", "one", "two", "three", "script", "speech", "fact_art"):
        assert name in text, name
