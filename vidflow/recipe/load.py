"""Recipe file -> :class:`LoadedRecipe`: validated, cross-checked, with every problem at once.

Checks, all collected into one :class:`~vidflow.errors.RecipeError` (one line per problem,
each with ``file:line:col``, the YAML path and a fix): YAML syntax, unknown keys (with a
did-you-mean), wrong types, unknown provider kinds and options, topics (inline or file),
characters, and every step through its capability (``recipe/steps.py``).

Nothing here renders a template for real or calls a provider: this is pure validation.
"""

from __future__ import annotations

import difflib
import functools
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import Problem, RecipeError, UserError, shown_path
from ..providers.registry import Registry, unknown_kind_message
from .characters import Character, find_characters, load_character
from .problems import pydantic_problems
from .schema import ProviderSpec, Recipe
from .steps import TEMPLATE_NAMES, Catalog, StepInfo, check_steps, step_order, wire_steps
from .topics import Topic, check_unique, load_topics_file, topics_from_inline
from .yamlloc import Locations, dotted, read_yaml_file

__all__ = ["LoadedRecipe", "ProviderInfo", "StepInfo", "load_recipe"]


@dataclass
class ProviderInfo:
    name: str
    spec: ProviderSpec
    cls: type
    options: Any

    @property
    def kind(self) -> str:
        return self.spec.kind

    @property
    def capability(self) -> str:
        return self.spec.kind.split(".", 1)[0]

    @functools.cached_property
    def model(self) -> str:
        """The model its options name ("" if none); asked for every node's time estimate."""
        return getattr(self.options, "model", None) or getattr(self.options, "model_id", None) or ""


@dataclass
class LoadedRecipe:
    """A recipe ready to plan: the validated model, where every value came from, and what it uses."""

    path: Path
    recipe: Recipe
    locs: Locations
    topics: list[Topic]
    characters: dict[str, Character]
    providers: dict[str, ProviderInfo]
    steps: dict[str, StepInfo]
    order: list[str]
    capabilities: dict[str, Any]  # capability name -> Capability (the ones the steps use)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def name(self) -> str:
        return self.recipe.name

    def loc(self, *path: Any) -> str:
        return self.locs.at(tuple(path))

    def capability(self, step: StepInfo) -> Any:
        return self.capabilities[step.capability]

    def speaker_names(self) -> dict[str, str]:
        """Lower-cased character names and ids -> display name (how dialogue speakers are matched)."""
        out: dict[str, str] = {}
        for c in self.characters.values():
            out[c.name.lower()] = c.name
            out[c.id.lower()] = c.name
        return out

    def until(self, step: str) -> LoadedRecipe:
        """The recipe cut after ``step``: that step and what it depends on (``--until``)."""
        if step not in self.steps:
            raise UserError(f"--until {step}: no such step (steps: {', '.join(self.order)})")
        keep = {step}
        stack = [step]
        while stack:
            for d in self.steps[stack.pop()].deps:
                if d in self.steps and d not in keep:
                    keep.add(d)
                    stack.append(d)
        steps = {n: s for n, s in self.steps.items() if n in keep}
        return replace(self, steps=steps, order=[n for n in self.order if n in keep])

    def with_topics(self, topics: list[Topic]) -> LoadedRecipe:
        problems = check_unique(topics)
        if problems:
            raise RecipeError(problems)
        if not topics:
            raise UserError("no topics selected; check --only / --limit / --topics")
        return replace(self, topics=topics)


