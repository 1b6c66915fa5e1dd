"""Topic ids and the `slug` filter in any script (issue 8, section 8).

Latin text keeps exactly the id vidflow always gave it (caches and published names depend on
it); other scripts keep their letters, so distinct topics stay distinct; every id is a safe file
name.
"""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vidflow.cli import main
from vidflow.recipe.slugs import MAX_SLUG_BYTES, slug
from vidflow.recipe.templating import render


def legacy_slug(value, max_length: int = 80) -> str:
    """The slug of vidflow 0.1, frozen here as the oracle for Latin text."""
    text = unicodedata.normalize("NFKD", str(value)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^a-zA-Z0-9]+", "-", text).strip("-").lower()
    return text[:max_length].rstrip("-") or "untitled"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Why is the sky blue?", "why-is-the-sky-blue"),
        ("How do bees make honey?", "how-do-bees-make-honey"),
        ("Café au lait", "cafe-au-lait"),
        ("Straße", "strae"),
        ("Don't panic!", "don-t-panic"),
        ("1,000 ways", "1-000-ways"),
        ("???", "untitled"),
        ("../../etc/passwd", "etc-passwd"),
        ("file:///tmp/x", "file-tmp-x"),
        ("Sky 🌈 blue", "sky-blue"),
    ],
)
def test_latin_ids_are_what_they_always_were(text, expected):
    assert slug(text) == expected == legacy_slug(text)


LATIN = st.text(
    st.one_of(st.characters(min_codepoint=0x20, max_codepoint=0x24F), st.characters(min_codepoint=0x1E00, max_codepoint=0x1EFF)), max_size=120
)


@settings(max_examples=500, derandomize=True, deadline=None)
@given(LATIN)
def test_any_latin_text_keeps_its_legacy_id(text):
    assert slug(text) == legacy_slug(text)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("为什么天空是蓝色的？", "为什么天空是蓝色的"),
        ("لماذا السماء زرقاء؟", "لماذا-السماء-زرقاء"),
        ("हिन्दी भाषा क्या है?", "हिन्दी-भाषा-क्या-है"),
        ("Почему небо голубое?", "почему-небо-голубое"),
        ("Ελληνικά", "ελληνικά"),
        ("한국어 주제", "한국어-주제"),
        ("Café 北京", "cafe-北京"),
    ],
)
def test_other_scripts_keep_their_letters(text, expected):
    assert slug(text) == expected


def test_distinct_chinese_topics_get_distinct_ids_and_arabic_is_not_untitled():
    ids = {slug("为什么天空是蓝色的？"), slug("为什么海水是咸的？"), slug("لماذا السماء زرقاء؟")}
    assert len(ids) == 3 and "untitled" not in ids
    # Devanagari vowel signs are combining marks: dropping them would merge different words
    assert slug("हिन्दी") != slug("हांडी")


def is_safe_name(s: str) -> bool:
    return (
        bool(s)
        and all(c == "-" or unicodedata.category(c)[0] in "LNM" for c in s)
        and not s.startswith("-")
        and not s.endswith("-")
        and "--" not in s
        and unicodedata.normalize("NFC", s) == s
        and len(s) <= 80
        and len(s.encode("utf-8")) <= MAX_SLUG_BYTES
    )


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.text(max_size=300))
def test_every_id_is_a_safe_file_name(text):
    s = slug(text)
    assert is_safe_name(s), repr(s)
    assert "/" not in s and "." not in s and "\\" not in s


@settings(max_examples=200, derandomize=True, deadline=None)
@given(
    st.sampled_from([(0x4E00, 0x9FFF), (0x0621, 0x063A), (0x0430, 0x044F), (0xAC00, 0xD7A3)]).flatmap(
        lambda r: st.lists(st.text(st.characters(min_codepoint=r[0], max_codepoint=r[1]), min_size=1, max_size=20), min_size=2, max_size=2, unique=True)
    )
)
def test_distinct_words_of_one_script_get_distinct_ids(words):
    a, b = words
    assert slug(a) == a and slug(b) == b  # letters kept as they are, so never the same id


def test_four_byte_letters_stay_under_the_byte_limit():
    s = slug("𠀀" * 80)
    assert len(s.encode("utf-8")) <= MAX_SLUG_BYTES and set(s) == {"𠀀"}


def test_slug_filter_matches_topic_ids():
    assert render("out/{{ topic | slug }}.mp4", {"topic": "为什么海水是咸的？"}) == "out/为什么海水是咸的.mp4"


@pytest.mark.ffmpeg
@pytest.mark.slow
def test_chinese_and_arabic_topics_publish_to_distinct_readable_names(project, capsys):
    (project / "uni.yaml").write_text(
        """vidflow: 1
name: unicode
topics: ["为什么天空是蓝色的？", "为什么海水是咸的？", "لماذا السماء زرقاء؟"]
characters: [nova, pip]
providers:
  writer:  {kind: text.offline}
  voice:   {kind: speech.espeak}
  painter: {kind: image.procedural}
steps:
  script: {uses: writer, output: dialogue, lines: 2, scenes: 1, prompt: "About {{ topic }}"}
  speech: {for_each: script.lines, uses: voice, text: "{{ item.text }}", voice: "{{ item.speaker }}"}
  art: {for_each: script.scenes, uses: painter, prompt: "{{ item.image_prompt }}"}
  video: {compose: vertical, width: 180, height: 320, fps: 10}
  publish: {to: "out/{{ topic | slug }}.mp4"}
""",
        encoding="utf-8",
    )
    rc = main(["run", "uni.yaml", "--cache", str(project / "cache"), "--runs-dir", str(project / "runs"), "--plain"])
    assert rc == 0, capsys.readouterr().err
    published = sorted(p.name for p in (project / "out").glob("*.mp4"))
    assert published == sorted(["为什么天空是蓝色的.mp4", "为什么海水是咸的.mp4", "لماذا-السماء-زرقاء.mp4"])
    assert all((project / "out" / name).stat().st_size > 1000 for name in published)
