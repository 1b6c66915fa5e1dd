"""Every example in docs/*.md and README.md is run by a test.

Examples are discovered from the fenced code blocks, so a new doc or a new block is covered
without editing this file. Each test id is where the example lives (``docs/recipes.md:8-47``
for a block, ``README.md:35`` for one command line), so a failure points at the doc.

What counts as what:

* ``yaml`` block whose first non-comment line is ``vidflow: 1``: a **recipe**. It is written
  verbatim to a scratch project as ``recipe.yaml`` and must plan (exit 0). The first two
  recipes that use only offline kinds and have no ``topics_file:`` are also run (one topic,
  ``--only``), and must publish an mp4 when they have a publish step. If a recipe names a
  ``topics_file:``, the block in the same doc that starts with ``# <that file name>`` is
  written there, or else a one-topic file is generated.
* ``yaml`` block whose first key is ``name:`` and that has ``sprites:``: a **character**. It is
  written verbatim to ``characters/<new id>.yaml``; every sprite path it names is filled with
  the repo's Nova sprites; it must load with :func:`vidflow.recipe.characters.load_character`.
* other ``yaml`` block whose top-level keys are all recipe keys (``providers:`` ...): a recipe
  **fragment**. It is merged over ``recipes/quickstart.yaml`` and the result must plan.
* a block whose first line is ``# <name>.txt|.csv|.jsonl``: a **topics file**. The quickstart
  recipe must plan with ``--topics`` pointing at it, with as many topics as the file shows.
* ``sh`` block: every ``vidflow ...`` / ``python3 -m vidflow ...`` command on a line (also after
  ``&&``; ``# comments`` stripped) is run in-process with :func:`vidflow.cli.main` and must exit
  0. Each command gets its own copy of a project holding the repo's recipes/ and characters/;
  when the command (or one before it in its block) is ``run``, ``plan``, ``status``, ``report``
  or ``cache``, the copy is of a project where the quickstart already ran (so ``--refresh``,
  ``--check``, ``status``, ``cache gc`` and friends meet a warm cache and a previous run). A block is a sequence: the commands above
  a command in its block run first, in the same copy (``... > scripts.json`` then
  ``--input script=scripts.json``). So no command depends on another test having run, and any
  one can run alone. pip and other shell commands are not run (CI runs the README's set-up
  commands): they are listed as skipped.
* anything else (toml, text, json, unlabelled) is data: listed as a skipped test, not run.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sys
import re
import shlex
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests import conftest
from tests.conftest import REPO
from vidflow.cli import main

DOC_FILES = sorted((REPO / "docs").glob("*.md")) + [REPO / "README.md"]
OFFLINE_KINDS = {"text.offline", "speech.espeak", "image.procedural"}
MAX_RUNS = 2  # composing costs ~6-10 s per topic: run at most this many recipes, plan the rest
SH_LANGS = {"sh", "bash", "shell", "console", "zsh"}
YAML_LANGS = {"yaml", "yml"}
# The README's quickstart command, run once to warm the shared command project.
WARM_UP = ["run", "recipes/quickstart.yaml"]


# --------------------------------------------------------------------------- discovery


@dataclass(frozen=True)
class Block:
    file: str  # relative to the repo, e.g. docs/recipes.md
    start: int  # line of the opening fence (1-based)
    end: int  # line of the closing fence
    lang: str
    text: str
    info: str = ""  # the whole info string: ```python file=vidflow_acme/__init__.py

    @property
    def id(self) -> str:
        return f"{self.file}:{self.start}-{self.end}"

    def doc_line(self, line_in_block: int) -> int:
        """The doc's line number for line ``line_in_block`` (1-based) of the block's text."""
        return self.start + line_in_block


@dataclass(frozen=True)
class Command:
    block: Block
    line: int  # the doc line the command is on
    source: str
    argvs: tuple[tuple[str, ...], ...]  # one per `vidflow ...` segment of the line
    env: tuple[tuple[str, str], ...] = ()
    shell: bool = False  # uses pipes or redirections: run by a real shell

    @property
    def id(self) -> str:
        return f"{self.block.file}:{self.line}"

    @property
    def needs_cache(self) -> bool:
        """A warm project: a cache to meet, or a previous run to report on."""
        return any(a and a[0] in ("run", "plan", "status", "report", "cache", "show", "rerun", "review") for a in self.argvs)


_FENCE = re.compile(r"^ {0,3}(?P<fence>`{3,}|~{3,})\s*(?P<info>[^`]*)$")


def parse_blocks(path: Path) -> tuple[list[Block], list[tuple[str, str]]]:
    """The fenced code blocks of a markdown file, and any unclosed fence (id, problem)."""
    rel = path.relative_to(REPO).as_posix()
    blocks: list[Block] = []
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, info = m.group("fence"), m.group("info").strip()
        lang = info.split()[0].lower() if info else ""
        close = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        j = i + 1
        while j < len(lines) and not close.match(lines[j]):
            j += 1
        if j == len(lines):
            return blocks, [(f"{rel}:{i + 1}", f"the fence opened at line {i + 1} is never closed")]
        blocks.append(Block(rel, i + 1, j + 1, lang, "\n".join(lines[i + 1 : j]) + "\n", info))
        i = j + 1
    return blocks, []


def _content_lines(text: str) -> list[str]:
    return [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _top_level_keys(text: str) -> list[str]:
    return [m.group(1) for ln in _content_lines(text) if (m := re.match(r"^([A-Za-z_][\w-]*)\s*:", ln))]


def _recipe_keys() -> set[str]:
    from vidflow.recipe.schema import Recipe

    return set(Recipe.model_fields)


def is_recipe(b: Block) -> bool:
    first = _content_lines(b.text)[:1]
    return b.lang in YAML_LANGS and bool(first) and re.match(r"^vidflow\s*:\s*1\s*(#.*)?$", first[0]) is not None


def is_character(b: Block) -> bool:
    keys = _top_level_keys(b.text)
    return b.lang in YAML_LANGS and keys[:1] == ["name"] and "sprites" in keys


def is_fragment(b: Block) -> bool:
    keys = _top_level_keys(b.text)
    return b.lang in YAML_LANGS and bool(keys) and set(keys) <= _recipe_keys() and "vidflow" not in keys


def topics_file_name(b: Block) -> str | None:
    """``topics.txt`` for a block whose first line is ``# topics.txt...``."""
    first = b.text.splitlines()[:1]
    m = re.match(r"^#\s*([\w./-]+?(?:\.txt|\.csv|\.jsonl))\b", first[0]) if first else None
    return m.group(1) if m and b.lang not in YAML_LANGS | SH_LANGS else None


