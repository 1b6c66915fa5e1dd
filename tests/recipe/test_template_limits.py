"""Template bombs (issue 8, section 2): each is a TemplateError naming where, in bounded memory.

``render`` is what the engine calls for every prompt, text, voice, caption and ``to:``; the
limits live in vidflow/recipe/sandbox.py. Memory is measured with tracemalloc (deterministic);
time is bounded by the sandbox's step budget and its deadline; loop bombs accept either message
("make its loops smaller"), so a slow machine cannot fail them.
"""

from __future__ import annotations

import tracemalloc

import pytest

from tests.conftest import REPO
from vidflow.cli import main
from vidflow.errors import TemplateError
from vidflow.recipe.templating import check_template, render

WHERE = "recipe.yaml:12:13: steps.script.prompt"
BIG = "x" * 100_000
CONTEXT = {"topic": "Why is the sky blue?", "big": BIG, "huge": 10**3000, "item": {"text": "hi"}}

# class -> (template, what the message says)
BOMBS = {
    "huge power": ("{{ 10 ** 100000 }}", "`**` would make a number of more than 10,000 bits"),
    "power tower": ("{{ (10 ** 1000) ** (10 ** 1000) }}", "`**` would make a number"),
    "huge int product": ("{{ huge * huge * huge * huge }}", "`*` would make a number"),
    "string times huge": ("{{ 'x' * 10**9 }}", "`*` would repeat 1 items 1,000,000,000 times"),
    "list times huge": ("{{ [1] * 10**9 }}", "`*` would repeat"),
    "format width via argument": ("{{ '{0:>{1}}'.format(topic, 10**9) }}", "format width 1000000000 is over 10,000"),
    "format width literal": ("{{ '{:>999999999}'.format(1) }}", "format width"),
    "format precision": ("{{ '{:.999999f}'.format(1.5) }}", "format width"),
    "format_map width": ("{{ '{a:>999999999}'.format_map({'a': 1}) }}", "format width"),
    "percent width": ("{{ '%0999999999d' % 1 }}", "format width 999,999,999 is over 10,000"),
    "percent star width": ("{{ '%*d' % (10**9, 1) }}", "`*` widths"),
    "percent missing key": ("{{ '%(a)s' % {} }}", "no key 'a'"),
    "format filter width": ("{{ '%0999999999d' | format(1) }}", "format width"),
    "center filter": ("{{ topic | center(10**9) }}", "filter `center`: 1000000000 is over 100,000"),
    "center method": ("{{ topic.center(10**9) }}", "`center`: 1000000000 is over 100,000"),
    "replace blowup": ("{{ big | replace('', big) }}", "builds more than 2,000,000 characters"),
    "replace method blowup": ("{{ big.replace('x', big) }}", "builds more than 2,000,000 characters"),
    "join blowup": ("{{ ([big] * 1000) | join }}", "builds more than 2,000,000 characters"),
    "join method blowup": ("{{ ''.join([big] * 1000) }}", "builds more than 2,000,000 characters"),
    "indent blowup": ("{{ ('a\\n' * 10000) | indent(99999) }}", "builds more than 2,000,000 characters"),
    "huge range": ("{% for i in range(10**9) %}{% endfor %}", "range() over more than 10,000 numbers"),
    "range past a machine word": ("{{ range(10**100) | list }}", "range() over more than 10,000 numbers"),
    "nested loops": ("{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}", "make its loops smaller"),
    "nested loops over text": ("{% for a in big %}{% for b in big %}{% endfor %}{% endfor %}", "make its loops smaller"),
    "long output": ("{% for i in range(10000) %}{{ big }}{% endfor %}", "the result is longer than 100,000 characters"),
    "concatenation doubling": (
        "{% set ns = namespace(s='ab') %}{% for i in range(60) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
        "builds more than 2,000,000 characters",
    ),
    "block set in a loop": ("{% set b %}{% for i in range(10000) %}{{ big }}{% endfor %}{% endset %}{{ b | length }}", "builds more than 2,000,000"),
    "literal text in a loop": ("{% set b %}{% for i in range(10000) %}" + "y" * 1000 + "{% endfor %}{% endset %}{{ b | length }}", "builds more than 2,000,000"),
    "exponential macro": ("{% macro f(n) %}{% if n %}{{ f(n-1) }}{{ f(n-1) }}{% endif %}{% endmacro %}{{ f(60) }}", "make its loops smaller"),  # steps or time, whichever first
    "endless recursion": ("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", "calls itself too deeply"),
    "slow filter on long text": ("{{ (big * 5) | urlize }}", "filter `urlize` on 500,000 characters"),
    "lipsum": ("{{ lipsum(10**9) }}", "'lipsum' is undefined"),
    "lone surrogate literal": ("{{ '\\ud800' }}", "lone surrogate ('\\ud800'), which is not valid Unicode text"),
    "division by zero": ("{{ 1 / 0 }}", "ZeroDivisionError"),
    "sandbox escape": ("{{ topic.__class__.__mro__ }}", "not allowed in a template"),
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_template_bomb_is_a_template_error_in_bounded_memory(name):
    source, fragment = BOMBS[name]
    assert check_template(source) == []  # none of these can be found without rendering
    tracemalloc.start()
    try:
        with pytest.raises(TemplateError) as err:
            render(source, dict(CONTEXT), where=WHERE)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(err.value)
    assert message.startswith(WHERE), message
    assert fragment in message, message
    assert len(message) < 600
    assert peak < 64 * 2**20, f"{peak / 2**20:.0f} MiB"


def test_lone_surrogate_in_a_value_fails_the_render_not_the_process():
    with pytest.raises(TemplateError, match="lone surrogate"):
        render("About {{ topic }}", {"topic": "sky \ud800"}, where=WHERE)


def test_huge_int_in_an_error_message_is_still_a_template_error():
    # str() of an int past 4,300 digits raises ValueError; the message must not depend on it
    with pytest.raises(TemplateError, match=WHERE):
        render("{{ n.nope }}", {"n": 10**5000}, where=WHERE)
    with pytest.raises(TemplateError, match=WHERE):
        render("{{ n }}", {"n": 10**5000}, where=WHERE)


@pytest.mark.parametrize(
    "source, expected",
    [
        ("{{ topic }}", "Why is the sky blue?"),
        ("{{ topic | slug }}", "why-is-the-sky-blue"),
        ("{{ 2 ** 10 }} {{ 'ab' * 3 }} {{ '%05.1f' % 3.14159 }} {{ '{:>6}'.format('x') }}", "1024 ababab 003.1      x"),
        ("{% for i in range(3) %}{{ loop.index }}/{{ loop.length }} {% endfor %}", "1/3 2/3 3/3 "),
        ("{{ ['a', 'b'] | join(', ') }} {{ ', '.join(['c', 'd']) }} {{ 'a-b' | replace('-', '+') }}", "a, b c, d a+b"),
        ("{% set s %}{% for c in 'abc' %}{{ c | upper }}{% endfor %}{% endset %}{{ s ~ '!' }}", "ABC!"),
        ("{% macro twice(x) %}{{ x }}{{ x }}{% endmacro %}{{ twice(topic | words(2)) }}", "Why isWhy is"),
        ("{{ ('word ' * 2000) | wordwrap(40) | length }}", "9999"),
    ],
)
def test_ordinary_templates_render_as_before(source, expected):
    assert render(source, dict(CONTEXT), where=WHERE) == expected


def test_template_at_the_output_limit_renders():
    assert len(render("{{ big }}", dict(CONTEXT))) == 100_000


def test_template_bomb_in_a_run_fails_its_topics_not_the_process(project, capsys):
    recipe = (REPO / "recipes" / "quickstart.yaml").read_text().replace('"{{ topic }}"', '"{{ topic }}{% for i in range(10**9) %}{% endfor %}"')
    (project / "bomb.yaml").write_text(recipe)
    line = recipe.splitlines().index("    prompt: |") + 2
    rc = main(["run", "bomb.yaml", "--cache", str(project / "cache"), "--runs-dir", str(project / "runs"), "--plain"])
    out, err = capsys.readouterr()
    assert rc == 1
    assert "Traceback" not in out + err
    assert f"bomb.yaml:{line - 1}" in err or f"bomb.yaml:{line}" in err
    assert "range() over more than 10,000 numbers" in err
    assert not (project / "out").exists()


def test_template_bomb_is_reported_by_plan_with_the_rest_planned(project, capsys):
    recipe = (REPO / "recipes" / "quickstart.yaml").read_text().replace('"{{ topic }}"', '"{{ topic }}{% for i in range(10**9) %}{% endfor %}"')
    (project / "bomb.yaml").write_text(recipe)
    rc = main(["plan", "bomb.yaml", "--cache", str(project / "cache")])
    out, err = capsys.readouterr()
    assert rc == 2
    assert "Traceback" not in out + err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert errors and all("bomb.yaml:" in line and "range() over more than 10,000 numbers" in line for line in errors)
    assert "publish" in out  # the plan table is still printed: every other step was planned
