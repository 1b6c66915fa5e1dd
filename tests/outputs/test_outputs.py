"""Outputs stay inside their root, whatever a topic says; a published video is verified, not trusted.

Unit tests of :mod:`vidflow.outputs` (every escape form, S3 keys, names in any script), then
whole runs: through ``vidflow run`` with hostile topics beside a good one, and a published video
corrupted in place (same size) that the next run must write again, locally and on S3 (moto).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.engine.util import plan_recipe, run_recipe
from vidflow.errors import OutputPathError, TemplateError, UserError
from vidflow.outputs import already_published, resolve_destination, sidecar_path, static_prefix

T = "out/{{ topic }}.mp4"


def _refused(template: str, rendered: str, root: Path, match: str) -> OutputPathError:
    with pytest.raises(OutputPathError, match=match) as ei:
        resolve_destination(template, rendered, str(root), topic="bad-topic")
    assert isinstance(ei.value, TemplateError) and isinstance(ei.value, UserError)
    msg = str(ei.value)
    assert "topic 'bad-topic'" in msg and repr(rendered) in msg and "topic | slug" in msg  # who, what, the fix
    return ei.value


# --------------------------------------------------------------------------- the static prefix


@pytest.mark.parametrize(
    ("template", "prefix"),
    [
        ("out/{{ topic | slug }}.mp4", "out/"),
        ("s3://b/videos/{{ topic }}.mp4", "s3://b/videos/"),
        ("{{ topic }}.mp4", ""),
        ("out/{% if x %}a{% endif %}.mp4", "out/"),
        ("out/{# note #}{{ topic }}.mp4", "out/"),
        ("out/fixed.mp4", "out/fixed.mp4"),
    ],
)
def test_static_prefix_is_the_text_before_the_first_tag(template, prefix):
    assert static_prefix(template) == prefix


# --------------------------------------------------------------------------- what is allowed


@pytest.mark.parametrize(
    ("template", "rendered", "expected"),
    [
        (T, "out/why.mp4", "out/why.mp4"),
        (T, "out/a/b.mp4", "out/a/b.mp4"),
        ("{{ topic }}.mp4", "why.mp4", "why.mp4"),
        ("out/vid-{{ topic }}.mp4", "out/vid-why.mp4", "out/vid-why.mp4"),
        ("out/{{- topic }}.mp4", "out/why.mp4", "out/why.mp4"),
        (T, "out/为什么天空是蓝色的.mp4", "out/为什么天空是蓝色的.mp4"),
        (T, "out/لماذا-السماء-زرقاء.mp4", "out/لماذا-السماء-زرقاء.mp4"),
        (T, "out/چرا\u200cآسمان.mp4", "out/چرا\u200cآسمان.mp4"),  # a zero-width non-joiner (Persian) is a letter's business
        (T, "out/..hidden..mp4", "out/..hidden..mp4"),  # dots inside a name are not a `..` segment
        (T, "out/a:b.mp4", "out/a:b.mp4"),
    ],
)
def test_clean_relative_names_land_inside_the_root(tmp_path, template, rendered, expected):
    dest = resolve_destination(template, rendered, str(tmp_path))
    assert dest == str(tmp_path.resolve() / expected)
    assert sidecar_path(dest) == str(tmp_path.resolve() / expected)[: -len(".mp4")] + ".json"


def test_unicode_names_are_written_and_read_back(tmp_path):
    """Chinese and Arabic names are legal on disk: resolved, written, verified."""
    for name in ("为什么天空是蓝色的", "لماذا السماء زرقاء"):
        dest = resolve_destination(T, f"out/{name}.mp4", str(tmp_path))
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        Path(dest).write_bytes(b"video " + name.encode())
        digest = hashlib.sha256(Path(dest).read_bytes()).hexdigest()
        Path(sidecar_path(dest)).write_text(json.dumps({"video_digest": digest, "size": Path(dest).stat().st_size}), encoding="utf-8")
        assert already_published(dest, sidecar_path(dest), digest)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        ["为什么天空是蓝色的.mp4", "为什么天空是蓝色的.json", "لماذا السماء زرقاء.mp4", "لماذا السماء زرقاء.json"]
    )


def test_an_absolute_or_file_url_prefix_is_the_root_the_recipe_chose(tmp_path):
    root = tmp_path / "videos"
    assert resolve_destination(f"{root}/{{{{ topic }}}}.mp4", f"{root}/why.mp4", "/elsewhere") == str(root / "why.mp4")
    assert resolve_destination(f"file://{root}/{{{{ topic }}}}.mp4", f"file://{root}/why.mp4", "/elsewhere") == str(root / "why.mp4")


def test_a_symlinked_root_itself_is_followed_it_is_the_recipes_choice(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "out").symlink_to(tmp_path / "real")
    dest = resolve_destination(T, "out/why.mp4", str(tmp_path / "project"))
    assert dest == str((tmp_path / "real" / "why.mp4").resolve())


# --------------------------------------------------------------------------- every escape form


@pytest.mark.parametrize(
    ("template", "rendered", "match"),
    [
        ("{{ topic }}.mp4", "file:///tmp/x.mp4", "URL scheme"),
        (T, "out/file:///tmp/x.mp4", "URL scheme"),
        ("{{ topic }}.mp4", "s3://other-bucket/x.mp4", "URL scheme"),
        ("{{ topic }}.mp4", "memory://x.mp4", "URL scheme"),
        (T, "out/a::memory://x.mp4", "chained URL"),
        (T, "out/zip::x.mp4", "chained URL"),
        ("{{ topic }}.mp4", "/etc/x.mp4", "absolute path"),
        ("{{ topic }}.mp4", "../x.mp4", "leaves its root"),
        (T, "out/../../x.mp4", "leaves its root"),
        (T, "out/a/../../x.mp4", "leaves its root"),
        (T, "out//etc/x.mp4", "absolute path"),
        (T, "out/./x.mp4", "empty or '.'"),
        (T, "out/a//b.mp4", "empty or '.'"),
        (T, "out/..\\..\\x.mp4", "backslash"),
        (T, "out/x\x00.mp4", "U\\+0000"),
        (T, "out/x\n.mp4", "U\\+000A"),
        (T, "out/x\x1b[31m.mp4", "U\\+001B"),
        (T, "out/x\u2028.mp4", "U\\+2028"),
        (T, "out/\u202egpj.mp4", "U\\+202E"),  # right-to-left override: a name that reads as another
        (T, "out/x\ud800.mp4", "U\\+D800"),  # a lone surrogate cannot be a file name
        (T, "out/" + "a" * 256 + ".mp4", "longer than 255 bytes"),
        (T, "out/" + "为" * 86 + ".mp4", "longer than 255 bytes"),  # 86 x 3 bytes: counted in bytes, not characters
        (T, "out/" + "/".join(["a"] * 600) + ".mp4", "longer than 1024 bytes"),
        (T, "out/x/", "is a folder"),
        (T, "out/x.json", "names a .json file"),
        ("out/{{ a }}.mp4", "elsewhere/x.mp4", "does not start with"),
    ],
)
def test_every_escape_form_is_refused_with_the_topic_the_value_and_the_fix(tmp_path, template, rendered, match):
    _refused(template, rendered, tmp_path, match)


def test_an_existing_folder_is_not_a_destination(tmp_path):
    (tmp_path / "out" / "x.mp4").mkdir(parents=True)
    _refused(T, "out/x.mp4", tmp_path, "is a folder")


def test_a_symlinked_folder_inside_the_root_that_points_outside_is_refused(tmp_path):
    outside, project = tmp_path / "outside", tmp_path / "project"
    outside.mkdir()
    (project / "out").mkdir(parents=True)
    (project / "out" / "link").symlink_to(outside)
    (project / "out" / "deeper").mkdir()
    (project / "out" / "deeper" / "link").symlink_to(outside)
    _refused(T, "out/link/x.mp4", project, "through a symbolic link")
    _refused(T, "out/deeper/link/x.mp4", project, "through a symbolic link")
    _refused(T, "out/link/new-folder/x.mp4", project, "through a symbolic link")
    _refused("{{ topic }}.mp4", "out/link/x.mp4", project, "through a symbolic link")
    assert list(outside.iterdir()) == []


def test_a_symlink_that_stays_inside_the_root_is_resolved_and_the_write_goes_to_the_real_path(tmp_path):
    (tmp_path / "out" / "real").mkdir(parents=True)
    (tmp_path / "out" / "alias").symlink_to(tmp_path / "out" / "real")
    dest = resolve_destination(T, "out/alias/x.mp4", str(tmp_path))
    assert dest == str((tmp_path / "out" / "real" / "x.mp4").resolve())
    # swapping the link for one that points outside after the check cannot redirect the write
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "out" / "alias").unlink()
    (tmp_path / "out" / "alias").symlink_to(outside)
    Path(dest).write_bytes(b"video")
    assert list(outside.iterdir()) == [] and (tmp_path / "out" / "real" / "x.mp4").read_bytes() == b"video"


# --------------------------------------------------------------------------- object stores


@pytest.mark.parametrize(
    ("rendered", "expected"),
    [
        ("s3://bucket/videos/why.mp4", "s3://bucket/videos/why.mp4"),
        ("s3://bucket/videos/a/b.mp4", "s3://bucket/videos/a/b.mp4"),
        ("s3://bucket/videos/为什么.mp4", "s3://bucket/videos/为什么.mp4"),
    ],
)
def test_s3_keys_stay_under_the_static_prefix(rendered, expected):
    assert resolve_destination("s3://bucket/videos/{{ topic }}.mp4", rendered, "/unused") == expected
    assert sidecar_path(expected) == expected[: -len(".mp4")] + ".json"


@pytest.mark.parametrize(
    ("rendered", "match"),
    [
        ("s3://bucket/videos/../secret.mp4", "leaves its root"),
        ("s3://bucket/videos/a/../../secret.mp4", "leaves its root"),
        ("s3://bucket/videos//secret.mp4", "absolute path"),
        ("s3://bucket/videos/a//secret.mp4", "empty or '.'"),
        ("s3://bucket/videos/s3://other/x.mp4", "URL scheme"),
        ("s3://bucket/videos/x\x00.mp4", "U\\+0000"),
        ("s3://bucket/videos/" + "k/" * 600 + "x.mp4", "longer than 1024 bytes"),
    ],
)
def test_s3_keys_that_leave_the_prefix_are_refused(tmp_path, rendered, match):
    _refused("s3://bucket/videos/{{ topic }}.mp4", rendered, tmp_path, match)


def test_the_scheme_comes_only_from_the_static_prefix(tmp_path):
    _refused("{{ bucket }}/{{ topic }}.mp4", "s3://bucket/x.mp4", tmp_path, "URL scheme")
    _refused("out/{{ scheme }}.mp4", "out/s3://bucket/x.mp4", tmp_path, "URL scheme")


# --------------------------------------------------------------------------- already_published


def _published(tmp_path: Path, data: bytes = b"\x00\x01video bytes" * 1000) -> tuple[str, str, str]:
    dest = str(tmp_path / "out" / "why.mp4")
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    Path(dest).write_bytes(data)
    digest = hashlib.sha256(data).hexdigest()
    Path(sidecar_path(dest)).write_text(json.dumps({"video_digest": digest, "size": len(data)}))
    return dest, sidecar_path(dest), digest


def test_already_published_only_when_the_bytes_hash_to_the_digest(tmp_path):
    dest, side, digest = _published(tmp_path)
    assert already_published(dest, side, digest)
    assert not already_published(dest, side, "0" * 64)  # another video was made since
    data = bytearray(Path(dest).read_bytes())
    data[len(data) // 2] ^= 0xFF  # corrupt in place, same size
    Path(dest).write_bytes(bytes(data))
    assert not already_published(dest, side, digest)


@pytest.mark.parametrize("sidecar", [None, "not json", "[]", "null", '{"video_digest": 5}', '{"video_digest": "%s"}'])
def test_a_missing_or_wrong_manifest_is_not_published(tmp_path, sidecar):
    dest, side, digest = _published(tmp_path)
    if sidecar is None:
        os.unlink(side)
    else:
        Path(side).write_text(sidecar.replace("%s", digest))  # the last: the digest, but no size
    assert not already_published(dest, side, digest)


def test_a_destination_that_is_a_link_or_missing_is_not_published(tmp_path):
    dest, side, digest = _published(tmp_path)
    elsewhere = tmp_path / "elsewhere.mp4"
    shutil.move(dest, elsewhere)
    assert not already_published(dest, side, digest)
    os.symlink(elsewhere, dest)  # the right bytes, but through a link: write a real file instead
    assert not already_published(dest, side, digest)


def test_already_published_on_s3_by_its_checksum_or_its_bytes(tmp_path, s3):
    """An object with S3's SHA-256 checksum is judged by it (S3 computed it from what it holds);
    one without is hashed. Either way a same-size corruption is not "published"."""
    from vidflow.settings import Settings
    from vidflow.storage import pipe_with_checksum, put_file_with_checksum, stored_sha256

    data = b"\x00\x01video bytes" * 1000
    bad = _corrupt_same_size(data)
    digest = hashlib.sha256(data).hexdigest()
    dest, side = "s3://vidflow-test/videos/why.mp4", "s3://vidflow-test/videos/why.json"
    (tmp_path / "v.mp4").write_bytes(data)
    put_file_with_checksum(s3, str(tmp_path / "v.mp4"), dest)
    s3.pipe_file(side, json.dumps({"video_digest": digest, "size": len(data)}).encode())
    s3.invalidate_cache()
    opts = Settings.from_env().storage_options(dest)  # the moto endpoint, as a run passes it
    assert stored_sha256(s3, dest) == digest
    assert already_published(dest, side, digest, opts)
    pipe_with_checksum(s3, dest, bad)  # other bytes, with their own checksum
    assert not already_published(dest, side, digest, opts)
    s3.pipe_file(dest, bad)  # other bytes, no SHA-256 checksum: hashed
    s3.invalidate_cache()
    assert stored_sha256(s3, dest) is None
    assert not already_published(dest, side, digest, opts)
    s3.pipe_file(dest, data)  # the right bytes, no SHA-256 checksum: hashed
    assert already_published(dest, side, digest, opts)


# --------------------------------------------------------------------------- whole runs

RUN_RECIPE = """\
vidflow: 1
name: hostile
topics: {topics}
characters: [nova, pip]
providers:
  writer: {{kind: text.offline}}
  voice: {{kind: speech.espeak}}