def recipe_runs_offline(b: Block) -> bool:
    """Only offline kinds and no topics_file (read from the text: the YAML may be broken)."""
    text = "\n".join(ln.split("#", 1)[0] for ln in b.text.splitlines())
    kinds = set(re.findall(r"\bkind\s*:\s*[\"']?([\w.-]+)", text))
    return bool(kinds) and kinds <= OFFLINE_KINDS and not re.search(r"^\s*topics_file\s*:", text, re.M)


def _logical_lines(b: Block):
    """(doc line, line) with backslash continuations joined."""
    buf, first = "", None
    for n, ln in enumerate(b.text.splitlines(), start=1):
        if first is None:
            first = n
        if ln.rstrip().endswith("\\"):
            buf += ln.rstrip()[:-1] + " "
            continue
        yield b.doc_line(first), buf + ln
        buf, first = "", None
    if buf.strip():
        yield b.doc_line(first), buf


def _vidflow_argv(seg: list[str]) -> list[str] | None:
    if seg[:1] == ["vidflow"]:
        return seg[1:]
    if len(seg) >= 3 and re.fullmatch(r"python(3(\.\d+)?)?", seg[0]) and seg[1:3] == ["-m", "vidflow"]:
        return seg[3:]
    return None


def _is_pip(seg: list[str]) -> bool:
    return seg[:1] in (["pip"], ["pip3"]) or (len(seg) >= 3 and seg[0].startswith("python") and seg[1:3] == ["-m", "pip"])


