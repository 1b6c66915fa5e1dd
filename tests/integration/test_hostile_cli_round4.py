"""Hostile input, round 4: flags, environment variables, character files and recipes that used
to end in an internal error (exit 3) or in a failed node at run time.

Each case runs the real CLI (``python -m vidflow`` in a subprocess, so the environment and
argv bytes are the user's own) and asserts exit 2, one message naming the file or flag and the
fix, no traceback, and nothing half-made.
"""

from __future__ import annotations

import os
import stat
import shutil
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from tests.conftest import REPO

TINY = """\
vidflow: 1
name: tiny
topics: ["Alpha"]
providers:
  w: {kind: text.offline}
steps:
  a: {uses: w, prompt: "Hello {{ topic }}"}
"""

COMPOSED = """\
vidflow: 1
name: composed
topics: ["Alpha"]
characters: [nova]
providers:
  writer:  {kind: text.offline}
  voice:   {kind: speech.espeak}
  painter: {kind: image.procedural}
steps:
  script: {uses: writer, output: dialogue, lines: 2, scenes: 1, prompt: "about {{ topic }}"}
  speech: {for_each: script.lines, uses: voice, text: "{{ item.text }}", voice: "{{ item.speaker }}"}
  art: {for_each: script.scenes, uses: painter, prompt: "{{ item.image_prompt }}"}
  video: {compose: vertical, MUSIC}
  publish: {to: "out/{{ topic | slug }}.mp4"}
"""


def vidflow(cwd: Path, *args: str | bytes, **env: str | bytes) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("VIDFLOW_", "AWS_"))}
    return subprocess.run([sys.executable, "-m", "vidflow", *args], cwd=cwd, capture_output=True, text=True, errors="replace", timeout=300, env={**clean, **env})


