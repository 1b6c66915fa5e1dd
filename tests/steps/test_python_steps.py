"""``python: "module:function"`` steps: the function runs in a worker process with rendered
arguments and file paths; images and videos it writes are probed and usable downstream; the
bundled title card example works offline; bad steps are recipe errors with file:line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.engine.util import run_recipe, write
from vidflow.api import load_recipe_file
from vidflow.errors import RecipeError
from vidflow.media.probe import probe

STEPS = Path(__file__).resolve().parents[2] / "recipes" / "steps"

RECIPE = """
vidflow: 1
name: title-cards
topics: ["Why is the sky blue?"]
providers:
  writer: {kind: text.offline}
steps:
  script:
    uses: writer
    output: dialogue
    lines: 2
    scenes: 2
    prompt: "Explain {{ topic }}"
  card:
    python: "steps.title_card:draw"
    version: 1
    args: {title: "{{ script.title }}", subtitle: "{{ topic }}", size: "90x160"}
    outputs: {image: image/png}
  clip:
    for_each: script.scenes
    python: "steps.title_card:draw"
    args: {title: "{{ item.caption }}", size: "64x112", seconds: 1}
    outputs: {video: video/mp4}
  framed:
    for_each: script.scenes
    run: [sh, -c, 'cp "$1" "$3" && cp "$2" "$4"', sh, "{{ inputs.still }}", "{{ inputs.moving }}", "{{ outputs.image }}", "{{ outputs.video }}"]
    inputs: {still: card, moving: clip}
    outputs: {image: image/png, video: video/mp4}
"""


@pytest.fixture
def steps_dir(project):
    shutil.copytree(STEPS, project / "steps", ignore=shutil.ignore_patterns("__pycache__"))
    return project / "steps"


def test_title_card_and_clip_outputs_are_probed_and_paired_item_by_item(project, registry, steps_dir):
    result = run_recipe(write(project, RECIPE), registry, project)
    assert result.exit_code == 0, result.summary.failures
    card = result.outputs("card")["why-is-the-sky-blue"]
    assert (card["width"], card["height"]) == (90, 160)
    assert card["result"]["width"] == 90 and card["result"]["made"] == {"image": "image.png"}
    clips = result.outputs("clip")["why-is-the-sky-blue"]
    assert len(clips) == 2 and all((c["width"], c["height"]) == (64, 112) and 0.9 <= c["duration"] <= 1.1 for c in clips)
    # each `framed` node got its own scene's clip (paired), and the one card
    framed = result.outputs("framed")["why-is-the-sky-blue"]
    assert [f["outputs"]["video"]["bytes"] for f in framed] == [c["outputs"]["video"]["bytes"] for c in clips]
    assert framed[0]["outputs"]["image"]["width"] == 90
    # the stored blob is a real video: the shape compose takes as a clip (a `video` blob)
    from vidflow.cache.store import CacheStore

    task = result.graph.nodes["why-is-the-sky-blue/clip[0]"]["task"]
    art = CacheStore(str(project / "cache")).load(task.key)
    assert art.blobs["video"].media_type == "video/mp4"
    info = probe(CacheStore(str(project / "cache")).blob_file(art.blobs["video"]))
    assert info.of_type("video")[0].width == 64


def test_a_raising_function_fails_its_node_with_the_traceback_tail(project, registry):
    (project / "mysteps.py").write_text("def boom(word, *, outputs):\n    raise RuntimeError(f'cannot draw {word}')\n")
    recipe = write(project, """
        vidflow: 1
        name: py-fail
        topics: ["one"]
        providers: {writer: {kind: text.offline}}
        steps:
          art:
            python: "mysteps:boom"
            args: {word: "{{ topic }}"}
            outputs: {image: image/png}
        """)
    result = run_recipe(recipe, registry, project)
    err = result.outcomes["one/art"].error
    assert "step `art` (topic one)" in err and "`mysteps:boom` exited with code 1" in err and "RuntimeError: cannot draw one" in err


def test_an_unknown_module_says_where_it_looked(project, registry):
    recipe = write(project, """
        vidflow: 1
        name: py-missing
        topics: ["one"]
        providers: {writer: {kind: text.offline}}
        steps:
          art:
            python: "nowhere_to_be_found:draw"
            outputs: {image: image/png}
        """)
    err = run_recipe(recipe, registry, project).outcomes["one/art"].error
    assert "cannot import module 'nowhere_to_be_found'" in err and str(project) in err


@pytest.mark.parametrize(
    "body, message",
    [
        ("run: echo hi\n    outputs: {t: text/plain}", "`run:` is a list"),
        ("run: [echo]\n    python: 'a:b'", "either `run:"),
        ("python: 'not a target'", "package.module:function"),
        ("run: [echo]\n    outputs: {t: image/nonsense-type}", "not a media type vidflow knows"),
        ("run: [echo]\n    env: {OPENAI_API_KEY: sk-123}", "pass_env: [OPENAI_API_KEY]"),
        ("run: [echo]\n    inputs: {x: nothere}", "input `x: nothere` names no other step"),
        ("run: [echo, '{{ nothing }}']", "undefined name `nothing`"),
    ],
)
def test_bad_local_steps_are_recipe_errors_with_a_location(project, registry, body, message):
    recipe = write(project, f"""
vidflow: 1
name: bad
topics: ["one"]
providers: {{writer: {{kind: text.offline}}}}
steps:
  s:
    {body}
""")
    with pytest.raises(RecipeError) as e:
        load_recipe_file(recipe, registry=registry)
    text = str(e.value)
    assert message in text and "recipe.yaml:" in text, text