def commands_in(b: Block) -> tuple[list[Command], list[tuple[str, str]], list[tuple[str, str]]]:
    """(commands, skipped (id, reason), malformed (id, problem)) of one sh block."""
    cmds, skipped, bad = [], [], []
    for line_no, line in _logical_lines(b):
        s = line.strip()
        if not s or s.startswith("#"):
            continue
        s = s[2:] if s.startswith("$ ") else s
        try:
            tokens = shlex.split(s, comments=True)
        except ValueError as e:
            bad.append((f"{b.file}:{line_no}", f"cannot split `{s}`: {e}"))
            continue
        segments: list[list[str]] = [[]]
        shell = any(t in ("|", ">", ">>", "<") for t in tokens)
        for i, t in enumerate(tokens):
            if t in ("&&", ";", "|"):
                segments.append([])
            elif t in (">", ">>", "<") or (i and tokens[i - 1] in (">", ">>", "<")):
                continue  # a redirection and its file
            else:
                segments[-1].append(t)
        argvs, env, other = [], [], []
        for seg in filter(None, segments):
            while seg and re.match(r"^[A-Z_][A-Z0-9_]*=", seg[0]):
                env.append(tuple(seg.pop(0).split("=", 1)))
            argv = _vidflow_argv(seg)
            if argv is not None:
                argvs.append(tuple(argv))
            else:
                other.append(shlex.join(seg) + (" (pip: never run by tests)" if _is_pip(seg) else ""))
        if argvs:
            cmds.append(Command(b, line_no, s, tuple(argvs), tuple(env), shell))
        if other:
            skipped.append((f"{b.file}:{line_no}", "not a vidflow command, not run: " + "; ".join(other)))
    return cmds, skipped, bad


@dataclass
class Discovered:
    recipes: list[Block] = field(default_factory=list)
    runnable: list[Block] = field(default_factory=list)
    fragments: list[Block] = field(default_factory=list)
    characters: list[Block] = field(default_factory=list)
    topics_files: list[Block] = field(default_factory=list)
    commands: list[Command] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    malformed: list[tuple[str, str]] = field(default_factory=list)
    blocks: list[Block] = field(default_factory=list)


def discover() -> Discovered:
    d = Discovered()
    for path in DOC_FILES:
        blocks, bad = parse_blocks(path)
        d.blocks += blocks
        d.malformed += bad
        for b in blocks:
            if "file=" in b.info:  # one file of a multi-file example (a plugin): its own test runs it
                d.skipped.append((b.id, "a file of the plugin example: run by tests/plugins/test_docs_plugin.py"))
            elif is_recipe(b):
                d.recipes.append(b)
                if recipe_runs_offline(b) and len(d.runnable) < MAX_RUNS:
                    d.runnable.append(b)
            elif is_character(b):
                d.characters.append(b)
            elif is_fragment(b):
                d.fragments.append(b)
            elif topics_file_name(b):
                d.topics_files.append(b)
            elif b.lang in SH_LANGS:
                cmds, skipped, bad = commands_in(b)
                d.commands += cmds
                d.skipped += skipped
                d.malformed += bad
            elif b.lang in YAML_LANGS:
                d.skipped.append((b.id, "yaml block that is not a recipe (`vidflow: 1`), a recipe fragment or a character (`name:` + `sprites:`): not run"))
            else:
                d.skipped.append((b.id, f"{b.lang or 'unlabelled'} block: data, not an example"))
    return d


DOCS = discover()


# --------------------------------------------------------------------------- helpers