def refused(proc: subprocess.CompletedProcess, *fragments: str) -> list[str]:
    """Exit 2, no traceback, every line ``error: ...``, each fragment said."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), lines
    for fragment in fragments:
        assert fragment in proc.stderr, (fragment, proc.stderr)
    return lines


@pytest.fixture
def proj(tmp_path):
    shutil.copytree(REPO / "characters", tmp_path / "characters")
    (tmp_path / "tiny.yaml").write_text(TINY)
    return tmp_path


# --------------------------------------------------------------------------- music: a text step


def test_music_naming_the_script_step_is_a_recipe_error(proj):
    """`music: script` made the compose step lose its dialogue: KeyError, exit 3."""
    (proj / "r.yaml").write_text(COMPOSED.replace("MUSIC", "music: script"))
    for command in ("plan", "run"):
        proc = vidflow(proj, command, "r.yaml")
        refused(proc, "r.yaml:13:", "steps.video.music", "`music: script` names a text step", "vidflow:gentle")
    assert not (proj / "out").exists()


# --------------------------------------------------------------------------- --report / --html


@pytest.mark.parametrize("where", ["folder", "under-a-file"])
def test_a_report_path_that_cannot_be_a_file_is_refused_before_the_run(proj, where):
    """`--report DIR` and `--report FILE/x.json` ran the whole batch, then crashed (exit 3)."""
    (proj / "folder").mkdir()
    (proj / "afile").write_text("x")
    target = "folder" if where == "folder" else "afile/report.json"
    proc = vidflow(proj, "run", "tiny.yaml", "--report", target)
    refused(proc, f"--report {target}: ", "is a folder; give a file path" if where == "folder" else "is a file, not a folder")
    assert not (proj / "cache").exists() and not (proj / "runs").exists()  # refused before any work
    assert os.listdir(proj / "folder") == []


def test_a_report_path_that_is_a_pipe_or_device_is_never_replaced(proj):
    """`vidflow report --html /dev/full` run as root renamed a regular file over the device,
    destroying it (any atomic write does, by rename). A pipe stands in for a device here."""
    assert vidflow(proj, "run", "tiny.yaml").returncode == 0
    pipe = proj / "pipe"
    os.mkfifo(pipe)
    refused(vidflow(proj, "report", "--html", "pipe"), "--html pipe: ", "is not a regular file (a device or a pipe)")
    refused(vidflow(proj, "run", "tiny.yaml", "--report", "pipe"), "--report pipe: ", "is not a regular file")
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)


def test_an_atomic_write_never_replaces_what_is_not_a_file(tmp_path):
    """The last line of defence, under every local write (cache, reports, outputs, run records)."""
    from vidflow.atomicfile import write_local_atomic
    from vidflow.storage import atomic_put_file, url_to_fs

    pipe = tmp_path / "pipe"
    os.mkfifo(pipe)
    with pytest.raises(OSError, match="not a regular file"):
        write_local_atomic(pipe, b"x")
    (tmp_path / "src").write_bytes(b"video")
    fs, _ = url_to_fs(str(tmp_path))
    with pytest.raises(OSError, match="not a regular file"):
        atomic_put_file(fs, str(tmp_path / "src"), str(pipe))
    assert stat.S_ISFIFO(os.stat(pipe).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pipe", "src"]  # no temp file left
    write_local_atomic(tmp_path / "file", b"1")
    write_local_atomic(tmp_path / "file", b"2")  # a file is replaced as before
    assert (tmp_path / "file").read_bytes() == b"2"


@pytest.mark.parametrize("where", ["folder", "under-a-file"])
def test_vidflow_report_html_path_that_cannot_be_a_file(proj, where):
    assert vidflow(proj, "run", "tiny.yaml").returncode == 0
    (proj / "folder").mkdir()
    (proj / "afile").write_text("x")
    target = "folder" if where == "folder" else "afile/r.html"
    refused(vidflow(proj, "report", "--html", target), f"--html {target}: ")
    assert (proj / "afile").read_text() == "x" and os.listdir(proj / "folder") == []


# --------------------------------------------------------------------------- --input documents


def _stage_document(proj: Path) -> str:
    proc = vidflow(proj, "run", "tiny.yaml", "--until", "a", "--emit", "json")
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("case", ["bad-byte", "surrogate-escape", "bad-byte-on-stdin", "nan", "deep"])
def test_a_stage_document_that_is_not_text_or_json_a_key_can_hold(proj, case):
    """Each of these used to end in a UnicodeDecodeError, UnicodeEncodeError or RecursionError
    (exit 3); NaN went into the cache key."""
    doc = _stage_document(proj)
    value = doc.split('"value": "', 1)[1].split('"', 1)[0]
    body = {
        "bad-byte": doc.replace(value, "caf\udcff", 1).encode("utf-8", "surrogateescape"),
        "bad-byte-on-stdin": doc.replace(value, "caf\udcff", 1).encode("utf-8", "surrogateescape"),
        "surrogate-escape": doc.replace(value, "caf\\udcff", 1).encode(),
        "nan": doc.replace(f'"{value}"', "NaN", 1).encode(),
        "deep": b"[" * 100_000 + b"]" * 100_000,
    }[case]
    (proj / "doc.json").write_bytes(body)
    if case.endswith("stdin"):
        proc = subprocess.run([sys.executable, "-m", "vidflow", "run", "tiny.yaml", "--input", "a=-"], cwd=proj, input=body, capture_output=True, timeout=120,
                              env={k: v for k, v in os.environ.items() if not k.startswith("VIDFLOW_")})
        proc = subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))
        source = "a=-"
    else:
        proc = vidflow(proj, "run", "tiny.yaml", "--input", "a=doc.json")
        source = "a=doc.json"
    fix = {"nan": "holds NaN", "deep": "nested too deeply"}.get(case, "UTF-8")
    refused(proc, f"--input {source}: ", fix)


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_stage_document_without_end_is_refused_not_read_until_memory_runs_out(proj):
    """`--input a=/dev/zero` read until the kernel killed vidflow (exit 137)."""
    proc = vidflow(proj, "run", "tiny.yaml", "--input", "a=/dev/zero")
    refused(proc, "--input a=/dev/zero: ", "larger than 256 MiB")
    assert not (proj / "cache").exists()


# --------------------------------------------------------------------------- cache gc sizes


@pytest.mark.parametrize("flag,value", [("--max-size", "9" * 400 + "TB"), ("--older-than", "9" * 400 + "d")])
def test_cache_gc_with_a_number_too_large_for_a_float(proj, flag, value):
    """float('9' * 400) is inf: int(inf) raised OverflowError (exit 3)."""
    assert vidflow(proj, "run", "tiny.yaml").returncode == 0
    before = sorted(p.relative_to(proj) for p in (proj / "cache").rglob("*"))
    refused(vidflow(proj, "cache", "gc", flag, value), "cache gc: ", "is too large; write e.g.")
    assert sorted(p.relative_to(proj) for p in (proj / "cache").rglob("*")) == before


# --------------------------------------------------------------------------- bytes that are not UTF-8


def _environ_bytes(**env: bytes) -> dict:
    """The environment with some variables set to raw bytes (as a shell on a Latin-1 system does)."""
    base = {os.fsencode(k): os.fsencode(v) for k, v in os.environ.items() if not k.startswith(("VIDFLOW_", "AWS_"))}
    return {**base, **{k.encode(): v for k, v in env.items()}}


def _run_bytes(cwd: Path, argv: list[bytes], env: dict) -> subprocess.CompletedProcess:
    proc = subprocess.run([os.fsencode(sys.executable), b"-m", b"vidflow", *argv], cwd=cwd, capture_output=True, timeout=120, env=env)
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace"))


@pytest.mark.parametrize("name", ["VIDFLOW_CACHE_SALT", "VIDFLOW_CACHE", "VIDFLOW_RUNS_DIR", "VIDFLOW_SCRATCH_DIR"])
def test_an_environment_variable_that_is_not_utf8(proj, name):
    """Such a salt or cache path crashed the run with UnicodeEncodeError (exit 3) once the first
    key or snapshot was encoded."""
    proc = _run_bytes(proj, [b"run", b"tiny.yaml"], _environ_bytes(**{name: b"caf\xe9"}))
    refused(proc, f"environment variable {name} is not UTF-8 text (byte 0xe9 at position 3)")
    assert not (proj / "cache").exists() and not (proj / "runs").exists()


def test_an_api_key_that_is_not_utf8_is_refused_before_the_run_naming_only_the_variable(proj):
    """It failed every call as `the provider's reply cannot be used: UnicodeEncodeError`."""
    shutil.copy(REPO / "recipes" / "openai.yaml", proj / "openai.yaml")
    proc = _run_bytes(proj, [b"run", b"openai.yaml", b"--limit", b"1"], _environ_bytes(OPENAI_API_KEY=b"sk-secret\xff"))
    lines = refused(proc, "openai.yaml:12:", "providers.writer: environment variable OPENAI_API_KEY is not UTF-8 text")
    assert "secret" not in proc.stderr.replace("set it again", "")
    assert "0xff" not in proc.stderr and "position" not in proc.stderr  # not one byte of a key
    assert len(lines) == 3 and not list(proj.glob("runs/*/events.jsonl"))  # no node started (as for a missing key)


@pytest.mark.parametrize("how", ["env", "flag"])
def test_a_runs_dir_that_is_a_url_is_refused(proj, how):
    """It ran and wrote its record into a local folder named `s3:`, reporting the URL."""
    url = "s3://bucket/runs"
    proc = vidflow(proj, "run", "tiny.yaml", **{"VIDFLOW_RUNS_DIR": url}) if how == "env" else vidflow(proj, "run", "tiny.yaml", "--runs-dir", url)
    refused(proc, f"runs dir {url}: run records are kept in a local folder", "give a local path")
    assert not (proj / "s3:").exists() and not (proj / "cache").exists()


def test_a_missing_api_key_is_refused_before_anything_is_written(proj):
    """The run was refused (exit 2), but its snapshot and blobs were already in the cache."""
    shutil.copy(REPO / "recipes" / "openai.yaml", proj / "openai.yaml")
    env = {k: v for k, v in _environ_bytes().items() if k != b"OPENAI_API_KEY"}
    proc = _run_bytes(proj, [b"run", b"openai.yaml"], env)
    refused(proc, "openai.yaml:12:", "needs an API key: set OPENAI_API_KEY in the environment")
    assert not (proj / "cache").exists() and not (proj / "runs").exists()


@pytest.mark.parametrize("argv,shown", [
    ([b"run", b"t\xff.yaml"], "t\\xff.yaml: not UTF-8 text"),
    ([b"run", b"tiny.yaml", b"--cache", b"c\xff"], "--cache c\\xff: not UTF-8 text"),
    ([b"run", b"tiny.yaml", b"--out-dir", b"o\xff"], "--out-dir o\\xff: not UTF-8 text"),
    ([b"plan", b"tiny.yaml", b"--only", b"\xff"], "--only \\xff: not UTF-8 text"),
])
def test_an_argument_that_is_not_utf8(proj, argv, shown):
    """A recipe, cache or output path with such bytes crashed the run's snapshot (exit 3)."""
    (proj / os.fsdecode(b"t\xff.yaml")).write_text(TINY)
    refused(_run_bytes(proj, argv, _environ_bytes()), shown, "give it in UTF-8")
    assert not (proj / "runs").exists() and not (proj / "cache").exists()


