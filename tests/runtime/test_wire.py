"""The message registry: what crosses between actor systems, exactly, and nothing else."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from switchyard.runtime import ActorStopped, AskTimeout, MessageRegistry, Refusal, RemoteError


@dataclass(frozen=True)
class Inner:
    values: tuple[int, ...]


@dataclass
class Outer:
    name: str
    inner: Inner
    extra: dict[str, Any] = field(default_factory=dict)
    raw: bytes = b""
    hidden: int = field(default=0, init=False)


class Nope(Refusal):
    pass


def no_refs(value: Any) -> None:
    return None


def refuse_refs(node: str, path: str) -> Any:
    raise AssertionError("no refs expected")


def roundtrip(reg: MessageRegistry, value: Any) -> Any:
    return reg.decode(reg.encode(value, no_refs), refuse_refs)


def test_registered_dataclasses_round_trip_exactly() -> None:
    reg = MessageRegistry()
    reg.register(Inner)
    reg.register(Outer)
    msg = Outer("x", Inner((1, 2)), {"k": [None, True, 1.5, (3,)]}, b"\x00")
    assert roundtrip(reg, msg) == msg
    assert roundtrip(reg, [1, "a", {"n": None}]) == [1, "a", {"n": None}]


def test_what_is_not_registered_does_not_cross() -> None:
    reg = MessageRegistry()
    reg.register(Inner)
    with pytest.raises(TypeError):
        reg.encode(Outer("x", Inner(())), no_refs)
    with pytest.raises(TypeError):
        reg.encode({"$m": 1}, no_refs)  # cannot forge a tag
    with pytest.raises(TypeError):
        reg.encode({1: "int key"}, no_refs)
    with pytest.raises(TypeError):
        reg.register(int)
    with pytest.raises(ValueError):
        reg.register(Outer, name="Inner")  # a name is one type


@pytest.mark.parametrize(
    "data",
    [
        {"$m": "Outer", "f": {}},  # unregistered name
        {"$m": "Inner", "f": {"nope": 1}},  # wrong fields
        {"$m": "Inner"},
        {"$b": "***"},
        {"$r": ["only-node"]},
        {"$x": 1},
        {"$t": 5},
        b"bytes are not JSON",
    ],
)
def test_malformed_input_is_a_value_error(data: Any) -> None:
    reg = MessageRegistry()
    reg.register(Inner)
    with pytest.raises(ValueError):
        reg.decode(data, refuse_refs)


def test_deep_nesting_is_refused_both_ways() -> None:
    reg = MessageRegistry()
    deep: Any = 1
    for _ in range(100):
        deep = [deep]
    with pytest.raises(TypeError):
        reg.encode(deep, no_refs)
    with pytest.raises(ValueError):
        reg.decode(deep, refuse_refs)


def test_errors_cross_as_themselves_or_as_remote_error() -> None:
    reg = MessageRegistry()
    reg.register_error(Nope)
    nope = reg.decode_error(reg.encode_error(Nope("no way")))
    assert type(nope) is Nope and str(nope) == "no way"
    stopped = reg.decode_error(reg.encode_error(ActorStopped("/root/x")))
    assert type(stopped) is ActorStopped and stopped.path == "/root/x"
    assert str(stopped) == "actor /root/x is stopped"
    timeout = reg.decode_error(reg.encode_error(AskTimeout("/root/y", 1.5)))
    assert isinstance(timeout, AskTimeout) and timeout.timeout == 1.5
    other = reg.decode_error(reg.encode_error(KeyError("k")))
    assert isinstance(other, RemoteError) and other.type_name == "KeyError"
    assert isinstance(reg.decode_error("junk"), RemoteError)
    assert isinstance(reg.decode_error({"type": "Nope", "args": 5, "attrs": {}}), RemoteError)