def load_recipe(path: str | os.PathLike, *, registry: Registry, catalog: Catalog, topics_override: Path | None = None) -> LoadedRecipe:
    """Load, validate and cross-check a recipe. Raises RecipeError with every problem found."""
    path = Path(path)
    display = shown_path(path)
    data, locs = read_yaml_file(path, display, what="recipe")
    if not isinstance(data, dict):
        raise RecipeError(Problem(locs.at(()), "", "a recipe is a YAML mapping starting with `vidflow: 1`"))
    problems: list[Problem] = []

    # 1. Top level (steps/providers are checked one by one below, so all problems surface).
    top = {k: v for k, v in data.items() if k not in ("steps", "providers", "topics")}
    try:
        Recipe.model_validate({**top, "providers": {}, "steps": {}, "topics": []})
    except ValidationError as e:
        problems += pydantic_problems(e, locs, (), Recipe)
    for key in ("providers", "steps"):
        if key not in data:
            problems.append(Problem(locs.at(()), key, f"missing required key `{key}`"))
        elif not isinstance(data[key], dict) or not data[key]:
            problems.append(Problem(locs.at((key,)), key, f"`{key}` must be a non-empty mapping of names to settings"))

    providers = _check_providers(data.get("providers"), locs, registry, problems)
    steps, capabilities = check_steps(data.get("steps"), data.get("providers"), providers, catalog, locs, problems)
    topics = _check_topics(data, locs, path.parent, topics_override, problems)
    characters = _check_characters(data, locs, path.parent, problems)
    recipe_vars = data.get("vars") if isinstance(data.get("vars"), dict) else {}
    var_names = set(recipe_vars) | {k for t in topics for k in t.vars}
    raw_steps = set(data["steps"]) if isinstance(data.get("steps"), dict) else set()
    problems += _shadowed_variables(recipe_vars, topics, raw_steps, locs)
    # A partial view for the wiring checks (the Recipe model is built once everything is valid).
    draft = LoadedRecipe(path, None, locs, topics, characters, providers, steps, [], capabilities)  # type: ignore[arg-type]
    wire_steps(draft, var_names, raw_steps, problems)
    order = step_order(steps, locs, problems)
    if problems:
        raise RecipeError(problems)
    recipe = Recipe.model_validate(
        {
            **top,
            "providers": {n: p.spec for n, p in providers.items()},
            "steps": {n: s.spec for n, s in steps.items()},
            "topics": [{"topic": t.text, "vars": t.vars} for t in topics],
        }
    )
    return replace(draft, recipe=recipe, order=order)


def _shadowed_variables(recipe_vars: dict[str, Any], topics: list[Topic], steps: set[str], locs: Locations) -> list[Problem]:
    """A variable named like a name every template has (``topic``, ``characters``, ...) or like
    a step would be hidden by it, silently: each is an error naming where it is set."""

    def why(name: Any) -> str | None:
        if name in TEMPLATE_NAMES:
            return f"`{name}` is a name templates already have ({TEMPLATE_NAMES[name]}), so this variable could never be used; rename it"
        if name in steps:
            return f"`{name}` is a step of this recipe: templates see the step's output under that name, never this variable; rename it"
        return None

    problems = [Problem(locs.at(("vars", k)), f"vars.{k}", w) for k in recipe_vars if (w := why(k))]
    seen: set[Any] = set(recipe_vars)
    for t in topics:
        for k in t.vars:
            if k not in seen and (w := why(k)):
                problems.append(Problem(t.where or locs.at(("topics",)), "", f"topic variable {w}"))
            seen.add(k)
    return problems


def _check_providers(raw: Any, locs: Locations, registry: Registry, problems: list[Problem]) -> dict[str, ProviderInfo]:
    out: dict[str, ProviderInfo] = {}
    if not isinstance(raw, dict):
        return out
    for name, body in raw.items():
        where = ("providers", name)
        if not isinstance(body, dict):
            problems.append(Problem(locs.at(where), dotted(where), "a provider is a mapping with at least `kind:`"))
            continue
        try:
            spec = ProviderSpec.model_validate(body)
        except ValidationError as e:
            problems.extend(pydantic_problems(e, locs, where, ProviderSpec))
            continue
        if spec.kind not in registry:
            problems.append(Problem(locs.at(where + ("kind",)), dotted(where + ("kind",)), unknown_kind_message(spec.kind, registry.kinds())))
            continue
        try:
            cls = registry.get(spec.kind)
        except UserError as e:
            problems.append(Problem(locs.at(where + ("kind",)), dotted(where + ("kind",)), str(e)))
            continue
        try:
            options = cls.Options.model_validate(spec.options)
        except ValidationError as e:
            problems.extend(pydantic_problems(e, locs, where, cls.Options))
            continue
        out[name] = ProviderInfo(name, spec, cls, options)
    return out