# --------------------------------------------------------------------------- sprites


def _png(width: int, height: int, idat: bytes) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.mark.parametrize("case,fragment", [
    ("truncated", "cannot be read as a PNG (image file is truncated); save it again as an RGBA PNG"),
    ("bad-pixels", "cannot be read as a PNG ("),
    ("huge", "is 30000x30000 pixels; the limit is 4096 a side"),
])
def test_a_sprite_that_passes_the_header_checks_but_cannot_be_drawn(proj, case, fragment):
    """These passed `vidflow plan`; the run then failed each topic at its first scene with
    `FFmpegError: ... Nothing was written into output file`, naming neither the character nor
    the sprite."""
    good = (REPO / "characters" / "nova" / "telling.png").read_bytes()
    sprite = {
        "truncated": good[: len(good) // 2],
        "bad-pixels": _png(64, 64, zlib.compress(b"\0" * 10)),  # far fewer rows than 64
        "huge": _png(30000, 30000, zlib.compress(b"\0" * 100)),
    }[case]
    (proj / "characters" / "nova" / "telling.png").write_bytes(sprite)
    (proj / "r.yaml").write_text(COMPOSED.replace(", MUSIC", ""))
    for command in ("plan", "run"):
        lines = refused(vidflow(proj, command, "r.yaml"), "characters/nova.yaml:", "sprites.telling: sprite nova/telling.png ", fragment)
        assert len(lines) == 1
    assert not (proj / "out").exists() and not (proj / "cache").exists()


# --------------------------------------------------------------------------- music that is not audio


@pytest.mark.parametrize("layout", ["file", "folder", "empty-file"])
def test_music_that_is_not_audio_is_refused_at_load(proj, layout):
    """A text file named .mp3 passed `vidflow plan`; the run then failed every topic with
    `FFmpegError: ... Invalid data found when processing input` at video.audio."""
    body = b"" if layout == "empty-file" else b"this is not a song\n"
    if layout == "folder":
        (proj / "beds").mkdir()
        shutil.copy(REPO / "vidflow" / "media" / "music" / "gentle.ogg", proj / "beds" / "a.ogg")
        (proj / "beds" / "b.mp3").write_bytes(body)
        music, shown = "beds", "beds/b.mp3"
    else:
        (proj / "song.mp3").write_bytes(body)
        music = shown = "song.mp3"
    (proj / "r.yaml").write_text(COMPOSED.replace("MUSIC", f"music: {music}"))
    why = "the file is empty" if layout == "empty-file" else "no audio header in its first bytes"
    for command in ("plan", "run"):
        refused(vidflow(proj, command, "r.yaml"), "r.yaml:13:", f"steps.video.music: music file {shown} is not audio ({why})")
    assert not (proj / "out").exists() and not (proj / "cache").exists()


@pytest.mark.parametrize("ext", [".mp3", ".aac", ".m4a", ".flac", ".wav", ".opus", ".ogg", ".oga"])
def test_every_music_format_ffmpeg_writes_passes_the_sniff(tmp_path, ext):
    """The load-time check must never refuse a real audio file of a documented extension."""
    import imageio_ffmpeg

    from vidflow.media.audio import not_audio

    out = tmp_path / f"a{ext}"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "sine=d=0.3", str(out)], check=True, timeout=60)
    assert not_audio(out) is None
    if ext == ".mp3":  # a bare MPEG stream, without ID3 tag or Xing frame
        bare = tmp_path / "bare.mp3"
        subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-f", "lavfi", "-i", "sine=d=0.3", "-id3v2_version", "0", "-write_xing", "0", str(bare)], check=True, timeout=60)
        assert bare.read_bytes()[:1] == b"\xff" and not_audio(bare) is None


