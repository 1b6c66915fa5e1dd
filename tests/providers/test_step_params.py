"""What each speech provider reads from a step's ``params:``, and the values it refuses at load.

A refused value is a recipe error (file:line, exit 2: tests/recipe/test_broken_recipes.py);
these pin each provider's own rules, which it also applies to the request at call time.
"""

from __future__ import annotations

import pytest

from vidflow.providers.speech_elevenlabs import ElevenLabsSpeech
from vidflow.providers.speech_espeak import EspeakSpeech
from vidflow.providers.speech_openai import OpenAISpeech


@pytest.mark.parametrize("cls,params,bad", [
    (EspeakSpeech, {"rate": 190, "pitch": 40}, []),
    (EspeakSpeech, {"rate": 79, "pitch": 100}, ["rate", "pitch"]),
    (EspeakSpeech, {"rate": "fast", "pitch": True}, ["rate", "pitch"]),
    (EspeakSpeech, {"gap_ms": "anything"}, []),  # not read: a plan warning, not an error
    (OpenAISpeech, {"speed": 1.25, "instructions": "warm, slow"}, []),
    (OpenAISpeech, {"speed": 5, "instructions": 3}, ["speed", "instructions"]),
    (OpenAISpeech, {"speed": "1.0"}, ["speed"]),
    (ElevenLabsSpeech, {"voice_settings": {"stability": 0.4}, "seed": 7}, []),
    (ElevenLabsSpeech, {"voice_settings": "calm", "seed": -1}, ["voice_settings", "seed"]),
    (ElevenLabsSpeech, {"seed": 2.5}, ["seed"]),
])
def test_check_params(cls, params, bad):
    problems = cls.check_params(params)
    assert sorted(problems) == sorted(bad)
    assert all(problems[p].startswith("must be ") and repr(params[p]) in problems[p] for p in bad)


def test_each_speech_provider_declares_the_params_it_reads():
    assert EspeakSpeech.params_read == {"rate", "pitch"}
    assert OpenAISpeech.params_read == {"speed", "instructions"}
    assert ElevenLabsSpeech.params_read == {"voice_settings", "seed"}
