"""Images are requested at the frame of the compose step that shows them (issue 11, item 1).

Two compose steps of one recipe (a 9:16 short and a 16:9 video) each with its own image step:
each image step asks for pictures at its own video's aspect, not the first compose's.
"""

from __future__ import annotations

from vidflow.api import load_recipe_file
from vidflow.capabilities.image import frame_size

RECIPE = """\
vidflow: 1
name: two-frames
topics: ["Why is the sky blue?"]
characters: [nova, pip]
providers:
  writer: {kind: text.offline}
  voice: {kind: speech.espeak}
  painter: {kind: image.procedural}
steps:
  script: {uses: writer, output: dialogue, lines: 4, scenes: 2, prompt: "{{ topic }}"}
  speech: {for_each: script.lines, uses: voice, text: "{{ item.text }}", voice: "{{ item.speaker }}"}
  tall_art: {for_each: script.scenes, uses: painter, prompt: "{{ item.image_prompt }}"}
  wide_art: {for_each: script.scenes, uses: painter, prompt: "{{ item.image_prompt }}"}
  short: {compose: vertical, art: tall_art}
  wide: {compose: vertical, art: wide_art, width: 1920, height: 1080}
  publish_short: {to: "out/{{ topic | slug }}-short.mp4", from: short}
  publish_wide: {to: "out/{{ topic | slug }}-wide.mp4", from: wide}
"""


def test_each_image_step_gets_the_frame_of_the_compose_that_shows_it(project):
    (project / "recipe.yaml").write_text(RECIPE)
    loaded = load_recipe_file(project / "recipe.yaml")
    assert frame_size(loaded, "tall_art") == (1080, 1920)
    assert frame_size(loaded, "wide_art") == (1920, 1080)