steps:
  script: {{uses: writer, output: dialogue, lines: 2, scenes: 1, prompt: "Say {{{{ topic }}}}"}}
  speech: {{for_each: script.lines, uses: voice, text: "{{{{ item.text }}}}", voice: "{{{{ item.speaker }}}}"}}
  video: {{compose: vertical, width: 180, height: 320, preset: ultrafast, subtitles: none}}
  publish: {{to: "{to}"}}
"""


def _cli(argv: list[str]) -> tuple[int, str, str]:
    from vidflow.cli import main

    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()


def _files_outside(tmp_path: Path, project: Path) -> list[Path]:
    return [p for p in tmp_path.rglob("*") if not p.is_dir() and project not in p.parents and p != project]


@pytest.mark.ffmpeg
@pytest.mark.slow
@pytest.mark.parametrize("to", ["{{ topic }}.mp4", "out/{{ topic }}.mp4"])
def test_hostile_topics_fail_alone_and_write_nothing_outside_the_root(tmp_path, monkeypatch, to):
    """`vidflow run` with a good topic and one topic per escape form: exit 1, each hostile topic
    named, the good one published, and not one file anywhere outside the project."""
    project, outside = tmp_path / "project", tmp_path / "outside"
    outside.mkdir()
    shutil.copytree(REPO / "characters", project / "characters")
    root = project / "out" if to.startswith("out/") else project
    root.mkdir(exist_ok=True)
    (root / "link").symlink_to(outside)
    up = "../" * (len(root.relative_to(tmp_path).parts))
    forms = [f"file://{outside}/a", f"{up}outside/b", f"{outside}/c", "link/d"]  # a URL, `..`, absolute, a symlink out
    (project / "recipe.yaml").write_text(RUN_RECIPE.format(topics=json.dumps(["good", *forms]), to=to))
    monkeypatch.chdir(project)
    from vidflow.api import load_recipe_file

    hostile = {t.id: t.text for t in load_recipe_file("recipe.yaml").topics if t.text in forms}
    assert len(hostile) == len(forms)
    rc, out, err = _cli(["run", "recipe.yaml", "--json"])
    assert rc == 1, err
    assert "Traceback" not in err
    result = json.loads(out)
    assert result["topics"]["good"]["status"] == "published"
    assert (root / "good.mp4").stat().st_size > 0 and (root / "good.json").is_file()
    failures = {f["node"]: f["message"] for f in result["failures"]}
    assert set(failures) == {f"{tid}/publish" for tid in hostile}, failures
    for tid, topic in hostile.items():
        assert result["topics"][tid]["status"] == "failed"
        assert f"topic {tid!r}" in failures[f"{tid}/publish"] and topic in failures[f"{tid}/publish"]
        assert "topic | slug" in failures[f"{tid}/publish"]
        assert tid in err  # named on stderr too, where a person reads it
    assert list(outside.iterdir()) == []
    assert _files_outside(tmp_path, project) == []
    assert not list(project.rglob("*.tmp-*"))


@pytest.mark.parametrize("to", ["{{ topic }}.mp4", "out/{{ topic }}.mp4"])
def test_plan_reports_every_escaping_topic_with_exit_2_and_plans_the_good_one(tmp_path, monkeypatch, to):
    """`vidflow plan` renders `to:` for each topic: each escape form is a problem naming the
    recipe line, the topic and the fix (exit 2); the good topic is still planned; nothing written."""
    project, outside = tmp_path / "project", tmp_path / "outside"
    outside.mkdir()
    shutil.copytree(REPO / "characters", project / "characters")
    root = project / "out" if to.startswith("out/") else project
    root.mkdir(exist_ok=True)
    (root / "link").symlink_to(outside)
    up = "../" * (len(root.relative_to(tmp_path).parts))
    forms = [f"file://{outside}/a", f"{up}outside/b", f"{outside}/c", "link/d"]
    (project / "recipe.yaml").write_text(RUN_RECIPE.format(topics=json.dumps(["good", *forms]), to=to))
    monkeypatch.chdir(project)
    from vidflow.api import load_recipe_file

    hostile = {t.id for t in load_recipe_file("recipe.yaml").topics if t.text in forms}
    rc, out, err = _cli(["plan", "recipe.yaml", "--json"])
    assert rc == 2, err
    assert "Traceback" not in err
    report = json.loads(out)
    problems = report["problems"]
    assert len(problems) == len(forms), problems
    for tid in hostile:
        (msg,) = [p for p in problems if f"topic {tid!r}" in p]
        assert "recipe.yaml:12:" in msg and "steps.publish.to" in msg and "topic | slug" in msg
    assert "good/publish" in {n["id"] for n in report["nodes"]}
    assert list(outside.iterdir()) == []
    assert _files_outside(tmp_path, project) == []


def _corrupt_same_size(data: bytes) -> bytes:
    mid = len(data) // 2
    return data[:mid] + bytes(b ^ 0xFF for b in data[mid : mid + 64]) + data[mid + 64 :]


PUBLISH_RECIPE = """\
vidflow: 1
name: republish
topics: ["Why is the sky blue?"]
characters: [nova, pip]
providers:
  writer: {kind: text.offline}
  voice: {kind: speech.fake}