def invoke(argv, env=()) -> tuple[int, str, str]:
    """Run ``vidflow <argv>`` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env:
            mp.setenv(k, v)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(list(argv))
            except SystemExit as e:  # --help, --version
                rc = 0 if e.code is None else e.code
    return rc, out.getvalue(), err.getvalue()


def _tail(s: str, n: int = 40) -> str:
    lines = s.rstrip().splitlines()
    return "\n".join((["..."] if len(lines) > n else []) + lines[-n:])


def to_doc_lines(text: str, block: Block, written: str) -> str:
    """``recipe.yaml:5:35: ...`` -> ``recipe.yaml:5:35 (docs/recipes.md:13): ...``."""
    pat = re.compile(rf"{re.escape(written)}:(\d+)(:\d+)?")
    return pat.sub(lambda m: f"{m.group(0)} ({block.file}:{block.doc_line(int(m.group(1)))})", text)


def _explain(argv, rc, out, err, block: Block | None = None, written: str | None = None) -> str:
    """A failure message; ``written:N`` locations are mapped back to the doc's lines."""
    if block is not None and written:
        err = to_doc_lines(err, block, written)
    where = f"{block.id}: " if block is not None else ""
    return f"{where}`vidflow {shlex.join(argv)}` exited {rc}\n--- stderr\n{_tail(err)}\n--- stdout\n{_tail(out)}"


def write_topics_file(block: Block, project: Path, rel: str) -> None:
    """The topics file a recipe names: the doc's own block for it if it shows one, else one topic."""
    dest = project / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    name = Path(rel).name
    for b in DOCS.topics_files:
        if b.file == block.file and Path(topics_file_name(b) or "").name == name:
            dest.write_text(_topics_file_text(b), encoding="utf-8")
            return
    ext = Path(rel).suffix
    sample = {".csv": "topic\nWhy is the sky blue?\n", ".jsonl": '{"topic": "Why is the sky blue?"}\n'}
    dest.write_text(sample.get(ext, "Why is the sky blue?\n"), encoding="utf-8")


def _topics_file_text(b: Block) -> str:
    """A .txt file keeps its `# name` line (comments are part of the format); csv/jsonl drop it."""
    name = topics_file_name(b) or ""
    return b.text if name.endswith(".txt") else "\n".join(b.text.splitlines()[1:]) + "\n"


def _expected_topics(name: str, text: str) -> int:
    if name.endswith(".csv"):
        return sum(1 for row in csv.DictReader(io.StringIO(text)) if any((v or "").strip() for v in row.values()))
    if name.endswith(".jsonl"):
        return sum(1 for ln in text.splitlines() if ln.strip())
    return len(_content_lines(text))


def _topics_file_of(text: str) -> str | None:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return None
    tf = data.get("topics_file") if isinstance(data, dict) else None
    return tf if isinstance(tf, str) else None


def _param(items, slow=lambda item: False):
    return [pytest.param(it, id=it.id, marks=[pytest.mark.slow] if slow(it) else []) for it in items]


# --------------------------------------------------------------------------- discovery itself


def test_discovery_finds_the_examples():
    """The parser works: the docs as they are have recipes, characters and commands."""
    assert DOCS.recipes, "no ```yaml block starting with `vidflow: 1` found in docs/"
    assert DOCS.characters, "no character ```yaml block (`name:` ... `sprites:`) found in docs/"
    assert DOCS.commands, "no `vidflow ...` command found in ```sh blocks"
    assert not DOCS.malformed, "\n".join(f"{where}: {problem}" for where, problem in DOCS.malformed)


@pytest.mark.parametrize(("where", "reason"), DOCS.skipped, ids=[w for w, _ in DOCS.skipped])
def test_data_block_is_not_an_example(where, reason):
    pytest.skip(f"{where}: {reason}")


# --------------------------------------------------------------------------- recipes


def _write_recipe(block: Block, project: Path) -> None:
    (project / "recipe.yaml").write_text(block.text, encoding="utf-8")
    tf = _topics_file_of(block.text)
    if tf and not (project / tf).exists():
        write_topics_file(block, project, tf)


@pytest.mark.parametrize("block", _param(DOCS.recipes))
def test_recipe_plans(block, project):
    _write_recipe(block, project)
    argv = ["plan", "recipe.yaml"]
    rc, out, err = invoke(argv)
    assert rc == 0, _explain(argv, rc, out, err, block, "recipe.yaml")


