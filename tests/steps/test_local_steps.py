"""Local steps (``run:`` / ``python:``): cached by what decides them, rerun only when that changes,
failures that name step, topic, exit code and output, and other topics going on.

Every command here really runs (``sh``, the venv's Python, the wheel's ffmpeg); a command
leaves a line in a log file outside its scratch folder each time it executes, which is how a
test knows whether it ran.
"""

from __future__ import annotations

import shutil

from tests.engine.util import project_settings, ran, run_recipe, write

REPO_STEPS = __import__("pathlib").Path(__file__).resolve().parents[2] / "recipes" / "steps"

CHAIN = """
vidflow: 1
name: local-chain
topics: ["Why is the sky blue?", "How do bees make honey?"]
vars: {{word: {word}}}
providers:
  writer: {{kind: text.offline}}
steps:
  script:
    uses: writer
    output: dialogue
    lines: 2
    scenes: 1
    prompt: "Explain {{{{ topic }}}}"
  base:
    run: [sh, -c, 'echo base >> "$LOG"; printf "%s: %s" "$WORD" "$TITLE" > "$1"', sh, "{{{{ outputs.text }}}}"]
    env: {{LOG: "{log}", WORD: "{{{{ word }}}}", TITLE: "{{{{ script.title }}}}"}}
    outputs: {{text: text/plain}}
  upper:
    version: {version}
    run: [sh, -c, 'echo upper >> "$LOG"; tr a-z A-Z < "$1" > "$2"', sh, "{{{{ inputs.src }}}}", "{{{{ outputs.text }}}}"]
    env: {{LOG: "{log}"}}
    inputs: {{src: base}}
    outputs: {{text: text/plain}}
  count:
    run: [sh, -c, 'echo count >> "$LOG"; wc -c < "$1" > "$2"', sh, "{{{{ inputs.src }}}}", "{{{{ outputs.n }}}}"]
    env: {{LOG: "{log}"}}
    inputs: {{src: upper.text}}
    outputs: {{n: text/plain}}
  aside:
    run: [sh, -c, 'echo aside >> "$LOG"; echo "{{{{ topic_id }}}}" > "$1"', sh, "{{{{ outputs.text }}}}"]
    env: {{LOG: "{log}"}}
    outputs: {{text: text/plain}}
"""


def _chain(project, *, version=1, word="hello"):
    log = project / "calls.log"
    return write(project, CHAIN.format(log=log, version=version, word=word)), log


def _executed(log) -> list[str]:
    lines = log.read_text().split() if log.exists() else []
    log.unlink(missing_ok=True)
    return sorted(lines)


def test_a_local_step_is_cached_and_its_outputs_feed_the_next(project, registry):
    recipe, log = _chain(project)
    first = run_recipe(recipe, registry, project)
    assert first.exit_code == 0
    assert _executed(log) == sorted(["base", "upper", "count", "aside"] * 2)
    upper = first.outputs("upper")["why-is-the-sky-blue"]
    assert upper["outputs"]["text"]["text"].startswith("HELLO: ")  # the upstream file, transformed
    count = first.outputs("count")["why-is-the-sky-blue"]
    assert int(count["outputs"]["n"]["text"]) == len(upper["outputs"]["text"]["text"].encode())

    second = run_recipe(recipe, registry, project)
    assert second.exit_code == 0 and ran(second) == set()
    assert _executed(log) == []  # no command executed at all


def test_changing_version_reruns_only_that_step(project, registry):
    recipe, log = _chain(project, version=1)
    run_recipe(recipe, registry, project)
    _executed(log)
    recipe, _ = _chain(project, version=2)
    again = run_recipe(recipe, registry, project)
    assert ran(again) == {"why-is-the-sky-blue/upper", "how-do-bees-make-honey/upper"}
    # the same bytes came out, so what reads them is still valid (content-addressed keys)
    assert _executed(log) == ["upper", "upper"]


def test_changing_an_input_reruns_the_step_and_its_dependents_only(project, registry):
    recipe, log = _chain(project, word="hello")
    run_recipe(recipe, registry, project)
    _executed(log)
    recipe, _ = _chain(project, word="goodbye")  # changes `base`'s output, which `upper` reads
    again = run_recipe(recipe, registry, project)
    topics = ("why-is-the-sky-blue", "how-do-bees-make-honey")
    assert ran(again) == {f"{t}/{s}" for t in topics for s in ("base", "upper", "count")}
    assert _executed(log) == sorted(["base", "upper", "count"] * 2)
    assert again.outputs("upper")["how-do-bees-make-honey"]["outputs"]["text"]["text"].startswith("GOODBYE: ")


FAILING = """
vidflow: 1
name: local-failures
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
    lines: 2
    scenes: 1
    prompt: "Explain {{ topic }}{{ '' if check.outputs else '' }}"  # reads `check`: runs after it
  speech:
    for_each: script.lines
    uses: voice
    text: "{{ item.text }}"
    voice: "{{ item.speaker }}"
  check:
    run: [sh, -c, 'echo "checking $1" >&2; case "$1" in why-*) echo "no sky today" >&2; exit 7;; esac; echo ok > "$2"', sh, "{{ topic_id }}", "{{ outputs.report }}"]
    outputs: {report: text/plain}
  video:
    compose: vertical
    width: 144
    height: 256
    fps: 8
    preset: ultrafast
    subtitles: none
    qa: false          # the fake voices are silent
  publish:
    to: "out/{{ topic | slug }}.mp4"
"""


