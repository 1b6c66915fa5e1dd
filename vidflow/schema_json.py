"""``vidflow schema``: the JSON Schema (Draft 2020-12) of recipe files, from the pydantic models.

Built from what validates a recipe, so the two cannot drift apart: the top level
(:class:`~vidflow.recipe.schema.Recipe`), each registered capability's step model
(``Capability.Step``) and each registered provider kind's options (``ProviderSpec`` plus the
adapter's ``Options``, chosen by ``kind`` with ``if``/``then``). Plugins' capabilities and kinds
are in it when they are installed. Editors use it through the yaml-language-server line
(docs/recipes.md) for completion and errors as you type.

What a static schema cannot see (``vidflow plan`` still reports it, with ``file:line``):

* which capability a ``uses:`` step belongs to: that is the kind prefix of the provider it
  names, in another part of the file. Such a step is valid if it fits *any* capability's step
  schema (``anyOf``), so an image step with a text step's ``output:`` passes the schema;
* that names refer to something: ``uses:``/``fallback:`` providers, ``needs:``, ``for_each:``,
  template variables, characters, topics files; cycles; rules across fields
  (``max_backoff >= backoff``).

It is also looser than the loader in one way: it wants YAML's own types (``lines: 6``, not
``lines: "6"``), which the loader would convert.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from .capabilities.registry import CapabilityRegistry, default_capabilities
from .errors import UserError
from .providers.registry import Registry, default_registry
from .recipe.schema import ProviderSpec, Recipe

__all__ = ["DIALECT", "RATE_PATTERN", "recipe_json_schema"]

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


_UNITS = ("seconds", "second", "secs", "sec", "s", "minutes", "minute", "mins", "min", "m", "hours", "hour", "h")
#: What ``parse_rate`` accepts (``6/min``, ``2/s``, ``100/hour``, ``10/30s``), as an ECMA-262 regex.
RATE_PATTERN = r"^\s*0*[1-9][0-9]{0,8}\s*/\s*([0-9]{0,9}\.?[0-9]{0,9})\s*(" + "|".join(_any_case(u) for u in _UNITS) + r")\s*$"

_TOPICS = {
    "type": "array",
    "minItems": 1,
    "description": "topics: a string each, or a mapping with `topic:` and the topic's own variables",
    "items": {
        "anyOf": [
            {"type": "string", "pattern": r"\S"},
            {
                "type": "object",
                "required": ["topic"],
                "properties": {"topic": {"type": "string", "pattern": r"\S"}, "vars": {"type": "object"}},
                "additionalProperties": True,
            },
        ]
    },
}


def recipe_json_schema(*, registry: Registry | None = None, capabilities: CapabilityRegistry | None = None) -> dict[str, Any]:
    """The recipe schema as a JSON-able dict (what ``vidflow schema`` prints)."""
    registry = registry or default_registry()
    capabilities = capabilities or default_capabilities()
    caps = capabilities.all()
    kinds: dict[str, type[BaseModel] | None] = {}
    for kind in registry.kinds():
        try:
            kinds[kind] = registry.get(kind).Options
        except UserError:  # a plugin whose dependencies are missing: its options are unknown
            kinds[kind] = None
    models: list[type[BaseModel]] = [Recipe, ProviderSpec, *(c.Step for c in caps), *(o for o in kinds.values() if o is not None)]
    refs, top = models_json_schema([(m, "validation") for m in dict.fromkeys(models)], by_alias=True, ref_template="#/$defs/{model}")
    defs: dict[str, Any] = top["$defs"]

    def body(model: type[BaseModel]) -> dict[str, Any]:
        return defs[refs[(model, "validation")]["$ref"].rsplit("/", 1)[1]]

    root = copy.deepcopy(body(Recipe))
    props = root["properties"]
    props["topics"] = _TOPICS
    props["providers"] = {
        "type": "object",
        "minProperties": 1,
        "description": "named provider instances; limits are per instance",
        "additionalProperties": _provider_schema(body(ProviderSpec), {k: body(o) if o else None for k, o in kinds.items()}),
    }
    props["steps"] = {
        "type": "object",
        "minProperties": 1,
        "description": "the steps; a `uses:` step fits the step schema of its provider's capability",
        "propertyNames": {"pattern": "^[A-Za-z0-9_-]+$"},
        "additionalProperties": {"anyOf": [_step_branch(c, refs) for c in caps]},
    }
    root.pop("title", None)
    root["description"] = "A vidflow recipe (vidflow: 1), from `vidflow schema`: the installed capabilities and provider kinds."
    return {"$schema": DIALECT, "title": "vidflow recipe", **root, "$defs": defs}


def _provider_schema(spec: dict[str, Any], options: dict[str, dict[str, Any] | None]) -> dict[str, Any]:
    """One provider instance: vidflow's keys, and for each kind exactly its adapter's options."""
    own = copy.deepcopy(spec["properties"])
    own["rate"] = {
        "anyOf": [{"type": "string", "pattern": RATE_PATTERN}, {"type": "null"}],
        "description": "at most N call starts in any window: 6/min, 2/s, 100/hour, 10/30s",
    }
    own["kind"] = {"type": "string", "enum": sorted(options), "description": "<capability>.<vendor>"}
    branches = []
    for kind, opts in sorted(options.items()):
        then: dict[str, Any] = {"properties": {**(opts or {}).get("properties", {}), **own}}
        if opts is not None:
            then["additionalProperties"] = False
            if opts.get("required"):
                then["required"] = list(opts["required"])
        branches.append({"if": {"properties": {"kind": {"const": kind}}, "required": ["kind"]}, "then": then})
    return {"type": "object", "required": ["kind"], "properties": own, "allOf": branches}


def _step_branch(cap: Any, refs: dict) -> dict[str, Any]:
    how = f"`{cap.trigger}:`" if cap.trigger else f"`uses:` a {cap.provider_capability or cap.name}.* provider"
    return {"title": f"{cap.name} step ({how})", "$ref": refs[(cap.Step, "validation")]["$ref"]}
