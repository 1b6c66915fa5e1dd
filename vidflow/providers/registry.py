"""Provider kinds -> adapter classes, imported lazily.

Built-ins are registered as ``"module:Class"`` strings, so ``import vidflow`` (and ``vidflow
--help``, and ``vidflow plan``) never imports a vendor SDK. Third parties add kinds through the
entry-point group ``vidflow.providers``::

    [project.entry-points."vidflow.providers"]
    "speech.acme" = "acme_vidflow:AcmeSpeech"

Entry points are read once, on the first lookup. Built-ins win a name clash unless the
third party registers with ``replace=True`` in code. A kind is ``"<capability>.<vendor>"``;
the capability prefix says which contract the adapter implements. Any capability name is
admitted here: a plugin may add a capability (``vidflow.capabilities``) and its providers.
"""

from __future__ import annotations

import difflib
import importlib
import re
from importlib.metadata import entry_points
from typing import Mapping

from ..errors import MissingDependencyError, UnknownKindError
from .base import Provider

__all__ = ["Registry", "capability_of", "default_registry", "reset_default_registry"]

_KIND = re.compile(r"^[a-z][a-z0-9_]*\.[A-Za-z0-9_.-]+$")

_BUILTINS: dict[str, tuple[str, str | None]] = {
    "text.offline": ("vidflow.providers.text_offline:OfflineText", None),
    "speech.espeak": ("vidflow.providers.speech_espeak:EspeakSpeech", None),
    "image.procedural": ("vidflow.providers.image_procedural:ProceduralImage", None),
    "text.litellm": ("vidflow.providers.text_litellm:LiteLLMText", None),
    "image.litellm": ("vidflow.providers.image_litellm:LiteLLMImage", None),
    "speech.openai": ("vidflow.providers.speech_openai:OpenAISpeech", None),
    "speech.elevenlabs": ("vidflow.providers.speech_elevenlabs:ElevenLabsSpeech", None),
}


def capability_of(kind: str) -> str | None:
    """``"speech.espeak"`` -> ``"speech"``; None if ``kind`` is not ``<capability>.<vendor>``."""
    return kind.split(".", 1)[0] if _KIND.match(kind) else None


class Registry:
    """kind -> adapter class. Build your own in tests; the CLI uses :func:`default_registry`."""

    def __init__(self, *, builtins: bool = True, entry_point_group: str | None = "vidflow.providers"):
        self._targets: dict[str, type[Provider] | str] = {}
        self._hints: dict[str, str | None] = {}
        self._group = entry_point_group
        self._entry_points_loaded = entry_point_group is None
        if builtins:
            for kind, (target, hint) in _BUILTINS.items():
                self.register(kind, target, install_hint=hint)

    def register(self, kind: str, target: type[Provider] | str, *, replace: bool = False, install_hint: str | None = None) -> None:
        """Add a kind. ``target`` is a Provider subclass or a lazy ``"pkg.mod:Class"`` string."""
        if capability_of(kind) is None:
            raise ValueError(f"provider kind {kind!r} must be '<capability>.<vendor>', e.g. 'speech.acme'")
        if kind in self._targets and not replace:
            return
        self._targets[kind] = target
        self._hints[kind] = install_hint

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=self._group):
            if capability_of(ep.name) is not None and ep.name not in self._targets:
                self._targets[ep.name] = ep.value
                self._hints[ep.name] = f"reinstall the package that provides {ep.name!r}"

    def kinds(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._targets)

    def __contains__(self, kind: str) -> bool:
        self._load_entry_points()
        return kind in self._targets

    def get(self, kind: str) -> type[Provider]:
        """The adapter class for ``kind``, importing it on first use."""
        self._load_entry_points()
        if kind not in self._targets:
            raise UnknownKindError(unknown_kind_message(kind, self.kinds()))
        target = self._targets[kind]
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            try:
                module = importlib.import_module(module_name)
            except ImportError as e:
                hint = self._hints.get(kind) or f"pip install the package that provides {kind!r}"
                raise MissingDependencyError(f"provider kind {kind!r} needs {e.name or module_name}: {hint}") from e
            target = getattr(module, attr)
            self._targets[kind] = target
        return target

    def view(self) -> Mapping[str, str]:
        """Read-only listing: kind -> target (class path)."""
        self._load_entry_points()
        return {k: (v if isinstance(v, str) else f"{v.__module__}:{v.__qualname__}") for k, v in self._targets.items()}


def unknown_kind_message(kind: str, known: list[str]) -> str:
    close = difflib.get_close_matches(kind, known, n=1)
    hint = f"did you mean `{close[0]}`? " if close else ""
    return f"unknown provider kind `{kind}`; {hint}available: {', '.join(known)}"


_DEFAULT: Registry | None = None


def default_registry() -> Registry:
    """The process-wide registry the CLI uses (built-ins + entry points)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Registry()
    return _DEFAULT


def reset_default_registry() -> None:
    """Forget the default registry (tests)."""
    global _DEFAULT
    _DEFAULT = None
