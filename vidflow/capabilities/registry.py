"""Capability names -> Capability objects, imported lazily, open to plugins.

The same pattern as the provider registry (after fsspec's ``registry.py``): built-ins are
``"module:Class"`` strings, imported on first use; third parties add capabilities through the
entry-point group ``vidflow.capabilities``::

    [project.entry-points."vidflow.capabilities"]
    "poll" = "acme_vidflow.poll:PollCapability"

Entry points are read once, on the first lookup; built-ins win a name clash unless a capability
is registered in code with ``replace=True``. A registry is an object: the CLI uses
:func:`default_capabilities`, tests build their own.
"""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points
from typing import Any, Mapping

from ..errors import MissingDependencyError
from .base import Capability

__all__ = ["CapabilityRegistry", "default_capabilities", "reset_default_capabilities"]

_BUILTINS: dict[str, str] = {
    "text": "vidflow.capabilities.text:TextCapability",
    "speech": "vidflow.capabilities.speech:SpeechCapability",
    "image": "vidflow.capabilities.image:ImageCapability",
    "compose": "vidflow.capabilities.compose:ComposeCapability",
    "publish": "vidflow.capabilities.publish:PublishCapability",
}


class CapabilityRegistry:
    """Capability name -> instance. Instances are stateless; one serves every run."""

    def __init__(self, *, builtins: bool = True, entry_point_group: str | None = "vidflow.capabilities"):
        self._targets: dict[str, Capability | type[Capability] | str] = {}
        self._group = entry_point_group
        self._entry_points_loaded = entry_point_group is None
        if builtins:
            for name, target in _BUILTINS.items():
                self.register(name, target)

    def register(self, name: str, target: Capability | type[Capability] | str, *, replace: bool = False) -> None:
        """Add a capability: an instance, a subclass, or a lazy ``"pkg.mod:Class"`` string."""
        if not name.isidentifier():
            raise ValueError(f"capability name {name!r} must be an identifier such as 'video'")
        if name in self._targets and not replace:
            return
        self._targets[name] = target

    def _load_entry_points(self) -> None:
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        for ep in entry_points(group=self._group):
            if ep.name.isidentifier() and ep.name not in self._targets:
                self._targets[ep.name] = ep.value

    def names(self) -> list[str]:
        self._load_entry_points()
        return sorted(self._targets)

    def get(self, name: str) -> Capability:
        """The capability called ``name``, importing it on first use."""
        self._load_entry_points()
        target = self._targets[name]
        if isinstance(target, str):
            module_name, _, attr = target.partition(":")
            try:
                target = getattr(importlib.import_module(module_name), attr)
            except ImportError as e:
                raise MissingDependencyError(f"capability {name!r} needs {e.name or module_name}: reinstall the package that provides it") from e
        if isinstance(target, type):
            target = target()
        if getattr(target, "name", None) != name:
            raise TypeError(f"capability registered as {name!r} calls itself {getattr(target, 'name', None)!r}")
        self._targets[name] = target
        return target

    def all(self) -> list[Capability]:
        return [self.get(n) for n in self.names()]

    def claimant(self, body: Mapping[str, Any], provider_capability: str | None) -> Capability | None:
        """The capability a step body belongs to: a trigger key first, then ``uses:``'s kind."""
        caps = self.all()
        for cap in caps:
            if cap.trigger is not None and cap.claims(body, provider_capability):
                return cap
        for cap in caps:
            if cap.trigger is None and cap.claims(body, provider_capability):
                return cap
        return None

    def describe(self) -> str:
        """How a step says what it is, for error messages."""
        triggers = [f"`{c.trigger}:`" for c in self.all() if c.trigger]
        return "`uses: <provider>`" + "".join(f", {t}" for t in triggers[:-1]) + (f" or {triggers[-1]}" if triggers else "")

    def view(self) -> Mapping[str, str]:
        """Read-only listing: name -> target."""
        self._load_entry_points()
        return {k: (v if isinstance(v, str) else f"{type(v).__module__}:{type(v).__qualname__}" if not isinstance(v, type) else f"{v.__module__}:{v.__qualname__}") for k, v in self._targets.items()}


_DEFAULT: CapabilityRegistry | None = None


def default_capabilities() -> CapabilityRegistry:
    """The process-wide capability registry the CLI uses (built-ins + entry points)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = CapabilityRegistry()
    return _DEFAULT


def reset_default_capabilities() -> None:
    """Forget the default registry (tests)."""
    global _DEFAULT
    _DEFAULT = None
