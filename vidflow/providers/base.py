"""Capability contracts: what a text, speech or image provider takes and gives back.

One Protocol per capability, plus the request/result records that cross it. Adapters live one per
module (``text_offline.py``, ``speech_espeak.py`` ...) and are found through the registry.
Adapters hold **no** retry, concurrency or caching logic: the scheduler owns all three.

Nothing here imports a vendor SDK.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Mapping, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from ..redact import Redactor
from ..frozen import fast_init

Capability = Literal["text", "speech", "image"]

__all__ = [
    "Capability",
    "EndpointOptions",
    "ImageGenerator",
    "ImageRequest",
    "ImageResult",
    "PaidProvider",
    "Provider",
    "ProviderOptions",
    "SpeakerInfo",
    "SpeechRequest",
    "SpeechResult",
    "SpeechSynthesizer",
    "TextGenerator",
    "TextRequest",
    "TextResult",
    "WordTiming",
]


class ProviderOptions(BaseModel):
    """Base for an adapter's vendor settings (the recipe's provider block, minus vidflow's keys).

    Unknown keys are an error, so a typo in a recipe never silently changes nothing.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Seconds one attempt may take. The recipe's ``timeout:`` (a key of the provider block, next
    # to ``retry:``) arrives here too, so networked adapters use it as their HTTP timeout and
    # the retry policy as its per-attempt limit: one knob. Never part of a cache key.
    timeout: float | None = Field(default=None, gt=0)


class EndpointOptions(ProviderOptions):
    """Options every paid (networked) adapter takes; none of them is part of a cache key."""

    api_base: str | None = None
    api_key_env: str | None = None
    timeout: float = Field(default=60.0, gt=0)


class Provider:
    """Base class for adapters.

    Class attributes:
        kind: the registry string, ``"<capability>.<vendor>"``.
        capability: ``"text"``, ``"speech"`` or ``"image"``.
        version: bump it whenever the output for the same request changes; it feeds cache keys.
        Options: the pydantic model for this adapter's settings.
        default_concurrency: calls in flight at once unless the recipe says otherwise.
        paid: True when calls cost money (plan-time key checks, budget).
        env_keys: environment variables holding its API key (any one of them is enough).
    """

    kind: ClassVar[str]
    capability: ClassVar[Capability]
    version: ClassVar[str] = "1"
    Options: ClassVar[type[ProviderOptions]] = ProviderOptions
    default_concurrency: ClassVar[int] = 4
    paid: ClassVar[bool] = False
    env_keys: ClassVar[tuple[str, ...]] = ()
    # Seconds one call usually takes; used by `vidflow plan` for its time estimate.
    typical_latency: ClassVar[float] = 0.05
    # Text providers: whether the request carries the topic besides the prompt. Only set it for
    # providers that use it (text.offline): it is part of the key, so two topics rendering the
    # same prompt would no longer share one call.
    wants_topic: ClassVar[bool] = False
    # Options that change where or how long a call goes, never its output: kept out of keys.
    non_identity: ClassVar[frozenset[str]] = frozenset({"timeout"})
    # The step ``params:`` this provider reads; `vidflow plan` warns about any other. None: not
    # declared, no warning (litellm hands any param on to its vendor; text.offline stands in for
    # an LLM whose params, like ``temperature``, a recipe keeps for when it switches back).
    params_read: ClassVar[frozenset[str] | None] = None

    def __init__(self, options: ProviderOptions | None = None, *, settings: Any = None, prices: Any = None):
        self.options = options if options is not None else self.Options()
        self.settings = settings
        self.prices = prices

    @classmethod
    def check_params(cls, params: Mapping[str, Any]) -> dict[str, str]:
        """What is wrong with a step's ``params:`` values for this provider, by param name ({}:
        nothing). Checked when the recipe loads, so a bad value fails before any call."""
        return {}

    async def warm_up(self) -> None:
        """Called once before this provider's first call in a run (never by plan, never when
        everything is cached): open clients, import SDKs.

        Doing it up front keeps that work (TLS contexts, seconds of imports) out of the first
        burst of calls, where it would skew rate windows. Default: nothing.
        """

    async def aclose(self) -> None:
        """Close what the adapter opened (HTTP clients). Called once when a run ends; the
        adapter is not used again. Default: nothing."""

    # ------------------------------------------------------------------ money and keys
    def estimate_cost(self, req: Any) -> float:
        """USD this request will probably cost (budget checks and plan). 0 for free providers."""
        return 0.0

    def missing_credentials(self, env: Any) -> list[str]:
        """Names of environment variables this provider needs and ``env`` lacks ([] if fine)."""
        if not self.env_keys:
            return []
        if any(env.get(k) for k in self.env_keys):
            return []
        return list(self.env_keys)

    def api_key(self) -> str | None:
        """This provider's key, from the environment (via settings). Never store it."""
        if self.settings is None:
            return None
        for k in self.env_keys:
            v = self.settings.secret(k)
            if v:
                return v
        return None

    def redactor(self) -> Redactor:
        """Masks the settings' secrets and this provider's own key in error text (built once)."""
        red = getattr(self, "_redactor", None)
        if red is None:
            base = getattr(self.settings, "redactor", None)
            red = (base if isinstance(base, Redactor) else Redactor()).extended([self.api_key()])
            self._redactor = red
        return red

    def identity(self) -> dict[str, Any]:
        """Everything about this provider instance that changes its output (feeds the key).

        Never secrets, limits or timeouts.
        """
        # "timeout" is every adapter's option (ProviderOptions), so it stays out even for an
        # adapter whose own non_identity forgets it.
        skip = self.non_identity | {"timeout"}
        options = {k: v for k, v in self.options.model_dump().items() if k not in skip}
        return {"kind": self.kind, "version": self.version, "options": options}

    def voice_key(self) -> str:
        """Which entry of a character's ``voices`` map this provider reads (speech only)."""
        return self.kind.split(".", 1)[1]


