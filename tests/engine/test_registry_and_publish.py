"""Third-party kinds through entry points; outputs that try to leave their root."""

from __future__ import annotations

import sys
import textwrap

import pytest

from tests.engine.util import run_recipe, write
from vidflow.errors import TemplateError, UnknownKindError
from vidflow.providers.registry import Registry
from vidflow.outputs import resolve_destination


def test_a_third_party_kind_is_found_through_its_entry_point(tmp_path, monkeypatch):
    """A real installed-package layout (dist-info + entry_points.txt) on sys.path."""
    (tmp_path / "acme_vidflow.py").write_text(textwrap.dedent('''
        from vidflow.providers.base import Provider, SpeechResult

        class AcmeSpeech(Provider):
            kind = "speech.acme"
            capability = "speech"

            async def synthesize(self, req):
                raise NotImplementedError
    '''))
    dist = tmp_path / "acme_vidflow-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-vidflow\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[vidflow.providers]\nspeech.acme = acme_vidflow:AcmeSpeech\ntext.offline = acme_vidflow:AcmeSpeech\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry()
    assert "speech.acme" in reg.kinds()
    assert reg.get("speech.acme").__name__ == "AcmeSpeech"
    # a built-in wins a name clash with a plugin
    assert reg.get("text.offline").__module__ == "vidflow.providers.text_offline"
    sys.modules.pop("acme_vidflow", None)


def test_unknown_kind_suggests_the_closest(tmp_path):
    with pytest.raises(UnknownKindError, match="did you mean `speech.espeak`"):
        Registry(entry_point_group=None).get("speech.espek")


@pytest.mark.parametrize(
    "template,rendered,ok",
    [
        ("out/{{ topic | slug }}.mp4", "out/why.mp4", True),
        ("out/{{ topic }}.mp4", "out/../../etc/passwd.mp4", False),
        ("out/{{ topic }}.mp4", "out/a/b.mp4", True),
        ("{{ topic }}.mp4", "../x.mp4", False),
        ("/abs/videos/{{ topic }}.mp4", "/abs/videos/../../x.mp4", False),
        ("s3://bucket/videos/{{ topic }}.mp4", "s3://bucket/videos/../secret.mp4", False),
        ("s3://bucket/videos/{{ topic }}.mp4", "s3://bucket/videos/ok.mp4", True),
    ],
)
def test_outputs_cannot_leave_their_root(tmp_path, template, rendered, ok):
    if ok:
        resolve_destination(template, rendered, str(tmp_path))
    else:
        with pytest.raises(TemplateError, match="leaves its root"):
            resolve_destination(template, rendered, str(tmp_path))


PUBLISH = """
vidflow: 1
name: publish
topics: {topics}
characters: [nova, pip]
providers:
  writer: {{kind: text.offline}}
  voice: {{kind: speech.fake}}
steps:
  script: {{uses: writer, output: dialogue, lines: 2, scenes: 1, prompt: "Say {{{{ topic }}}}"}}
  speech: {{for_each: script.lines, uses: voice, text: "{{{{ item.text }}}}", voice: "{{{{ item.speaker }}}}"}}
  video: {{compose: vertical, width: 270, height: 480, preset: ultrafast, subtitles: none}}
  publish: {{to: "{to}"}}
"""


@pytest.mark.ffmpeg
def test_a_topic_that_would_escape_fails_its_own_publish_only(project, registry, calls):
    recipe = write(project, PUBLISH.format(topics='["fine", "../../escaped"]', to="site/out/{{ topic }}.mp4"))
    result = run_recipe(recipe, registry, project)
    assert result.exit_code == 1
    assert result.summary.topics["fine"]["status"] == "published"
    assert (project / "site" / "out" / "fine.mp4").exists()
    [failure] = result.summary.failures
    assert failure["node"] == "escaped/publish" and "leaves its root" in failure["message"]
    assert not (project / "escaped.mp4").exists() and not list(project.parent.glob("escaped*"))


@pytest.mark.ffmpeg
def test_two_topics_publishing_to_one_file_is_an_error_not_an_overwrite(project, registry, calls):
    recipe = write(project, PUBLISH.format(topics='["first", "second"]', to="out/video.mp4"))
    result = run_recipe(recipe, registry, project)
    assert result.exit_code == 1
    statuses = {t: d["status"] for t, d in result.summary.topics.items()}
    assert sorted(statuses.values()) == ["failed", "published"]
    [failure] = result.summary.failures
    assert "both publish to" in failure["message"] and "topic | slug" in failure["message"]
