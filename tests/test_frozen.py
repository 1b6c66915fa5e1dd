"""fast_init: a frozen dataclass made in one call behaves as dataclasses made it."""

from __future__ import annotations

import dataclasses
import inspect
import pickle
from dataclasses import dataclass, field

import pytest

from vidflow.frozen import fast_init


@dataclass(frozen=True)
class Plain:
    name: str
    role: str = ""
    tags: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)


@fast_init
@dataclass(frozen=True)
class Fast:
    name: str
    role: str = ""
    tags: tuple[str, ...] = ()
    params: dict = field(default_factory=dict)


def _same(fast, plain) -> None:
    assert dataclasses.asdict(fast) == dataclasses.asdict(plain)
    assert repr(fast).replace("Fast", "Plain") == repr(plain)


def test_it_makes_the_same_instance_as_the_generated_init():
    _same(Fast("a"), Plain("a"))
    _same(Fast("a", "r", ("x",), {"k": 1}), Plain("a", "r", ("x",), {"k": 1}))
    _same(Fast(name="a", params={"k": 1}), Plain(name="a", params={"k": 1}))
    assert Fast("a").params is not Fast("a").params  # a new dict each time, as default_factory gives
    assert Fast("a", tags=("x",)) == Fast("a", tags=("x",))
    assert list(inspect.signature(Fast).parameters) == list(inspect.signature(Plain).parameters)


def test_it_stays_frozen_and_pickles_and_replaces():
    f = Fast("a", params={"k": 1})
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.name = "b"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(f)) == f
    assert dataclasses.replace(f, role="r") == Fast("a", "r", params={"k": 1})


def test_bad_calls_fail_as_before():
    with pytest.raises(TypeError, match="name"):
        Fast()  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="nope"):
        Fast("a", nope=1)  # type: ignore[call-arg]


def test_post_init_runs():
    @fast_init
    @dataclass(frozen=True)
    class Checked:
        n: int

        def __post_init__(self) -> None:
            if self.n < 0:
                raise ValueError("negative")

    assert Checked(1).n == 1
    with pytest.raises(ValueError, match="negative"):
        Checked(-1)


def test_what_it_cannot_write_is_refused():
    with pytest.raises(TypeError, match="not a frozen dataclass"):
        fast_init(dataclass(type("Open", (), {"__annotations__": {"a": int}})))
    with pytest.raises(TypeError, match="without slots"):
        fast_init(dataclass(frozen=True, slots=True)(type("Slotted", (), {"__annotations__": {"a": int}})))
    with pytest.raises(TypeError, match="kw_only"):
        fast_init(dataclass(frozen=True, kw_only=True)(type("Kw", (), {"__annotations__": {"a": int}})))