class PaidProvider(Provider):
    """Base for adapters that call a paid API: key from the environment, endpoint options."""

    paid: ClassVar[bool] = True
    Options: ClassVar[type[ProviderOptions]] = EndpointOptions
    non_identity: ClassVar[frozenset[str]] = frozenset({"api_base", "api_key_env", "timeout"})

    def default_key_env(self) -> tuple[str, ...]:
        """The environment variables that hold this adapter's key when ``api_key_env`` is unset."""
        return ()

    @property
    def env_keys(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.options.api_key_env,) if self.options.api_key_env else self.default_key_env()


# --------------------------------------------------------------------------- text


@fast_init
@dataclass(frozen=True)
class SpeakerInfo:
    """What a text provider may know about a character when it writes a dialogue."""

    __key_tag__ = "text.speaker"  # names this record in cache keys; never change it

    name: str
    catchphrases: tuple[str, ...] = ()
    persona: str = ""


@fast_init
@dataclass(frozen=True)
class TextRequest:
    """A prompt, rendered.

    ``output`` is ``"text"`` (free text), ``"json"`` (any JSON) or ``"dialogue"`` (a script:
    ``{"title", "lines": [{"speaker", "text", "scene"}], "scenes": [{"caption", "image_prompt"}]}``).
    ``speakers`` is only filled for dialogues; a dialogue may only use those names.
    ``hints`` carries sizes the step asks for (``lines``, ``scenes``) and extra parameters.
    ``schema`` is the JSON schema the answer must satisfy (dialogues and ``json`` with a schema).
    """

    __key_tag__ = "text.request"  # names this record in cache keys; never change it

    prompt: str
    system: str = ""
    output: Literal["text", "json", "dialogue"] = "text"
    topic: str = ""
    speakers: tuple[SpeakerInfo, ...] = ()
    hints: Mapping[str, Any] = field(default_factory=dict)
    schema: Mapping[str, Any] | None = None


@dataclass
class TextResult:
    """``value`` is a str for ``text`` and the parsed JSON for ``json`` / ``dialogue``."""

    value: Any
    model: str = ""
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0


@runtime_checkable
class TextGenerator(Protocol):
    kind: ClassVar[str]

    async def generate(self, req: TextRequest) -> TextResult:
        """Answer one prompt.

        Raises: TransientProviderError (retried), PermanentProviderError (fails the node).
        Idempotent: yes (the cache replays the first answer of a non-deterministic model).
        """
        ...


# --------------------------------------------------------------------------- speech


@fast_init
@dataclass(frozen=True)
class WordTiming:
    """One word of the spoken text: ``start``/``end`` in seconds from the start of the audio.

    ``char_start``/``char_end`` index the request text (0-based, end exclusive), so the
    subtitles show exactly the words of the line, punctuation included.
    """

    __key_tag__ = "speech.word_timing"  # names this record in cache keys; never change it

    word: str
    start: float
    end: float
    char_start: int
    char_end: int


@fast_init
@dataclass(frozen=True)
class SpeechRequest:
    """``voice`` is already resolved to the vendor's voice id (from the character profile)."""

    __key_tag__ = "speech.request"  # names this record in cache keys; never change it

    text: str
    voice: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class SpeechResult:
    """Audio plus one :class:`WordTiming` per whitespace-separated word of the text.

    ``words`` cover the text in order; ``duration`` is the audio's exact length in seconds.
    """

    audio: bytes
    media_type: str
    extension: str
    duration: float
    words: list[WordTiming]
    sample_rate: int = 0
    cost_usd: float = 0.0
    model: str = ""
    timings_estimated: bool = False


@runtime_checkable
class SpeechSynthesizer(Protocol):
    kind: ClassVar[str]

    async def synthesize(self, req: SpeechRequest) -> SpeechResult:
        """Speak one line. Raises as :meth:`TextGenerator.generate`. Idempotent: yes."""
        ...


# --------------------------------------------------------------------------- image


@fast_init
@dataclass(frozen=True)
class ImageRequest:
    """``caption`` is optional text the image may show; ``seed`` makes sampling repeatable."""

    __key_tag__ = "image.request"  # names this record in cache keys; never change it

    prompt: str
    width: int = 1080
    height: int = 1920
    seed: int | None = None
    caption: str = ""


@dataclass
class ImageResult:
    data: bytes
    media_type: str = "image/png"
    extension: str = "png"
    width: int = 0
    height: int = 0
    cost_usd: float = 0.0
    model: str = ""


@runtime_checkable
class ImageGenerator(Protocol):
    kind: ClassVar[str]

    async def generate_image(self, req: ImageRequest) -> ImageResult:
        """Make one image. Raises as :meth:`TextGenerator.generate`. Idempotent: yes."""
        ...