@pytest.mark.parametrize("block", _param(DOCS.runnable, slow=lambda b: True))
def test_recipe_runs(block, project):
    from vidflow.api import load_recipe_file
    from vidflow.errors import UserError

    _write_recipe(block, project)
    try:
        loaded, problems = load_recipe_file("recipe.yaml"), None
    except UserError as e:
        problems = to_doc_lines("\n".join(e.lines()), block, "recipe.yaml")
    if problems:
        pytest.fail(f"{block.id}: the recipe does not load:\n{problems}")
    topic = loaded.topics[0].id
    argv = ["run", "recipe.yaml", "--only", topic, "--json"]
    rc, out, err = invoke(argv)
    gated = [name for name, s in loaded.steps.items() if getattr(s.spec, "approve", False)]
    if gated:  # a review example: it waits (exit 4), is approved as the doc says, then publishes
        assert rc == 4, _explain(argv, rc, out, err, block, "recipe.yaml")
        for step in gated:
            assert invoke(["approve", "recipe.yaml", step])[0] == 0
        rc, out, err = invoke(argv)
    assert rc == 0, _explain(argv, rc, out, err, block, "recipe.yaml")
    if any(s.shape == "publish" for s in loaded.steps.values()):
        result = json.loads(out)["topics"][topic]
        assert result["status"] == "published", result
        assert result["output"].endswith(".mp4"), result
        if "://" not in result["output"]:
            assert Path(result["output"]).is_file() and Path(result["output"]).stat().st_size > 0, result


@pytest.mark.parametrize("block", _param(DOCS.fragments))
def test_recipe_fragment_plans(block, project):
    """A partial recipe (e.g. a `providers:` example) merged over the quickstart recipe plans."""
    base = yaml.safe_load((REPO / "recipes" / "quickstart.yaml").read_text(encoding="utf-8"))
    try:
        frag, problem = yaml.safe_load(block.text), None
    except yaml.YAMLError as e:
        frag, problem = None, str(e)
    if problem:
        pytest.fail(f"{block.id}: not valid YAML (line numbers are the block's): {problem}")
    assert isinstance(frag, dict), f"{block.id}: a recipe fragment must be a mapping"
    for key, value in frag.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
        if key == "topics_file":
            base.pop("topics", None)
            write_topics_file(block, project, value)
        elif key == "topics":
            base.pop("topics_file", None)
    merged = yaml.safe_dump(base, sort_keys=False, allow_unicode=True)
    (project / "recipe.yaml").write_text(merged, encoding="utf-8")
    argv = ["plan", "recipe.yaml"]
    rc, out, err = invoke(argv)
    assert rc == 0, _explain(argv, rc, out, err, block) + f"\n--- recipes/quickstart.yaml with the fragment merged in\n{merged}"


@pytest.mark.parametrize("block", _param(DOCS.topics_files))
def test_topics_file_plans(block, project):
    name = Path(topics_file_name(block)).name
    text = _topics_file_text(block)
    (project / name).write_text(text, encoding="utf-8")
    shutil.copy(REPO / "recipes" / "quickstart.yaml", project / "recipe.yaml")
    argv = ["plan", "recipe.yaml", "--topics", name, "--json"]
    rc, out, err = invoke(argv)
    assert rc == 0, _explain(argv, rc, out, err, block, name)
    assert json.loads(out)["topics"] == _expected_topics(name, text), f"{block.id}: {name} gave a different number of topics than it shows"


# --------------------------------------------------------------------------- characters


@pytest.mark.parametrize("block", _param(DOCS.characters))
def test_character_loads(block, project):
    """Written verbatim under a new id; the sprites it names are the repo's Nova sprites."""
    from vidflow.recipe.characters import load_character
    from vidflow.errors import RecipeError

    chars = project / "characters"
    cid = "doc_" + re.sub(r"\W+", "_", f"{Path(block.file).stem}_{block.start}")
    path = chars / f"{cid}.yaml"
    path.write_text(block.text, encoding="utf-8")
    try:
        data = yaml.safe_load(block.text)
    except yaml.YAMLError:
        data = None  # load_character reports it, with the line
    sprites = data.get("sprites") if isinstance(data, dict) else None
    for pose, rel in (sprites or {}).items() if isinstance(sprites, dict) else ():
        if not isinstance(rel, str):
            continue
        dest = (chars / rel).resolve()
        if dest.is_relative_to(project.resolve()) and not dest.exists():
            src = REPO / "characters" / "nova" / f"{pose}.png"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src if src.exists() else REPO / "characters" / "nova" / "telling.png", dest)
    try:
        ch, problems = load_character(cid, path), None
    except RecipeError as e:
        problems = to_doc_lines("\n".join(e.lines()), block, f"characters/{cid}.yaml")
    if problems:
        pytest.fail(f"{block.id}: the character does not load:\n{problems}")
    assert ch.name == data["name"]


