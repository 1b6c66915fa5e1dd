"""Outputs stay inside their root, whatever a topic says: :func:`vidflow.outputs.resolve_destination`.

Every escape form (a scheme, ``..``, absolute, a symlink out, control characters, lengths), S3
keys, names in any script. Whole runs with hostile topics are in test_escapes_in_runs.py; a
published video verified before it is skipped, in test_republish.py.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

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
