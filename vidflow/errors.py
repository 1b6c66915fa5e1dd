"""Every exception vidflow raises on purpose, in one tree.

Three classes of failure (see STYLE.md §9):

* **User errors** (:class:`UserError`): the input is wrong. The CLI prints one clear line per
  problem, with ``file:line:col`` where it has one, and exits 2 with no traceback.
* **Provider / media / cache failures**: reported per node; the node and its dependents fail,
  everything else goes on. The run exits 1.
* **Bugs**: any other exception. The CLI prints the traceback and exits 3.

::

    VidflowError
    ├── UserError                      exit 2; one clear message, no traceback
    │   ├── RecipeError                aggregated problems: [Problem(location, path, message)]
    │   ├── ConfigError                settings / env / credentials missing or invalid
    │   ├── UnknownKindError           lists close matches + available kinds
    │   ├── MissingDependencyError     carries an install hint
    │   └── TemplateError              a template failed to render (undefined name, ...)
    │       └── OutputPathError        a rendered `to:` would leave its root (fails its topic only)
    ├── ProviderError                  carries kind, node, request id, vendor message
    │   ├── TransientProviderError     retried by policy
    │   │   ├── RateLimitedError       .retry_after (seconds)
    │   │   ├── ProviderTimeoutError
    │   │   └── ProviderUnavailableError
    │   └── PermanentProviderError     never retried
    │       ├── AuthError
    │       ├── ContentRejectedError   safety / moderation refusals
    │       ├── BadRequestError
    │       └── BadOutputError         the provider answered, but not with what the step needs
    ├── MediaError
    │   └── FFmpegError                argv, returncode, last stderr lines
    ├── CacheError
    │   ├── CacheCorruptError          a blob's digest did not match on read
    │   └── KeyEncodingError           a value cannot be encoded into a cache key
    ├── BudgetExceededError            a paid call would push spending past the budget
    └── NodeFailedError                a node could not produce its output (wraps the cause)
        ├── UpstreamFailedError        a node was not run because an input failed
        └── AwaitingReviewError        a node's output waits for review (approve: true)
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

__all__ = [
    "AuthError",
    "AwaitingReviewError",
    "BadOutputError",
    "BadRequestError",
    "BudgetExceededError",
    "CacheCorruptError",
    "CacheError",
    "ConfigError",
    "ContentRejectedError",
    "DiskFullError",
    "FFmpegError",
    "KeyEncodingError",
    "MediaError",
    "MissingDependencyError",
    "NodeFailedError",
    "OutputPathError",
    "PermanentProviderError",
    "Problem",
    "ProviderError",
    "ProviderTimeoutError",
    "ProviderUnavailableError",
    "RateLimitedError",
    "RecipeError",
    "TemplateError",
    "TransientProviderError",
    "UnknownKindError",
    "UpstreamFailedError",
    "UserError",
    "VidflowError",
    "describe",
    "failure_text",
    "shown_path",
]


class VidflowError(Exception):
    """Base of every error vidflow raises on purpose."""


# --------------------------------------------------------------------------- user errors


class UserError(VidflowError):
    """The input is wrong: fix it and run again (exit 2, no traceback)."""

    exit_code = 2

    def lines(self) -> list[str]:
        """The message as the CLI prints it, one problem per line."""
        return [str(self)]


def _subclass_names(cls: type) -> set[str]:
    names = {cls.__name__}
    for sub in cls.__subclasses__():
        names |= _subclass_names(sub)
    return names


def shown_path(path: str | os.PathLike) -> str:
    """A local file as messages name it: relative to the working folder when it is inside it,
    else as given (``/data/topics.csv``, not ``../../data/topics.csv``)."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # (another drive, on Windows)
        return str(path)
    return str(path) if rel == os.pardir or rel.startswith(os.pardir + os.sep) else rel


def failure_text(error: str, message: str) -> str:
    """A failure as people read it: the message alone when it is the input's own problem (it
    already names the file, the line and the fix), else the error's class and the message."""
    if not error or error in _subclass_names(UserError):
        return message
    return f"{error}: {message}"


def describe(exc: BaseException) -> str:
    """:func:`failure_text` of an exception."""
    return failure_text(type(exc).__name__, str(exc))


@dataclass(frozen=True, order=True)
class Problem:
    """One problem found in a user's input.

    ``location`` is ``file:line:col`` (or just ``file``), ``path`` the dotted path inside the
    document (``steps.script.prompt``), ``message`` says what is wrong and how to fix it.
    """

    location: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.location}: " if self.location else ""
        at = f"{self.path}: " if self.path else ""
        return f"{where}{at}{self.message}"


class RecipeError(UserError):
    """A recipe, character or topics file has one or more problems (all reported at once)."""

    def __init__(self, problems: list[Problem] | Problem):
        if isinstance(problems, Problem):
            problems = [problems]
        # Keep file order: sort by file, then numerically by line and column.
        self.problems = sorted(problems, key=_problem_order)
        super().__init__("\n".join(str(p) for p in self.problems))

    def lines(self) -> list[str]:
        return [str(p) for p in self.problems]


