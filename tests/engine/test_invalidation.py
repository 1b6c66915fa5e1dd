"""Exactly the nodes whose rendered input changed run again."""

from __future__ import annotations



from tests.engine.util import ran, run_recipe, write

RECIPE = """
vidflow: 1
name: catchphrases
topics: ["Why is the sky blue?", "How do bees make honey?"]
characters: [nova, pip]
providers:
  writer: {kind: text.offline}
  voice: {kind: speech.fake}
  painter: {kind: image.fake}
steps:
  script:
    uses: writer
    output: dialogue
    lines: 6
    scenes: 3
    prompt: "Explain {{ topic }}"
  speech:
    for_each: script.lines
    uses: voice
    text: "{{ item.text }}"
    voice: "{{ item.speaker }}"
  art:
    for_each: script.scenes
    uses: painter
    prompt: "{{ item.image_prompt }}"
"""


def _dialogues(result, project):
    """The scripts as the cache holds them (read through the run's graph keys)."""
    from vidflow.cache.store import CacheStore

    store = CacheStore(str(project / "cache"))
    out = {}
    for node, d in result.graph.nodes(data=True):
        if d["task"].step == "script":
            out[d["task"].topic] = store.load(d["task"].key).value
    return out


def test_changing_a_catchphrase_reruns_exactly_the_lines_that_use_it(project, registry, calls):
    recipe = write(project, RECIPE)
    first = run_recipe(recipe, registry, project)
    assert first.exit_code == 0
    old = "Wait, really?"
    new = "No way, seriously?"
    before = _dialogues(first, project)
    uses_old = {
        f"{topic}/speech[{i}]" for topic, d in before.items() for i, line in enumerate(d["lines"]) if old in line["text"]
    }
    assert uses_old, "the offline writer should use Nova's catchphrase somewhere"
    char = project / "characters" / "nova.yaml"
    char.write_text(char.read_text().replace(old, new))
    calls.clear()
    second = run_recipe(recipe, registry, project)
    scripts = {f"{t}/script" for t in before}
    assert ran(second) == scripts | uses_old
    spoken = [req.text for kind, req in calls if kind == "speech.fake"]
    assert len(spoken) == len(uses_old) and all(new in t for t in spoken)
    assert not any(kind == "image.fake" for kind, _ in calls)


def test_colour_change_reruns_no_provider_node(project, registry, calls):
    recipe = write(project, RECIPE)
    run_recipe(recipe, registry, project)
    char = project / "characters" / "pip.yaml"
    char.write_text(char.read_text().replace("#2EC4B6", "#3366FF"))
    calls.clear()
    second = run_recipe(recipe, registry, project)
    assert calls == [] and ran(second) == set()


SHARED = """
vidflow: 1
name: shared
topics: ["Topic one", "Topic two", "Topic three"]
characters: [nova]
providers:
  voice: {kind: speech.fake, concurrency: 4}
  writer: {kind: text.fake}
steps:
  intro:
    uses: voice
    text: "Welcome back to the show!"
    voice: nova
  hook:
    uses: writer
    prompt: "Write one hook line for a science channel."
"""


def test_two_topics_rendering_the_same_input_share_one_call(project, registry, calls):
    recipe = write(project, SHARED)
    result = run_recipe(recipe, registry, project)
    assert result.exit_code == 0
    assert [k for k, _ in calls].count("speech.fake") == 1
    assert [k for k, _ in calls].count("text.fake") == 1
    # every topic got the result: one ran, the others shared it in flight
    statuses = result.summary.nodes
    intro = {n: s for n, s in statuses.items() if n.endswith("/intro")}
    assert sorted(intro.values()) == ["cached", "cached", "ran"]
    keys = {d["task"].key for n, d in result.graph.nodes(data=True) if n.endswith("/intro")}
    assert len(keys) == 1
