"""A user's price file (VIDFLOW_PRICES): merged over vidflow's table, and any mistake in it is one
clear message naming the file and the line, exit 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from vidflow.errors import ConfigError
from vidflow.pricing import PriceTable

RECIPE = """\
vidflow: 1
name: prices
topics: ["Alpha"]
providers:
  w: {kind: text.offline}
steps:
  a: {uses: w, prompt: "Hello {{ topic }}"}
"""


def test_a_price_file_overrides_and_adds_entries(tmp_path):
    f = tmp_path / "prices.yaml"
    f.write_text("text:\n  openai/gpt-4o-mini: {input_per_mtok: 1.0, output_per_mtok: 2.0}\nimage:\n  my/model: {'512x512': 0.5, '*': 1}\n")
    table = PriceTable.load(f)
    assert table.text_cost("openai/gpt-4o-mini", 1_000_000, 1_000_000) == pytest.approx(3.0)
    assert table.image_cost("my/model", 512, 512) == 0.5 and table.image_cost("my/model", 1024, 1024) == 1.0
    assert table.speech_cost("openai/tts-1", 1000) == pytest.approx(0.015)  # untouched entries stay


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("text:\n  m: {input_per_mtok: abc}\n", 2, "must be a price in USD"),
        ("speech: [1, 2]\n", 1, "maps model names to prices"),
        ("text:\n  m:\n    inptu_per_mtok: 1\n", 3, "not a price field; use `input_per_mtok`"),
        ("voices: {}\n", 1, "unknown section `voices`"),
        ("text: {m: [1]\n", 2, "YAML syntax error"),
        ("image: {m: {'1024x1024': -1}}\n", 1, "a number, 0 or more"),
        ("video: {m: {per_second: .inf}}\n", 1, "a number, 0 or more"),
        ("- 1\n- 2\n", 1, "a mapping with sections"),
    ],
)
def test_every_mistake_names_the_file_and_line(tmp_path, text, line, says):
    f = tmp_path / "prices.yaml"
    f.write_text(text)
    with pytest.raises(ConfigError) as e:
        PriceTable.load(f)
    assert str(e.value).startswith(f"{f}:{line}") and says in str(e.value)


def test_the_cli_exits_2_on_a_bad_price_file_without_a_traceback(tmp_path):
    (tmp_path / "r.yaml").write_text(textwrap.dedent(RECIPE))
    (tmp_path / "p.yaml").write_text("speech: [1, 2]\n")
    proc = subprocess.run([sys.executable, "-m", "vidflow", "plan", "r.yaml"], cwd=tmp_path, capture_output=True, text=True,
                          env={**__import__("os").environ, "VIDFLOW_PRICES": "p.yaml"}, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "p.yaml:1" in proc.stderr and "Traceback" not in proc.stderr