def _problem_order(p: Problem) -> tuple:
    parts = p.location.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return (parts[0], int(parts[1]), int(parts[2]), p.path, p.message)
    return (p.location, 0, 0, p.path, p.message)


class ConfigError(UserError):
    """Settings, environment or credentials are missing or invalid."""


class UnknownKindError(UserError):
    """A provider ``kind`` is not registered."""


class MissingDependencyError(UserError):
    """An optional dependency is not installed; the message carries the install command."""


class TemplateError(UserError):
    """A Jinja template failed to render (undefined name, bad filter, sandbox violation)."""


class OutputPathError(TemplateError):
    """A publish ``to:`` rendered for one topic names a place outside its root (a scheme, ``..``,
    an absolute path, a symlink out, a control character): that topic fails, the others publish."""


# --------------------------------------------------------------------------- provider errors


class ProviderError(VidflowError):
    """A provider call failed. Carries the kind, the vendor's message and request id."""

    def __init__(
        self,
        message: str,
        *,
        kind: str = "",
        status: int | None = None,
        request_id: str | None = None,
    ):
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.request_id = request_id


class TransientProviderError(ProviderError):
    """A failure that may go away on retry (429, 5xx, timeouts, connection resets)."""


class RateLimitedError(TransientProviderError):
    """The provider said 429; ``retry_after`` is its Retry-After in seconds, if it gave one."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ProviderTimeoutError(TransientProviderError):
    """The call timed out."""


class ProviderUnavailableError(TransientProviderError):
    """5xx, connection refused or reset."""


class PermanentProviderError(ProviderError):
    """A failure that retrying will not fix."""


class AuthError(PermanentProviderError):
    """The API key is missing, wrong or not allowed to do this (401/403)."""


class ContentRejectedError(PermanentProviderError):
    """The provider refused the content (safety or moderation)."""


class BadRequestError(PermanentProviderError):
    """The provider rejected the request as malformed (400, 404, 422)."""


class BadOutputError(PermanentProviderError):
    """The provider answered, but not with what the step needs (bad JSON, wrong shape)."""


# --------------------------------------------------------------------------- media / cache


class MediaError(VidflowError):
    """Composing media failed."""


class FFmpegError(MediaError):
    """ffmpeg exited non-zero. Carries the argv, the return code and the last stderr lines."""

    def __init__(self, argv: list[str], returncode: int, stderr_tail: str):
        self.argv = list(argv)
        self.returncode = returncode
        self.stderr_tail = stderr_tail
        last = stderr_tail.strip().splitlines()[-1:] or ["(no output)"]
        super().__init__(f"ffmpeg exited with {returncode}: {last[0]}")


class CacheError(VidflowError):
    """The cache could not be read or written."""


class CacheCorruptError(CacheError):
    """A blob's content does not match its digest; it is treated as a miss and rebuilt."""


class KeyEncodingError(CacheError):
    """A value cannot be encoded into a cache key (NaN, an unknown type, ...)."""


class BudgetExceededError(VidflowError):
    """A paid call was not started: it could push spending past the recipe's budget."""


_FULL = frozenset({errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)})  # (no room; over quota)


class DiskFullError(VidflowError):
    """A write found its disk full (ENOSPC, or over quota). Once one has, the run makes nothing
    more: a paid call would make an output that cannot be stored."""

    @classmethod
    def of(cls, exc: BaseException) -> DiskFullError | None:
        """The DiskFullError ``exc`` amounts to (an OSError, or ffmpeg saying so), else None."""
        if isinstance(exc, DiskFullError):
            return exc
        if isinstance(exc, OSError) and exc.errno in _FULL:
            target = exc.filename2 or exc.filename
            where = f"the disk holding {shown_path(os.path.dirname(os.fsdecode(target)))}" if target else "a disk vidflow writes to"
        elif isinstance(exc, FFmpegError) and "No space left on device" in exc.stderr_tail:
            where = "the disk holding vidflow's scratch folder (VIDFLOW_SCRATCH_DIR)"
        else:
            return None
        full = cls(f"no space left on {where}; free some (`vidflow cache gc` removes what no recipe uses) and rerun: what was made is kept")
        full.__cause__ = exc
        return full


# --------------------------------------------------------------------------- node outcomes


class NodeFailedError(VidflowError):
    """A node could not produce its output; ``__cause__`` holds why."""

    def __init__(self, node: str, message: str):
        super().__init__(f"{node}: {message}")
        self.node = node


class UpstreamFailedError(NodeFailedError):
    """A node was not run because one of its inputs failed."""


class AwaitingReviewError(NodeFailedError):
    """A node's output (or an input's) waits for a person's review (``approve: true``): not a
    failure; the branch goes on once it is approved (exit code 4)."""
