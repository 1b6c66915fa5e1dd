"""Capabilities: one module per kind of step (text, speech, image, compose, publish, ...).

Re-exports only; see ``base.py`` for the contract and ``registry.py`` for how they are found.
"""

from ._provider import ProviderCapability, ProviderStep
from .base import UNKNOWN, Capability, Expansion, Prepared, Runtime, TaskInputs, TaskSpec, template_where
from .registry import CapabilityRegistry, default_capabilities

__all__ = [
    "UNKNOWN",
    "Capability",
    "CapabilityRegistry",
    "Expansion",
    "Prepared",
    "ProviderCapability",
    "ProviderStep",
    "Runtime",
    "TaskInputs",
    "TaskSpec",
    "default_capabilities",
    "template_where",
]