def test_a_failing_command_names_step_topic_code_and_stderr_and_other_topics_publish(project, registry):
    recipe = write(project, FAILING)
    result = run_recipe(recipe, registry, project)
    assert result.exit_code != 0
    failed = result.outcomes["why-is-the-sky-blue/check"]
    assert failed.status == "failed"
    for part in ("step `check`", "topic why-is-the-sky-blue", "exited with code 7", "checking why-is-the-sky-blue", "no sky today"):
        assert part in failed.error, part
    assert result.outcomes["why-is-the-sky-blue/publish"].status == "skipped"
    assert result.summary.topics["why-is-the-sky-blue"]["status"] == "failed"
    assert result.summary.topics["how-do-bees-make-honey"]["status"] != "failed"
    assert (project / "out" / "how-do-bees-make-honey.mp4").stat().st_size > 0
    assert not (project / "out" / "why-is-the-sky-blue.mp4").exists()
    # the failure is not cached: the next run tries the command again
    again = run_recipe(recipe, registry, project)
    assert again.outcomes["why-is-the-sky-blue/check"].status == "failed"


MISSING = """
vidflow: 1
name: local-missing
topics: ["one", "two"]
providers:
  writer: {kind: text.offline}
steps:
  clip:
    run: [sh, -c, 'echo "rendering $1"; [ "$1" = two ] && printf x > "$2"; true', sh, "{{ topic_id }}", "{{ outputs.art }}"]
    outputs: {art: text/plain}
"""


def test_a_missing_output_is_a_clear_error_and_nothing_is_cached(project, registry):
    recipe = write(project, MISSING)
    result = run_recipe(recipe, registry, project)
    err = result.outcomes["one/clip"].error
    assert "step `clip`" in err and "topic one" in err and "did not write output `art` (out/art.txt)" in err and "rendering one" in err
    assert result.outcomes["two/clip"].status == "ran"
    assert result.outcomes["one/clip"].status == "failed"


def test_timeout_kills_the_program(project, registry):
    recipe = write(project, """
        vidflow: 1
        name: local-timeout
        topics: ["one"]
        providers: {writer: {kind: text.offline}}
        steps:
          slow:
            run: [sh, -c, 'echo started >&2; sleep 30']
            timeout: 0.5
            outputs: {t: text/plain}
        """)
    result = run_recipe(recipe, registry, project)
    err = result.outcomes["one/slow"].error
    assert "did not finish within its timeout of 0.5 s" in err and "started" in err


def test_environment_is_explicit_and_secrets_pass_only_when_named(project, registry):
    secret = "sk-local-step-secret-1234567890"
    recipe = write(project, """
        vidflow: 1
        name: local-env
        topics: ["one"]
        providers: {writer: {kind: text.offline}}
        steps:
          plain:
            run: [sh, -c, 'env > "$1"', sh, "{{ outputs.env }}"]
            env: {GREETING: "hi {{ topic }}"}
            outputs: {env: text/plain}
        """)
    settings = project_settings(project, env={"OPENAI_API_KEY": secret, "PATH": shutil.os.environ["PATH"], "SOME_OTHER": "leak"})
    result = run_recipe(recipe, registry, project, settings=settings)
    seen = result.outputs("plain")["one"]["outputs"]["env"]["text"]
    assert "GREETING=hi one" in seen
    assert secret not in seen and "OPENAI_API_KEY" not in seen and "SOME_OTHER" not in seen


def test_a_named_secret_reaches_the_program(project, registry):
    recipe = write(project, """
        vidflow: 1
        name: local-env2
        topics: ["one"]
        providers: {writer: {kind: text.offline}}
        steps:
          named:
            run: [sh, -c, 'printf %s "$OPENAI_API_KEY" | wc -c | tr -d " " > "$1"', sh, "{{ outputs.t }}"]
            pass_env: [OPENAI_API_KEY]
            outputs: {t: text/plain}
        """)
    secret = "sk-abcdefghijkl"
    settings = project_settings(project, env={"OPENAI_API_KEY": secret, "PATH": shutil.os.environ["PATH"]})
    result = run_recipe(recipe, registry, project, settings=settings)
    assert result.outputs("named")["one"]["outputs"]["t"]["text"].strip() == "15"
    # its value is in no record: not in the events, not in any manifest (keys hold only the name)
    assert secret not in (project / "runs").joinpath(result.run_id, "events.jsonl").read_text()
    assert secret not in "".join(f.read_text() for f in (project / "cache").rglob("*.json"))


def test_local_steps_take_cpu_slots(project, registry):
    """With one slot, no two programs ever run at once: each holds a lock folder while it works
    and fails if another one holds it."""
    lock = project / "held"
    recipe = write(project, f"""
        vidflow: 1
        name: local-slots
        topics: ["one", "two", "three", "four"]
        providers: {{writer: {{kind: text.offline}}}}
        steps:
          work:
            run: [sh, -c, 'mkdir "$LOCK" || exit 9; sleep 0.2; rmdir "$LOCK"; echo "$1" > "$2"', sh, "{{{{ topic_id }}}}", "{{{{ outputs.t }}}}"]
            env: {{LOCK: "{lock}"}}
            outputs: {{t: text/plain}}
        """)
    result = run_recipe(recipe, registry, project, settings=project_settings(project, max_ffmpeg=1))
    assert result.exit_code == 0, result.summary.failures
    assert len(ran(result)) == 4
