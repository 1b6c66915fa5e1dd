"""Plain substitution templates (text with ``{{ name }}`` and ``{{ a.b }}``) skip Jinja's
machinery for speed; their output, and their errors, must be exactly Jinja's."""

from __future__ import annotations

import pytest

from vidflow.errors import TemplateError
from vidflow.recipe import templating
from vidflow.recipe.templating import _compile, _generate, _substitution, render

CTX = {
    "topic": "Why is the sky blue?",
    "n": 3,
    "ratio": 0.5,
    "flag": True,
    "nothing": None,
    "uni": "天空为什么是蓝色的 — ¿por qué?",
    "item": {"text": "Hello", "speaker": "Nova", "items": "a key named items", "n": 2, "deep": {"er": "down"}},
    "vars": {"keys": "shadowed by dict.keys", "tone": "warm"},
    "seq": [1, 2],
    "surrogate": "bad \ud800 text",
}

TEMPLATES = [
    "step 3 of {{ topic }}",
    "{{ topic }}",
    "{{ n }} / {{ ratio }} / {{ flag }}",
    "{{ nothing }}",  # None: Jinja prints "None"
    "{{ uni }}!",
    "{{ item.text }} said {{ item.speaker }}",
    "{{ item.deep.er }}",
    "{{ item.items }}",  # a dict's method wins over its key in Jinja's lookup
    "{{ vars.keys }}",
    "{{ vars.tone }}",
    "{{ seq }}",
    "  {{- topic -}}  \n",
    "{% raw %}{{ not a tag }}{% endraw %} {{ topic }}",
    "line one\n{{ topic }}\n",
    "{{ topic | upper }}",  # a filter: not a substitution, rendered by Jinja
]


def jinja(source: str, ctx: dict) -> str:
    return _generate(_compile(source), ctx)


@pytest.mark.parametrize("source", TEMPLATES)
def test_the_output_is_jinjas(source):
    assert render(source, CTX) == jinja(source, CTX)


def test_plain_templates_take_the_substitution_path():
    assert _substitution("step {{ n }} of {{ item.deep.er }}") == ("step ", ("n",), " of ", ("item", "deep", "er"))
    assert _substitution("{{ topic | upper }}") is None
    assert _substitution("{% if topic %}x{% endif %}") is None
    assert _substitution("{{ 'const' }}") is None


@pytest.mark.parametrize(
    ("source", "says"),
    [("{{ missing }}", "'missing' is undefined"), ("{{ item.nope }}", "has no attribute 'nope'"), ("{{ surrogate }}", "lone surrogate")],
)
def test_errors_are_jinjas(source, says):
    with pytest.raises(TemplateError) as e:
        render(source, CTX, where="recipe.yaml:3: steps.a.prompt")
    assert says in str(e.value) and str(e.value).startswith("recipe.yaml:3: steps.a.prompt")


def test_the_output_limit_holds(monkeypatch):
    monkeypatch.setattr(templating, "MAX_OUTPUT_CHARS", 10)
    with pytest.raises(TemplateError, match="longer than"):
        render("{{ topic }}", CTX)