# --------------------------------------------------------------------------- commands


def _scrubbed(mp: pytest.MonkeyPatch) -> None:
    """conftest.clean_env, for module-scoped fixtures (it is function-scoped)."""
    for k in list(os.environ):
        if k.startswith("VIDFLOW_") or k in conftest._SCRUB:
            mp.delenv(k, raising=False)
    mp.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    mp.setenv("AWS_ACCESS_KEY_ID", "testing")
    mp.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    mp.setenv("AWS_DEFAULT_REGION", "eu-west-1")


def earlier_in_block(cmd: Command) -> list[Command]:
    """The commands above ``cmd`` in its block: a block is a sequence, they set the scene for it."""
    return [c for c in DOCS.commands if c.block == cmd.block and c.line < cmd.line]


def _needs_warm(cmd: Command) -> bool:
    return any(c.needs_cache for c in (*earlier_in_block(cmd), cmd))


@pytest.fixture(scope="module")
def command_project(tmp_path_factory):
    """The template every doc command's project is copied from: the repo's recipes/ and characters/."""
    root = tmp_path_factory.mktemp("docs_commands")
    for d in ("recipes", "characters"):
        shutil.copytree(REPO / d, root / d)
    return root


@pytest.fixture(scope="module")
def warm_command_project(tmp_path_factory, command_project):
    """The template after the quickstart ran once in it (~15 s: it composes two videos).

    Only fixtures write here; tests run in copies of it, so what one command changes (a refreshed
    script, a report, a run record) is never seen by another.
    """
    root = tmp_path_factory.mktemp("docs_commands_warm")
    shutil.copytree(command_project, root, dirs_exist_ok=True)
    with pytest.MonkeyPatch.context() as mp:
        _scrubbed(mp)
        mp.chdir(root)
        rc, out, err = invoke(WARM_UP)
    assert rc == 0, "warming up the command project failed: " + _explain(WARM_UP, rc, out, err)
    return root


def _run_command(cmd: Command, project: Path, what: str) -> None:
    if cmd.shell:  # pipes and redirections: run the line as a shell would, `vidflow` on PATH
        import subprocess

        shim = project / ".bin"
        shim.mkdir(exist_ok=True)
        (shim / "vidflow").write_text(f'#!/bin/sh\nexec "{sys.executable}" -m vidflow "$@"\n')
        (shim / "vidflow").chmod(0o755)
        env = {**os.environ, "PATH": f"{shim}:{os.environ.get('PATH', '')}", "PYTHONPATH": str(REPO), **dict(cmd.env)}
        proc = subprocess.run(["bash", "-o", "pipefail", "-c", cmd.source], cwd=project, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"{what}{cmd.id}: {cmd.source}\n--- stderr\n{_tail(proc.stderr)}"
        return
    for argv in cmd.argvs:
        rc, out, err = invoke(argv, cmd.env)
        assert rc == 0, f"{what}{cmd.id}: {cmd.source}\n" + _explain(argv, rc, out, err)


@pytest.mark.parametrize("cmd", _param(DOCS.commands, slow=_needs_warm))
def test_command_exits_0(cmd, request, tmp_path, monkeypatch):
    template = request.getfixturevalue("warm_command_project" if _needs_warm(cmd) else "command_project")
    project = tmp_path / "project"
    shutil.copytree(template, project, symlinks=True)
    monkeypatch.chdir(project)
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # processes a command starts (Dask workers) import this checkout
    for earlier in earlier_in_block(cmd):
        _run_command(earlier, project, f"set-up for {cmd.id} (the command above it in its block): ")
    _run_command(cmd, project, "")
