"""Run options as one value, checked in one place: what the CLI's flags mean, for Python users too.

:func:`prepare_run` turns :class:`RunOptions` into what :func:`vidflow.api.run` takes: the
recipe cut at ``until``, the imported stage documents and the executor. Every combination that
makes no sense is a :class:`~vidflow.errors.UserError` (exit 2) naming the flags.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import UserError
from .plan.refresh import Refresh, parse_refresh
from .recipe.load import LoadedRecipe
from .stage import parse_input_spec, read_document

__all__ = ["PreparedRun", "RunOptions", "prepare_run", "submission_options"]


@dataclass(frozen=True)
class RunOptions:
    """What ``vidflow run`` was asked to do (beyond the recipe and the topic selection)."""

    refresh: tuple[str, ...] = ()  # STEP, STEP[N] or STEP[A:B]
    force: bool = False  # refresh approved items too
    until: str | None = None
    emit: str | None = None
    inputs: tuple[str, ...] = ()  # "STEP=FILE" or "STEP=-"
    executor: str = "local"
    address: str | None = None
    workers: int = 2
    out_dir: str | None = None
    topics_file: str | None = None
    idempotency_key: str | None = None  # names the run instead of its snapshot's digest
    wait: bool = False  # the same run is being made elsewhere: wait for it
    new_run: bool = False  # run even if this exact submission finished


def submission_options(o: RunOptions) -> dict[str, Any]:
    """The options that change what a run makes or where it goes: part of its snapshot (and
    so of its id). Executors, progress and report flags are not."""
    import os

    return {"refresh": sorted(o.refresh), "force": o.force, "until": o.until, "out_dir": os.path.abspath(o.out_dir or ".")}


@dataclass
class PreparedRun:
    loaded: LoadedRecipe
    imports: dict[str, dict[str, Any]] = field(default_factory=dict)
    executor: Any = "local"
    refresh: Refresh = field(default_factory=Refresh)


def prepare_run(loaded: LoadedRecipe, options: RunOptions, *, stdin: Any = None) -> PreparedRun:
    """Check the options together, read stage documents, pick the executor."""
    o = options
    if o.emit and not o.until:
        raise UserError("--emit json needs --until STEP (which step's outputs to print)")
    if o.executor == "dask" and (o.until or o.inputs or o.emit):
        raise UserError("--until, --emit and --input run in this process; drop --executor dask for them")
    if o.executor != "dask" and o.address:
        raise UserError("--address goes with --executor dask")
    if o.workers < 1:
        raise UserError("--workers must be at least 1")
    if o.force and not o.refresh:
        raise UserError("--force goes with --refresh STEP (it makes approved items of STEP again)")
    if o.out_dir is not None:
        _check_out_dir(o.out_dir)
    refresh = parse_refresh(o.refresh, loaded.steps, force=o.force)
    if o.until is not None:  # `--until ""` is a step name too (none such), not "no --until"
        loaded = loaded.until(o.until)
    imports = {}
    for spec in o.inputs:
        step, source = parse_input_spec(spec, loaded)
        imports[step] = read_document(step, source, loaded, stdin=stdin)
    executor: Any = "local"
    if o.executor == "dask":
        from .run.dask import DaskExecutor

        executor = DaskExecutor(address=o.address, workers=o.workers, topics_file=o.topics_file)
    return PreparedRun(loaded, imports, executor, refresh)


def _check_out_dir(out_dir: str) -> None:
    """A local ``--out-dir`` must be a folder or a path that can become one: else every topic
    would fail at publish, after all the work."""
    import os

    from .storage import file_in_the_way

    if "://" in out_dir:  # a URL: the store says at publish time
        return
    blocker = out_dir if os.path.exists(out_dir) and not os.path.isdir(out_dir) else file_in_the_way(out_dir)
    if blocker:  # a file, or a device (/dev/null): it failed every publish after all the work
        what = "a file, not a folder" if os.path.isfile(blocker) else "not a folder"
        raise UserError(f"--out-dir {out_dir}: {os.path.abspath(blocker)} is {what}; give a folder")
