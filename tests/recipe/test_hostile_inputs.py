"""Hostile recipes, character files and topics files (issue 8, section 2): one test per class.

Each goes through the real CLI (``vidflow.cli.main``, or ``python -m vidflow`` where a hang must
be a failure, not a stuck suite) and must exit 2 with one ``error: file:line...`` line per
problem and no traceback. Limits are asserted by their effect (the error, memory use measured
with tracemalloc), never by wall-clock time.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from tests.conftest import REPO
from vidflow.cli import main

QUICKSTART = (REPO / "recipes" / "quickstart.yaml").read_text()
LINE = re.compile(r"^error: (?P<file>[^:]+):(?P<line>\d+)(:(?P<col>\d+))?: .+")


@pytest.fixture
def cli(project, capsys):
    """Run ``vidflow plan`` in the scratch project; returns (exit code, stderr lines)."""

    def run(recipe: str | bytes, *extra: str, name: str = "recipe.yaml") -> tuple[int, list[str]]:
        path = project / name
        if isinstance(recipe, bytes):
            path.write_bytes(recipe)
        else:
            path.write_text(recipe, encoding="utf-8", errors="surrogatepass")
        rc = main(["plan", name, "--cache", str(project / "cache"), *extra])
        out, err = capsys.readouterr()
        assert "Traceback" not in err and "Traceback" not in out
        return rc, err.strip().splitlines()

    return run


def assert_located(rc: int, lines: list[str], fragment: str, at: str) -> None:
    """Exit 2; every line is `error: file:line...`; the fragment is said at ``at`` (file:line)."""
    assert rc == 2, lines
    assert lines
    for line in lines:
        assert LINE.match(line), f"no file:line in: {line}"
    hits = [line for line in lines if fragment in line]
    assert hits, (fragment, lines)
    assert any(line.startswith(f"error: {at}:") or line.startswith(f"error: {at} ") for line in hits), (at, hits)


def with_vars(body: str) -> str:
    """The quickstart with ``vars:`` set to ``body`` (YAML text, may span lines)."""
    return QUICKSTART.replace("characters: [nova, pip]\n", f"characters: [nova, pip]\nvars: {body}\n", 1)


def vars_line() -> int:
    return with_vars("X").splitlines().index("vars: X") + 1


# --------------------------------------------------------------------------- YAML


def test_yaml_nested_thousands_deep_block_style(cli):
    deep = "\n" + "".join(" " * (i + 1) + f"k{i}:\n" for i in range(1000)) + " " * 1001 + "leaf: 1"  # 0.5 MiB
    rc, lines = cli(with_vars(deep))
    assert_located(rc, lines, "nest more than 64 levels deep; flatten them", "recipe.yaml")


def test_yaml_nested_thousands_deep_flow_style(cli):
    rc, lines = cli(with_vars("[" * 100_000 + "]" * 100_000))
    assert_located(rc, lines, "levels deep", f"recipe.yaml:{vars_line()}")


def test_yaml_recursive_alias(cli):
    rc, lines = cli(with_vars("&loop {again: *loop}"))
    assert_located(rc, lines, "recursive alias", f"recipe.yaml:{vars_line()}")


def billion_laughs(levels: int = 9) -> str:
    rows = ['{l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"],']
    for i in range(1, levels + 1):
        rows.append(f" l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 9) + "],")
    return "\n".join(rows) + "}"


def test_yaml_billion_laughs_nine_levels(cli):
    tracemalloc.start()
    try:
        rc, lines = cli(with_vars(billion_laughs(9)))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert_located(rc, lines, "more than 100,000 values once its aliases are expanded", "recipe.yaml")
    assert peak < 200 * 2**20


@pytest.mark.parametrize(
    "value, fragment",
    [
        ("!foo bar", "tag `!foo` is not allowed"),
        ("!!python/name:os.system ''", "tag `!!python/name:os.system` is not allowed"),
        ("!!python/object/apply:os.system [echo hi]", "tag `!!python/object/apply:os.system` is not allowed"),
        ("!!binary aGVsbG8=", "tag `!!binary` is not allowed"),
        ("!!timestamp 2024-01-01", "tag `!!timestamp` is not allowed"),
        ("!!set {a, b}", "tag `!!set` is not allowed"),
        ("!!omap [{a: 1}]", "tag `!!omap` is not allowed"),
        ("!!str [a]", "tag `!!str` is not allowed"),
        ("!!int xyz", "'xyz' is not an integer"),
        ("!!bool maybe", "'maybe' is not true or false"),
        ("!!float abc", "'abc' is not a number"),
        ("!!null nothing", "'nothing' is not null"),
    ],
)
def test_yaml_tags_other_than_plain_ones(cli, value, fragment):
    rc, lines = cli(with_vars(f"{{x: {value}}}"))
    assert_located(rc, lines, fragment, f"recipe.yaml:{vars_line()}")
    assert "remove the tag" in lines[0] or "remove it" in lines[0]


def test_yaml_plain_tags_and_unquoted_dates_still_load(cli):
    rc, lines = cli(with_vars("{a: !!str 12, b: !!int '7', c: !!float 1, d: 2024-05-01, e: !!bool yes}"))
    assert rc == 0, lines


def test_nul_byte_in_recipe_names_line_and_column(cli):
    text = QUICKSTART.replace("name: quickstart", "name: quick\0start")
    rc, lines = cli(text.encode())
    line = text.splitlines().index("name: quick\0start") + 1
    assert_located(rc, lines, "NUL byte", f"recipe.yaml:{line}:12")


def test_nul_escape_in_recipe_text(cli):
    rc, lines = cli(with_vars('{x: "a\\0b"}'))
    assert_located(rc, lines, "NUL character", f"recipe.yaml:{vars_line()}")


def test_invalid_utf8_names_line_and_column(cli):
    data = QUICKSTART.encode().replace(b"name: quickstart", b"name: quick\xffstart")
    line = QUICKSTART.splitlines().index("name: quickstart") + 1
    rc, lines = cli(data)
    assert_located(rc, lines, "not UTF-8 text (byte 0xff here)", f"recipe.yaml:{line}:12")


def test_lone_surrogate_escape_in_recipe(cli):
    rc, lines = cli(QUICKSTART.replace("- Why is the sky blue?", '- "Why \\ud800"'))
    line = QUICKSTART.splitlines().index("  - Why is the sky blue?") + 1
    assert_located(rc, lines, "a \\u escape must name a real character", f"recipe.yaml:{line}")


@pytest.mark.parametrize("value", ["true", "1.0", "'1'", "2"])
def test_vidflow_version_must_be_the_number_1(cli, value):
    rc, lines = cli(QUICKSTART.replace("vidflow: 1", f"vidflow: {value}"))
    assert_located(rc, lines, "vidflow", "recipe.yaml:3")


def test_odd_mapping_keys(cli):
    rc, lines = cli(with_vars("{? [a, b] : 1, null: 2, ~: 3}"))
    assert rc == 2
    assert sum("mapping keys must be plain names" in line for line in lines) == 3
    assert all(LINE.match(line) for line in lines)


def test_number_too_long_for_python(cli):
    rc, lines = cli(with_vars("{n: " + "9" * 5000 + "}"))
    assert_located(rc, lines, "too many digits", f"recipe.yaml:{vars_line()}")


def test_nan_is_refused(cli):
    rc, lines = cli(with_vars("{n: .nan}"))
    assert_located(rc, lines, "not a finite number", f"recipe.yaml:{vars_line()}")


def test_oversized_recipe_is_refused_before_parsing(cli):
    big = QUICKSTART + "# " + "x" * (1 << 20) + "\n"
    rc, lines = cli(big)
    assert rc == 2
    assert lines == ["error: recipe.yaml: recipe file is 1.0 MiB, larger than 1.0 MiB; split it or trim it"]


def test_recipe_that_is_a_device_or_a_folder(cli, project, capsys):
    assert main(["plan", "/dev/zero"]) == 2
    assert "/dev/zero: recipe file is a device, not a regular file" in capsys.readouterr().err
    (project / "folder.yaml").mkdir()
    assert main(["plan", "folder.yaml"]) == 2
    assert "folder.yaml: recipe file is a folder" in capsys.readouterr().err


def test_hostile_character_file_names_its_own_line(cli, project):
    (project / "characters" / "nova.yaml").write_text("name: Nova\nbomb: " + billion_laughs(9) + "\n")
    rc, lines = cli(QUICKSTART)
    assert_located(rc, lines, "more than 100,000 values", "characters/nova.yaml")


# --------------------------------------------------------------------------- templates


def test_unknown_filter_is_found_at_load_with_did_you_mean(cli):
    rc, lines = cli(QUICKSTART.replace('to: "out/{{ topic | slug }}.mp4"', 'to: "out/{{ topic | slugify }}.mp4"'))
    line = QUICKSTART.splitlines().index('    to: "out/{{ topic | slug }}.mp4"') + 1
    assert_located(rc, lines, "steps.publish.to: unknown filter `slugify`; did you mean `slug`?", f"recipe.yaml:{line}:9")


def test_unknown_filter_and_test_in_an_untaken_branch(cli):
    text = QUICKSTART.replace(
        'Use their catchphrases where they fit.', "{% if false %}{{ topic | shout }}{% elif topic is loud %}x{% endif %}"
    )
    line = text.splitlines().index("      {{ characters | names }}. {% if false %}{{ topic | shout }}{% elif topic is loud %}x{% endif %}") + 1
    rc, lines = cli(text)
    assert_located(rc, lines, "unknown filter `shout`", f"recipe.yaml:{line}")
    assert_located(rc, lines, "unknown test `loud`", f"recipe.yaml:{line}")


def test_template_too_long_is_refused_at_load(cli):
    rc, lines = cli(QUICKSTART.replace('text: "{{ item.text }}"', 'text: "{{ item.text }}' + "x" * 100_001 + '"'))
    assert_located(rc, lines, "the limit is 100,000", "recipe.yaml")


# --------------------------------------------------------------------------- topics files


def run_in_process(*args: str, cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    """A real `python -m vidflow` process: a hang fails the test instead of stalling the suite."""
    return subprocess.run([sys.executable, "-m", "vidflow", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def test_topics_from_dev_zero_is_refused(project):
    (project / "zero.txt").symlink_to("/dev/zero")
    proc = run_in_process("plan", str(REPO / "recipes" / "quickstart.yaml"), "--topics", "zero.txt", "--cache", "c", cwd=project)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.strip() == "error: zero.txt: topics file is a device, not a regular file; give the path of a topics file"


def test_topics_from_a_fifo_is_refused_without_blocking(project):
    os.mkfifo(project / "fifo.txt")
    proc = run_in_process("plan", str(REPO / "recipes" / "quickstart.yaml"), "--topics", "fifo.txt", "--cache", "c", cwd=project)
    assert proc.returncode == 2, proc.stderr
    assert "fifo.txt: topics file is a named pipe, not a regular file" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_recipe_topics_file_that_is_a_fifo(cli, project):
    os.mkfifo(project / "fifo.csv")
    text = QUICKSTART.replace("topics:\n  - Why is the sky blue?\n  - How do bees make honey?\n", "topics_file: fifo.csv\n")
    rc, lines = cli(text)
    line = text.splitlines().index("topics_file: fifo.csv") + 1
    assert rc == 2
    assert lines == [f"error: recipe.yaml:{line}:14: topics_file: fifo.csv: topics file is a named pipe, not a regular file; give the path of a topics file"]


def test_oversized_topics_file(cli, project):
    with open(project / "big.txt", "wb") as f:
        f.truncate((50 << 20) + 1)  # sparse: no disk used
    rc, lines = cli(QUICKSTART, "--topics", "big.txt")
    assert rc == 2
    assert lines == ["error: big.txt: topics file is 50.0 MiB, larger than 50.0 MiB; split it or trim it"]


def test_too_many_topics(cli, project):
    (project / "many.txt").write_text("".join(f"topic {i}\n" for i in range(100_001)))
    rc, lines = cli(QUICKSTART, "--topics", "many.txt")
    assert rc == 2
    assert lines == ["error: many.txt: more than 100,000 topics; split the file and run the parts one after another"]


def test_topic_too_long(cli, project):
    (project / "long.txt").write_text("short\n" + "x" * 10_001 + "\n")
    rc, lines = cli(QUICKSTART, "--topics", "long.txt")
    assert_located(rc, lines, "topic is 10,001 characters long; the limit is 10,000", "long.txt:2")


def test_lone_surrogate_in_a_topic_or_variable(cli, project):
    (project / "bad.jsonl").write_text('{"topic": "sky \\ud800"}\n{"topic": "ok", "who": ["\\udfff"]}\n"fine"\n')
    rc, lines = cli(QUICKSTART, "--topics", "bad.jsonl")
    assert_located(rc, lines, "topic holds a lone surrogate ('\\ud800'), which is not valid Unicode text", "bad.jsonl:1")
    assert_located(rc, lines, "variable text holds a lone surrogate", "bad.jsonl:2")
    assert len(lines) == 2


def test_nul_byte_and_bad_utf8_in_topics_file(cli, project):
    (project / "nul.txt").write_bytes(b"one\ntw\0o\n")
    rc, lines = cli(QUICKSTART, "--topics", "nul.txt")
    assert_located(rc, lines, "NUL byte", "nul.txt:2:3")
    (project / "latin1.csv").write_bytes("topic\ncaf\xe9\n".encode("latin-1"))
    rc, lines = cli(QUICKSTART, "--topics", "latin1.csv")
    assert_located(rc, lines, "not UTF-8 text (byte 0xe9 here)", "latin1.csv:2:4")


@pytest.mark.parametrize(
    "line, fragment",
    [
        ('{"topic": "a", "n": NaN}', "NaN is not a number vidflow can use"),
        ('{"topic": "a", "n": ' + "9" * 5000 + "}", "JSON value"),
        ('{"topic": "a", "deep": ' + "[" * 100_000 + "]" * 100_000 + "}", "nests too deeply"),
        ('{"topic": "a", "deep": ' + "[" * 100 + "]" * 100 + "}", "nests more than 64 levels"),
    ],
)
def test_hostile_jsonl_values(cli, project, line, fragment):
    (project / "t.jsonl").write_text(line + "\n")
    rc, lines = cli(QUICKSTART, "--topics", "t.jsonl")
    assert_located(rc, lines, fragment, "t.jsonl:1")


def test_csv_field_over_the_csv_limit(cli, project):
    (project / "t.csv").write_text('topic,notes\nok,"' + "x" * 200_000 + '"\n')
    rc, lines = cli(QUICKSTART, "--topics", "t.csv")
    assert_located(rc, lines, "CSV error", "t.csv")


def test_a_csv_value_under_a_column_with_no_name_is_refused(cli, project):
    (project / "t.csv").write_text("topic,,mood\nbees,forgotten,calm\n")
    rc, lines = cli(QUICKSTART, "--topics", "t.csv")
    assert_located(rc, lines, "column 2 holds 'forgotten' but has no name in the header", "t.csv:2")
    # a column left empty on every row (a trailing comma) is no loss
    (project / "u.csv").write_text("topic,mood,\nbees,calm,\n")
    rc, lines = cli(QUICKSTART, "--topics", "u.csv")
    assert rc == 0, lines


def test_a_topics_file_outside_the_working_folder_is_named_as_given(cli, project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "topics"  # (no extension)
    elsewhere.write_text("bees\n")
    rc, lines = cli(QUICKSTART, "--topics", str(elsewhere))
    assert rc == 2 and lines == [f"error: {elsewhere}: topics file must end in .txt, .csv or .jsonl, not no extension"], lines  # not ../../elsewhere0/topics
    rc, lines = cli(QUICKSTART, "--topics", "nope.csv")  # a flag's path starts where vidflow runs
    assert rc == 2 and lines == ["error: nope.csv: topics file not found; check the path (relative paths start at the working folder)"], lines


def test_a_number_that_yaml_reads_as_text_and_is_infinite_is_refused(cli):
    """`1e400` (no dot: text to YAML) became an infinite budget, i.e. none, without a word."""
    rc, lines = cli(QUICKSTART.replace("name: quickstart", "name: quickstart\nbudget: {per_topic_usd: 1e400}", 1))
    assert_located(rc, lines, "budget.per_topic_usd: Input should be a finite number (got '1e400')", "recipe.yaml:5")


def test_a_run_whose_every_topic_cannot_publish_is_refused_before_any_work(project, capsys):
    """`vidflow plan` said exit 2 (the file name is too long for every topic), but `vidflow run`
    made every node (paid, with real vendors) and then failed each topic at its publish."""
    long = QUICKSTART.replace('to: "out/{{ topic | slug }}.mp4"', "to: \"out/{{ topic | slug }}{{ 'x' * 300 }}.mp4\"")
    assert long != QUICKSTART
    (project / "recipe.yaml").write_text(long)
    assert main(["run", "recipe.yaml", "--plain"]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("error: recipe.yaml:40:9: steps.publish.to: topic '") for line in lines), lines
    assert not (project / "cache").exists() and not (project / "runs").exists()  # nothing was made


def test_a_topic_that_cannot_publish_makes_nothing_while_the_rest_of_the_batch_runs(project, capsys):
    """One topic of two has a `to:` that cannot be written: it used to make (and pay for) every
    node before failing at its publish. Now it fails before its first node; the other publishes."""
    from vidflow.run.ledger import read_events

    doomed = QUICKSTART.replace('to: "out/{{ topic | slug }}.mp4"', "to: \"out/{{ topic | slug }}{{ 'x' * 300 if 'bees' in topic else '' }}.mp4\"")
    assert doomed != QUICKSTART
    (project / "recipe.yaml").write_text(doomed)
    assert main(["run", "recipe.yaml", "--plain"]) == 1
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err
    assert (project / "out" / "why-is-the-sky-blue.mp4").is_file()
    [record] = (project / "runs").glob("*/events.jsonl")
    events = [e for e in read_events(str(record)) if e.topic == "how-do-bees-make-honey"]
    made = [e.node for e in events if e.type.value in ("node_started", "node_succeeded", "node_cached")]
    assert made == [], made  # nothing made, nothing paid
    failed = [e for e in events if e.type.value == "node_failed"]
    assert [(e.node, e.error) for e in failed] == [("how-do-bees-make-honey/publish", "OutputPathError")]
    assert "steps.publish.to" in failed[0].message and "255 bytes" in failed[0].message
    skipped = {e.step for e in events if e.type.value == "node_skipped"}
    assert skipped == {"script", "speech", "art", "video"}, skipped
    [finished] = [e for e in events if e.type.value == "topic_finished"]
    assert finished.data["status"] == "failed" and "steps.publish.to" in finished.data["error"]


def test_the_plan_of_a_doomed_topic_counts_none_of_its_nodes_as_to_run(project, capsys):
    """The plan agrees with the run: the doomed topic's nodes (its failed publish, its skipped
    steps) are nodes of their steps, but none would run; the problem is listed."""
    import json

    doomed = QUICKSTART.replace('to: "out/{{ topic | slug }}.mp4"', "to: \"out/{{ topic | slug }}{{ 'x' * 300 if 'bees' in topic else '' }}.mp4\"")
    (project / "recipe.yaml").write_text(doomed)
    assert main(["plan", "recipe.yaml", "--json"]) == 2  # a problem: exit 2, with the report
    report = json.loads(capsys.readouterr().out)
    would_run = {n["id"].split("/")[0] for n in report["nodes"]}
    assert would_run == {"why-is-the-sky-blue"}, would_run
    assert report["to_run"] == len(report["nodes"]) == sum(r["to_run"] for r in report["rows"])
    assert report["total_nodes"] == report["to_run"] + 5  # the doomed topic's five steps, one node each
    assert any("steps.publish.to" in p for p in report["problems"])


def test_a_fine_topics_file_still_loads(cli, project):
    shutil.copy(REPO / "recipes" / "topics.txt", project / "topics.txt")
    rc, lines = cli(QUICKSTART, "--topics", "topics.txt")
    assert rc == 0, lines