# --------------------------------------------------------------------------- --out-dir, --until


@pytest.mark.parametrize("out_dir", ["afile", "afile/videos"])
def test_an_out_dir_that_is_a_file_is_refused_before_the_run(proj, out_dir):
    """Every topic used to be made, then failed at publish with NotADirectoryError (exit 1)."""
    (proj / "afile").write_text("x")
    (proj / "r.yaml").write_text(COMPOSED.replace(", MUSIC", ""))
    refused(vidflow(proj, "run", "r.yaml", "--out-dir", out_dir), f"--out-dir {out_dir}: ", "afile is a file, not a folder; give a folder")
    assert not (proj / "cache").exists() and (proj / "afile").read_text() == "x"


@pytest.mark.parametrize("out_dir", ["/dev/null", "/dev/null/videos"])
def test_an_out_dir_that_is_a_device_is_refused_before_the_run(proj, out_dir):
    """/dev/null passed the check (it is not a regular file): every topic was made, then failed at publish."""
    (proj / "r.yaml").write_text(COMPOSED.replace(", MUSIC", ""))
    refused(vidflow(proj, "run", "r.yaml", "--out-dir", out_dir), f"--out-dir {out_dir}: /dev/null is not a folder; give a folder")
    assert not (proj / "cache").exists()


