"""`vidflow schema`: a Draft 2020-12 JSON Schema that accepts every example recipe and rejects the
broken ones a schema can see (must-show 6)."""

from __future__ import annotations

import contextlib
import io
import json
import re
import subprocess
import sys

import pytest
import yaml
from jsonschema import Draft202012Validator

from tests.conftest import REPO
from vidflow.cli import main

BROKEN = REPO / "tests" / "data" / "broken"

#: Broken recipes whose problem is in meaning, not shape: a static schema cannot see it (and
#: `vidflow plan` reports each with file:line). Every other broken recipe must fail the schema.
SEMANTIC = {
    "bad_character.yaml": "the character file it names is broken",
    "bad_topics_file.yaml": "the topics file's content (no `topic` column)",
    "bad_topics_jsonl.yaml": "the topics file's content",
    "cycle.yaml": "two steps read each other (a cycle across templates)",
    "for_each_not_a_list.yaml": "for_each names a field that is not a list (script.title)",
    "image_params.yaml": "`params:` on a `uses:` step whose provider is an image one (which kind depends on `providers:`)",
    "missing_character.yaml": "a character id with no characters/<id>.yaml",
    "missing_sprite.yaml": "a sprite file the character names is missing",
    "missing_voice.yaml": "a character has no voice for the provider",
    "shadowed_variable.yaml": "variables named like a step or a name templates already have (step names are the recipe's own)",
    "speech_param_range.yaml": "a step param out of the range of the provider `uses:` names (which kind depends on `providers:`)",
    "undefined_variable.yaml": "a template reads an undefined name",
    "unknown_provider.yaml": "`uses:` names a provider that is not defined (a cross-reference)",
}
NOT_YAML = {"yaml_syntax.yaml"}
#: Shape problems: unknown keys, wrong types, values out of range or not in an enum.
SCHEMA = {"bad_rate.yaml", "empty_topics.yaml", "several_problems.yaml", "unknown_key.yaml", "unknown_kind.yaml", "wrong_type.yaml"}


def _schema_from_cli() -> dict:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["schema"]) == 0
    return json.loads(out.getvalue())


@pytest.fixture(scope="module")
def validator():
    schema = _schema_from_cli()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    return Draft202012Validator(schema)


def _errors(validator, data) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(data)]


@pytest.mark.parametrize("path", sorted((REPO / "recipes").glob("*.yaml")), ids=lambda p: p.name)
def test_every_recipe_in_recipes_validates(validator, path):
    assert _errors(validator, yaml.safe_load(path.read_text())) == []


def _doc_blocks():
    from tests.test_docs_examples import DOCS

    return DOCS


def test_every_recipe_block_in_the_docs_validates(validator):
    docs = _doc_blocks()
    assert docs.recipes
    for block in docs.recipes:
        assert _errors(validator, yaml.safe_load(block.text)) == [], block.id


def test_every_recipe_fragment_in_the_docs_validates_merged_over_the_quickstart(validator):
    base = yaml.safe_load((REPO / "recipes" / "quickstart.yaml").read_text())
    for block in _doc_blocks().fragments:
        merged = dict(base)
        for key, value in yaml.safe_load(block.text).items():
            merged[key] = {**merged[key], **value} if isinstance(value, dict) and isinstance(merged.get(key), dict) else value
        assert _errors(validator, merged) == [], block.id


@pytest.mark.parametrize("path", sorted(BROKEN.glob("*.yaml")), ids=lambda p: p.name)
def test_broken_recipes_fail_the_schema_unless_their_problem_is_semantic(validator, path):
    if path.name in NOT_YAML:
        with pytest.raises(yaml.YAMLError):
            yaml.safe_load(path.read_text())
        return
    errors = _errors(validator, yaml.safe_load(path.read_text()))
    if path.name in SEMANTIC:
        assert errors == [], f"{path.name} is listed as semantic but the schema rejects it: move it to SCHEMA"
    else:
        assert errors, f"the schema accepts {path.name}"


def test_every_broken_recipe_is_classified():
    """A new broken recipe must be put in SCHEMA, SEMANTIC or NOT_YAML (the test above checks which)."""
    assert {p.name for p in BROKEN.glob("*.yaml")} == SCHEMA | SEMANTIC.keys() | NOT_YAML


@pytest.mark.parametrize(("patch", "where"), [
    ({"providers": {"writer": {"kind": "text.offline", "lines": "many"}}}, "providers.writer"),  # an option's type
    ({"providers": {"painter": {"kind": "image.procedural", "style": "loud"}}}, "providers.painter"),  # an enum
    ({"providers": {"voice": {"kind": "speech.espeak", "lines": 6}}}, "providers.voice"),  # another kind's option
    ({"providers": {"voice": {"kind": "speech.espeak", "rate": "6 per min"}}}, "providers.voice.rate"),
    ({"steps": {"video": {"compose": "vertical", "fps": 0}}}, "steps.video"),
    ({"steps": {"publish": {"to": "out/x.mp4", "manfest": False}}}, "steps.publish"),
    ({"steps": {"bad name": {"to": "out/x.mp4"}}}, "steps"),
    ({"budget": {"max_usd": -1}}, "budget"),
    ({"topicz": ["x"]}, ""),
])
def test_the_schema_checks_each_part_against_its_own_model(validator, patch, where):
    recipe = yaml.safe_load((REPO / "recipes" / "quickstart.yaml").read_text())
    for key, value in patch.items():
        recipe[key] = {**recipe[key], **value} if isinstance(recipe.get(key), dict) else value
    errors = _errors(validator, recipe)
    assert errors and any(e.startswith(where) for e in errors), errors


@pytest.mark.parametrize("rate", ["6/min", "2/s", "100/hour", "10/30s", "1/ 2 Minutes", "3/sec"])
def test_every_rate_the_loader_takes_passes_the_schema(validator, rate):
    from vidflow.limits import parse_rate

    parse_rate(rate)
    recipe = yaml.safe_load((REPO / "recipes" / "quickstart.yaml").read_text())
    recipe["providers"]["writer"]["rate"] = rate
    assert _errors(validator, recipe) == []


def test_schema_imports_no_vendor_sdk():
    code = "import sys, contextlib, io\nfrom vidflow.cli import main\nwith contextlib.redirect_stdout(io.StringIO()): main(['schema'])\nprint('litellm' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.strip() == "False"


def test_docs_show_the_editor_line_for_the_file_vidflow_schema_writes():
    text = (REPO / "docs" / "recipes.md").read_text()
    written = re.search(r"vidflow schema > (\S+)", text)
    line = re.search(r"# yaml-language-server: \$schema=(\S+)", text)
    assert written and line, "docs/recipes.md must show `vidflow schema > FILE` and the yaml-language-server line"
    assert line.group(1).lstrip("./") == written.group(1).lstrip("./")