steps:
  script: {uses: writer, output: dialogue, lines: 2, scenes: 1, prompt: "Say {{ topic }}"}
  speech: {for_each: script.lines, uses: voice, text: "{{ item.text }}", voice: "{{ item.speaker }}"}
  video: {compose: vertical, width: 180, height: 320, preset: ultrafast, subtitles: none}
  publish: {to: "TO"}
"""


@pytest.mark.ffmpeg
def test_a_published_video_corrupted_in_place_is_republished_in_one_run(project, registry, calls):
    (project / "recipe.yaml").write_text(PUBLISH_RECIPE.replace("TO", "out/{{ topic | slug }}.mp4"))
    first = run_recipe(project / "recipe.yaml", registry, project)
    assert first.exit_code == 0, first.summary.failures
    video = project / "out" / "why-is-the-sky-blue.mp4"
    meta = json.loads(video.with_suffix(".json").read_text())
    good = video.read_bytes()
    assert hashlib.sha256(good).hexdigest() == meta["video_digest"]

    again = run_recipe(project / "recipe.yaml", registry, project)  # intact: nothing is written
    assert again.summary.nodes["why-is-the-sky-blue/publish"] == "cached"
    report, _ = plan_recipe(project / "recipe.yaml", registry, project)
    assert report.nodes == [] and report.cached == report.total_nodes

    video.write_bytes(_corrupt_same_size(good))
    assert video.stat().st_size == len(good) and video.read_bytes() != good
    # the plan (what `plan --check` exits on) does not call it published: publish would run
    report, _ = plan_recipe(project / "recipe.yaml", registry, project)
    assert {n["id"] for n in report.nodes} == {"why-is-the-sky-blue/publish"} and report.cached == report.total_nodes - 1
    third = run_recipe(project / "recipe.yaml", registry, project)
    assert third.exit_code == 0, third.summary.failures
    assert third.summary.nodes["why-is-the-sky-blue/publish"] == "ran"
    assert {n for n, s in third.summary.nodes.items() if s == "ran"} == {"why-is-the-sky-blue/publish"}
    blob = project / "cache" / "blobs" / "sha256" / meta["video_digest"][:2] / meta["video_digest"][2:]
    assert video.read_bytes() == blob.read_bytes() == good


@pytest.mark.ffmpeg
def test_a_video_corrupted_on_s3_is_republished_in_one_run(tmp_path, s3, registry, calls, monkeypatch):
    from vidflow.settings import Settings

    d = tmp_path / "work"
    shutil.copytree(REPO / "characters", d / "characters")
    (d / "recipe.yaml").write_text(PUBLISH_RECIPE.replace("TO", "s3://vidflow-test/videos/{{ topic | slug }}.mp4"))
    monkeypatch.chdir(d)
    settings = Settings.from_env().replace(cache_url=str(d / "cache"), runs_dir=str(d / "runs"))
    first = run_recipe(d / "recipe.yaml", registry, d, settings=settings)
    assert first.exit_code == 0, first.summary.failures
    key = "vidflow-test/videos/why-is-the-sky-blue.mp4"
    s3.invalidate_cache()
    good = s3.cat_file(key)
    meta = json.loads(s3.cat_file("vidflow-test/videos/why-is-the-sky-blue.json"))
    assert hashlib.sha256(good).hexdigest() == meta["video_digest"]

    again = run_recipe(d / "recipe.yaml", registry, d, settings=settings)
    assert again.summary.nodes["why-is-the-sky-blue/publish"] == "cached"

    s3.pipe_file(key, _corrupt_same_size(good))
    s3.invalidate_cache()
    assert s3.size(key) == len(good) and s3.cat_file(key) != good
    report, _ = plan_recipe(d / "recipe.yaml", registry, d, settings=settings)
    assert {n["id"] for n in report.nodes} == {"why-is-the-sky-blue/publish"}
    third = run_recipe(d / "recipe.yaml", registry, d, settings=settings)
    assert third.exit_code == 0, third.summary.failures
    assert third.summary.nodes["why-is-the-sky-blue/publish"] == "ran"
    s3.invalidate_cache()
    assert s3.cat_file(key) == good