def _check_topics(data: dict, locs: Locations, base: Path, override: Path | None, problems: list[Problem]) -> list[Topic]:
    topics: list[Topic] = []
    try:
        if override is not None:
            topics = load_topics_file(override)
        elif data.get("topics_file") is not None:
            tf = data["topics_file"]
            if not isinstance(tf, str):
                problems.append(Problem(locs.at(("topics_file",)), "topics_file", "topics_file is a path"))
                return []
            if data.get("topics"):
                problems.append(Problem(locs.at(("topics",), key=True), "topics", "give either `topics:` or `topics_file:`, not both"))
            topics = load_topics_file(base / tf, display=shown_path(base / tf), named_at=locs.at(("topics_file",)))
        else:
            raw = data.get("topics")
            if raw is None or raw == []:
                problems.append(Problem(locs.at(("topics",) if "topics" in data else ()), "topics", "no topics: add `topics: [...]` or `topics_file: topics.txt`"))
                return []
            if not isinstance(raw, list):
                problems.append(Problem(locs.at(("topics",)), "topics", "`topics` is a list of topics"))
                return []
            topics, inline_problems = topics_from_inline(raw, locs)
            problems.extend(inline_problems)
    except RecipeError as e:
        problems.extend(e.problems)
        return []
    problems.extend(check_unique(topics))
    return topics


def character_dirs(base: Path, configured: str | None) -> list[Path]:
    if configured:
        return [(base / configured)]
    return [base / "characters", base.parent / "characters", Path.cwd() / "characters"]


def _check_characters(data: dict, locs: Locations, base: Path, problems: list[Problem]) -> dict[str, Character]:
    names = data.get("characters") or []
    if not isinstance(names, list):
        return {}
    dirs = character_dirs(base, data.get("characters_dir") if isinstance(data.get("characters_dir"), str) else None)
    available = find_characters(dirs)
    out: dict[str, Character] = {}
    for i, name in enumerate(names):
        if not isinstance(name, str):
            continue
        if name not in available:
            close = difflib.get_close_matches(name, list(available), n=1)
            fix = f"did you mean `{close[0]}`? " if close else ""
            looked = ", ".join(shown_path(d) for d in dirs if d.is_dir()) or ", ".join(shown_path(d) for d in dirs)
            problems.append(Problem(locs.at(("characters", i)), f"characters[{i}]", f"character `{name}` not found in {looked}; {fix}add characters/{name}.yaml (have: {', '.join(sorted(available)) or 'none'})"))
            continue
        try:
            out[name] = load_character(name, available[name])
        except RecipeError as e:
            problems.extend(e.problems)
    problems += _same_speaker(out)
    return out


def _same_speaker(characters: dict[str, Character]) -> list[Problem]:
    """Dialogue lines find their character by name or id, in any case: two characters that
    answer to the same one would share a voice and a sprite, silently."""
    claims: dict[str, dict[str, Character]] = {}  # label -> character id -> character
    for c in characters.values():
        for label in (c.name.lower(), c.id.lower()):
            claims.setdefault(label, {})[c.id] = c
    problems = []
    for label, who in claims.items():
        if len(who) < 2:
            continue
        # the one to rename: a character whose *name* is another's id, else the last one named
        culprit = next((c for c in who.values() if c.id.lower() != label), list(who.values())[-1])
        others = ", ".join(f"`{i}`" for i in who if i != culprit.id)
        problems.append(Problem(culprit.name_at or culprit.file, "name", f"character `{culprit.id}` is named `{culprit.name}`, and {others} also answers to "
                                f"`{label}` (dialogue lines find their speaker by name or id): their lines would share one voice and sprite; give `{culprit.id}` another name"))
    return problems
