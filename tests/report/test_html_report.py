"""Must-show 5: the HTML report of a real 3-topic run, opened in headless Chromium.

One timeline bar per node that ran, three thumbnails (frames of the published mp4s as data:
JPEGs), and a screenshot whose lanes are not blank.
"""

from __future__ import annotations

import base64
import io
import json

import pytest
from PIL import Image

from tests.cache.gcutil import cli
from tests.report.chromium import Elements, dump_dom, screenshot
from vidflow.report_html import LANE_FILLS
from vidflow.run.ledger import EventType, read_events

pytestmark = [pytest.mark.ffmpeg, pytest.mark.slow]

RECIPE = """
vidflow: 1
name: report
topics: ["Why is the sky blue?", "How do bees make honey?", "Why do cats purr?"]
characters: [nova, pip]
providers:
  writer: {kind: text.offline, lines: 2, scenes: 1}
  voice: {kind: speech.espeak}
  painter: {kind: image.procedural}
steps:
  script: {uses: writer, output: dialogue, lines: 2, scenes: 1, prompt: "Explain {{ topic }}"}
  speech: {for_each: script.lines, uses: voice, text: "{{ item.text }}", voice: "{{ item.speaker }}"}
  art: {for_each: script.scenes, uses: painter, prompt: "{{ item.image_prompt }}", caption: "{{ item.caption }}"}
  video: {compose: vertical, width: 180, height: 320, fps: 10, preset: ultrafast, subtitles: plain}
  publish: {to: "out/{{ topic | slug }}.mp4"}
"""


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """The 3-topic run (with --report r.html), then a rerun that is all cached."""
    import os
    import shutil

    from tests.conftest import REPO

    root = tmp_path_factory.mktemp("html_report")
    shutil.copytree(REPO / "characters", root / "characters")
    (root / "recipe.yaml").write_text(RECIPE)
    with pytest.MonkeyPatch.context() as mp:
        for k in list(os.environ):
            if k.startswith("VIDFLOW_"):
                mp.delenv(k)
        mp.chdir(root)
        rc, out, err = cli("run", "recipe.yaml", "--report", "r.html", "--json")
        assert rc == 0, err
        first = json.loads(out)
        rc, out, err = cli("run", "recipe.yaml", "--json", "--new-run")  # a second run, served by the cache
        assert rc == 0, err
        second = json.loads(out)
        rc, _, err = cli("report", first["run_id"], "--html", "first.html")
        assert rc == 0, err
        rc, _, err = cli("report", "--html", "latest.html")  # the latest run: the cached one
        assert rc == 0, err
    return root, first, second


def _ran_nodes(root, summary) -> set[str]:
    events = read_events(str(root / summary["events"]))
    return {e.node for e in events if e.type is EventType.NODE_SUCCEEDED}


def test_one_bar_per_node_that_ran_and_three_thumbnails(ran, tmp_path):
    root, first, _ = ran
    dom = Elements(dump_dom(root / "r.html", tmp_path / "profile"))
    bars = [a["data-bar"] for a in dom.having("data-bar")]
    assert len(bars) == first["nodes"]["ran"] == len(_ran_nodes(root, first))
    assert set(bars) == _ran_nodes(root, first)
    lanes = [a["data-lane"] for t, a in dom.tags if t == "g" and "data-lane" in a]
    assert lanes == ["writer", "voice", "painter", "cpu"]
    thumbs = [a["src"] for t, a in dom.tags if t == "img" and (a.get("src") or "").startswith("data:image/jpeg;base64,")]
    assert len(thumbs) == 3
    for uri in thumbs:  # real frames: the right width, and not one flat colour
        img = Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))).convert("L")
        assert img.width == 240 and img.getextrema()[1] - img.getextrema()[0] > 40
    assert {a["data-topic"] for a in dom.having("data-topic")} == {"why-is-the-sky-blue", "how-do-bees-make-honey", "why-do-cats-purr"}
    text = "".join(dom.text)
    assert "cache hit rate" in text and "out/why-do-cats-purr.mp4" in text


def test_the_report_command_writes_the_same_report(ran):
    root, _, _ = ran
    strip = lambda p: (root / p).read_text().split("<header>", 1)[1]  # noqa: E731
    assert strip("first.html") == strip("r.html")


def test_a_cached_rerun_has_marks_and_no_bars(ran, tmp_path):
    root, _, second = ran
    dom = Elements(dump_dom(root / "latest.html", tmp_path / "profile"))
    assert dom.having("data-bar") == []
    assert len(dom.having("data-cached")) == second["nodes"]["cached"] > 0
    assert "100%" in "".join(dom.text)


def _bands(img: Image.Image) -> list[tuple[int, int, tuple[int, int, int]]]:
    """Horizontal bands painted in a lane colour: (first row, last row, colour)."""
    fills = [tuple(int(c[i:i + 2], 16) for i in (1, 3, 5)) for c in LANE_FILLS]
    px = img.load()
    bands: list[list] = []
    for y in range(img.height):
        counts = [sum(1 for x in range(img.width) if all(abs(a - b) <= 2 for a, b in zip(px[x, y], f))) for f in fills]
        best = max(range(len(fills)), key=counts.__getitem__)
        if counts[best] < 100:
            continue
        if bands and bands[-1][2] == fills[best] and bands[-1][1] >= y - 1:
            bands[-1][1] = y
        else:
            bands.append([y, y, fills[best]])
    return [tuple(b) for b in bands]


def test_screenshot_shows_every_lane_with_coloured_bars(ran, tmp_path):
    root, _, _ = ran
    img = Image.open(screenshot(root / "r.html", tmp_path / "profile", tmp_path / "shot.png")).convert("RGB")
    bands = [b for b in _bands(img) if b[1] - b[0] >= 8]
    assert len(bands) == 4, bands  # writer, voice, painter, cpu
    px = img.load()
    for top, bottom, _ in bands:
        coloured = sum(1 for y in range(top, bottom + 1) for x in range(img.width) if max(px[x, y]) - min(px[x, y]) > 80)
        assert coloured >= 8, f"the lane at rows {top}-{bottom} has no bar"
