"""A chat responder that writes a valid vidflow dialogue, as a real model would.

It reads what vidflow sends: the speaker enum from ``response_format``'s schema, the wanted
number of lines and scenes from the system prompt, and the topic from the user prompt
(after ``TOPIC:``). Lines are natural sentences of varied length (about 60-120 characters).
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

SENTENCES = [
    "Okay, so what is actually going on when we look at this every single day?",
    "Here is the short version: tiny things interact in a very big way.",
    "Wait, so it happens all the time, even when nobody is paying attention?",
    "Exactly, and scientists measured it carefully more than a century ago.",
    "That sounds simple, but why does it not work the other way around?",
    "Because energy always flows from where there is more to where there is less.",
    "So if we changed one small thing, the whole picture would look different?",
    "Right, and that is why the same idea shows up in so many places at once.",
    "I love that. Can we see it happen at home with something simple?",
    "Sure, a glass of water and a flashlight are all you need to try it.",
]


def _topic(body: dict) -> str:
    for m in body.get("messages", []):
        if m.get("role") == "user":
            found = re.search(r"TOPIC:\s*(.+)", str(m.get("content", "")))
            if found:
                return found.group(1).strip()
    return "the topic"


def dialogue_responder(body: dict[str, Any], *, shared: list[str] | None = None) -> str:
    system = " ".join(str(m.get("content", "")) for m in body.get("messages", []) if m.get("role") == "system")
    n_lines = int((re.search(r"exactly (\d+) lines", system) or [0, 8])[1])
    n_scenes = int((re.search(r"into (\d+) scenes", system) or [0, 4])[1])
    schema = ((body.get("response_format") or {}).get("json_schema") or {}).get("schema") or {}
    speakers = schema.get("properties", {}).get("lines", {}).get("items", {}).get("properties", {}).get("speaker", {}).get("enum") or ["Nova", "Pip"]
    topic = _topic(body)
    seed = int(hashlib.sha256(topic.encode()).hexdigest(), 16)
    lines = []
    for i in range(n_lines):
        if shared and i < len(shared):
            text = shared[i]
        elif i == 0:
            text = f"Today: {topic} Let us figure it out together, one step at a time."
        else:  # unique per topic, as a model's lines would be
            sentence = SENTENCES[(seed + i) % len(SENTENCES)]
            text = f"{sentence[:-1]}, with {topic.split()[-1].rstrip('?').lower()}{sentence[-1]}"
        lines.append({"speaker": speakers[i % len(speakers)], "text": text, "scene": min(i * n_scenes // n_lines, n_scenes - 1)})
    scenes = [{"caption": f"Part {j + 1}", "image_prompt": f"{topic}, illustration {j + 1}"} for j in range(n_scenes)]
    return json.dumps({"title": topic, "lines": lines, "scenes": scenes})