def test_an_empty_until_is_a_step_name_not_no_until(proj):
    """`--until "$STEP"` with STEP unset ran the whole recipe, publish and paid steps included."""
    (proj / "r.yaml").write_text(COMPOSED.replace(", MUSIC", ""))
    refused(vidflow(proj, "run", "r.yaml", "--until", ""), "--until : no such step (steps: script, speech, art, video, publish)")
    assert not (proj / "cache").exists() and not (proj / "out").exists()


# --------------------------------------------------------------------------- unpin --topic


def test_unpin_a_topic_that_does_not_exist(proj):
    """A typo in --topic said `nothing of a was pinned` and exited 0, as if there were no edit."""
    proc = vidflow(proj, "unpin", "tiny.yaml", "a", "--topic", "alhpa")
    refused(proc, "--topic alhpa: no such topic (ids: alpha)")


# --------------------------------------------------------------------------- topics files: the same name twice


@pytest.mark.parametrize("name,body,fragment", [
    ("t.csv", "topic,topic\nAlpha,Beta\n", "t.csv:1: CSV header has the column `topic` more than once"),
    ("t.csv", "topic,audience,audience\nAlpha,kids,adults\n", "t.csv:1: CSV header has the column `audience` more than once"),
    ("t.jsonl", '{"topic": "Alpha"}\n{"topic": "Alpha", "topic": "Beta"}\n', 't.jsonl:2: JSON value has the key "topic" twice'),
    ("t.jsonl", '{"topic": "Alpha", "v": {"x": 1, "x": 2}}\n', 't.jsonl:1: JSON value has the key "x" twice'),
])
def test_a_topics_file_naming_a_column_or_key_twice(proj, name, body, fragment):
    """One of the two values was kept silently (the first topic column, the last JSON key): the
    videos were made for topics or variables the file did not clearly say."""
    (proj / name).write_text(body)
    refused(vidflow(proj, "plan", "tiny.yaml", "--topics", name), fragment)


@pytest.mark.parametrize("name,body,fragment", [
    ("t.csv", "topic,vars,audience\nAlpha,x,kids\nBeta,y,adults\n", "t.csv:2: topic variable `vars` is a name templates already have (all the variables)"),
    ("t.jsonl", '{"topic": "Alpha"}\n{"topic": "Beta", "topic_id": "b"}\n', "t.jsonl:2: topic variable `topic_id` is a name templates already have (the topic's id)"),
    ("t.csv", "topic,a\nAlpha,x\n", "t.csv:2: topic variable `a` is a step of this recipe"),
])
def test_a_topics_file_variable_named_like_a_template_name(proj, name, body, fragment):
    """The variable was hidden by the name every template already has (or by the step's output):
    `{{ vars }}` was never the column, silently. Said once per name, at its first row."""
    (proj / name).write_text(body)
    lines = refused(vidflow(proj, "plan", "tiny.yaml", "--topics", name), fragment, "rename it")
    assert len(lines) == 1


# --------------------------------------------------------------------------- step names templates already have


@pytest.mark.parametrize("name", ["range", "recipe", "characters", "item", "review", "none", "outputs"])
def test_a_step_named_like_a_template_name(proj, name):
    """A step named `range` planned and ran: `{{ range }}` rendered `<function _range at 0x...>`,
    a new key (a new paid call) on every run; `recipe` broke `{{ recipe.name }}` elsewhere."""
    (proj / "r.yaml").write_text(TINY.replace("  a: {", f"  {name}: {{") + f'  b: {{uses: w, prompt: "x {{{{ {name} }}}} {{{{ recipe.name }}}}"}}\n')
    lines = refused(vidflow(proj, "plan", "r.yaml"), f"r.yaml:7:3: steps.{name}: `{name}` is a name templates already have", f"rename the step (e.g. `{name}_step`)")
    assert len(lines) == 1


# --------------------------------------------------------------------------- webhook URLs no request can reach

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


@pytest.mark.parametrize("url,fragment", [
    ("http://", "has no host"),
    ("https://[zz]/", "is not a valid URL ('zz' does not appear to be an IPv4 or IPv6 address)"),
    ("http://example.com:99999/", "is not a valid URL (Port out of range"),
    ("http://127.0.0.1:0/", "has port 0"),
    ("http://a b/", "holds a space or a control character"),
])
def test_a_webhook_url_that_no_request_can_reach(proj, url, fragment):
    """These were accepted: every event waited in the outbox, retried by every later command."""
    proc = vidflow(proj, "run", "tiny.yaml", "--notify", url, VIDFLOW_WEBHOOK_SECRET=SECRET)
    refused(proc, f"--notify {url}: a webhook URL {fragment}")
    assert not (proj / "runs" / "outbox").exists()
    (proj / "r.yaml").write_text(TINY.replace('topics: ["Alpha"]\n', f'topics: ["Alpha"]\nnotify: {{url: "{url}"}}\n'))
    refused(vidflow(proj, "plan", "r.yaml", VIDFLOW_WEBHOOK_SECRET=SECRET), "r.yaml:4:", f"notify.url: webhook URL '{url}' {fragment}")


# --------------------------------------------------------------------------- provider latency


def test_a_provider_latency_past_a_day_is_refused(proj):
    """`latency: 1e308` planned an estimate of a 300-digit number of hours."""
    (proj / "r.yaml").write_text(TINY.replace("{kind: text.offline}", "{kind: text.offline, latency: 1e308}"))
    refused(vidflow(proj, "plan", "r.yaml"), "r.yaml:5:", "providers.w.latency: Input should be less than or equal to 86400")
