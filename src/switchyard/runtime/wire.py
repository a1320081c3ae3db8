"""JSON encoding of the messages and errors that cross between actor systems.

No pickle: only what is registered crosses. A `MessageRegistry` names each message
dataclass (and each error class) that may travel; anything else refuses to encode
(`TypeError`) or decodes as an error. Values inside messages may be None, bool, int,
float, str, bytes, lists, tuples, dicts with string keys, other registered dataclasses,
and actor refs (which the endpoint turns into local or remote refs on arrival).

Encoded forms (JSON): a registered dataclass is `{"$m": name, "f": {...}}`, a tuple
`{"$t": [...]}`, bytes `{"$b": base64}`, an actor ref `{"$r": [node, path]}`; plain
dicts must not use keys starting with `$`.
"""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import (
    ActorStopped,
    AskTimeout,
    ChildExists,
    MailboxFull,
    Refusal,
    RuntimeErrorBase,
    UnhandledMessage,
)

T = TypeVar("T")

MAX_DEPTH = 32  # nesting refused beyond this (a hostile message cannot recurse us away)


class RemoteError(RuntimeErrorBase):
    """A remote handler raised an error type this side has not registered."""

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(f"{type_name}: {message}")
        self.type_name = type_name


class MessageRegistry:
    """The message dataclasses and error classes allowed to cross, by name."""

    def __init__(self) -> None:
        self._types: dict[str, type[Any]] = {}
        self._names: dict[type[Any], str] = {}
        self._errors: dict[str, type[BaseException]] = {}
        self._error_names: dict[type[BaseException], str] = {}
        for error in (ActorStopped, AskTimeout, MailboxFull, UnhandledMessage, ChildExists):
            self.register_error(error)
        self.register_error(Refusal)

    def register(self, cls: type[T], name: str | None = None) -> type[T]:
        """Allow the dataclass `cls` to cross as `name` (default: its class name)."""
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"{cls.__name__} is not a dataclass")
        name = name or cls.__name__
        if self._types.get(name, cls) is not cls:
            raise ValueError(f"message name {name!r} is already registered")
        self._types[name] = cls
        self._names[cls] = name
        return cls

    def register_error(self, cls: type[BaseException], name: str | None = None) -> None:
        """Re-raise `cls` at the asker when a remote handler raises it (built from its
        string args; a class that cannot be rebuilt that way arrives as RemoteError)."""
        name = name or cls.__name__
        self._errors[name] = cls
        self._error_names[cls] = name

    # -- messages --------------------------------------------------------------------------

    def encode(self, value: Any, ref_encoder: Callable[[Any], list[str] | None]) -> Any:
        """`value` as JSON-able data; `ref_encoder` returns [node, path] for actor refs."""
        return self._encode(value, ref_encoder, 0)

    def _encode(self, value: Any, refs: Callable[[Any], list[str] | None], depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise TypeError("message nested too deeply")
        if value is None or isinstance(value, bool | int | float | str):
            return value
        kind = type(value)
        name = self._names.get(kind)
        if name is not None:
            fields = {
                f.name: self._encode(getattr(value, f.name), refs, depth + 1)
                for f in dataclasses.fields(value)
                if f.init
            }
            return {"$m": name, "f": fields}
        if isinstance(value, list):
            return [self._encode(v, refs, depth + 1) for v in value]
        if isinstance(value, tuple):
            return {"$t": [self._encode(v, refs, depth + 1) for v in value]}
        if isinstance(value, bytes):
            return {"$b": base64.b64encode(value).decode()}
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if not isinstance(key, str) or key.startswith("$"):
                    raise TypeError(f"dict key {key!r} cannot cross (str keys, no '$')")
                out[key] = self._encode(item, refs, depth + 1)
            return out
        ref = refs(value)
        if ref is not None:
            return {"$r": ref}
        raise TypeError(f"{kind.__name__} is not registered to cross between actor systems")

    def decode(self, data: Any, ref_decoder: Callable[[str, str], Any]) -> Any:
        """The value `encode` produced; `ref_decoder(node, path)` rebuilds actor refs.
        Raises ValueError on anything malformed or unregistered."""
        return self._decode(data, ref_decoder, 0)

    def _decode(self, data: Any, refs: Callable[[str, str], Any], depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise ValueError("message nested too deeply")
        if data is None or isinstance(data, bool | int | float | str):
            return data
        if isinstance(data, list):
            return [self._decode(v, refs, depth + 1) for v in data]
        if not isinstance(data, dict):
            raise ValueError(f"cannot decode {type(data).__name__}")
        if "$m" in data:
            cls = self._types.get(data["$m"]) if isinstance(data["$m"], str) else None
            fields = data.get("f")
            if cls is None or not isinstance(fields, dict):
                raise ValueError(f"unknown message type {data['$m']!r}")
            values = {k: self._decode(v, refs, depth + 1) for k, v in fields.items()}
            try:
                return cls(**values)
            except TypeError as exc:
                raise ValueError(f"bad fields for {data['$m']}: {exc}") from None
        if "$t" in data and isinstance(data["$t"], list):
            return tuple(self._decode(v, refs, depth + 1) for v in data["$t"])
        if "$b" in data and isinstance(data["$b"], str):
            try:
                return base64.b64decode(data["$b"], validate=True)
            except ValueError:
                raise ValueError("bad base64") from None
        if "$r" in data:
            ref = data["$r"]
            if not (
                isinstance(ref, list) and len(ref) == 2 and all(isinstance(p, str) for p in ref)
            ):
                raise ValueError("bad actor ref")
            return refs(ref[0], ref[1])
        if any(key.startswith("$") for key in data):
            raise ValueError("unknown tagged value")
        return {k: self._decode(v, refs, depth + 1) for k, v in data.items()}

    # -- errors ----------------------------------------------------------------------------

    def encode_error(self, error: BaseException) -> dict[str, Any]:
        """Its registered name, its args and its plain attributes (as strings if need be)."""
        name = self._error_names.get(type(error)) or type(error).__name__
        attrs = {k: _plain(v) for k, v in vars(error).items() if not k.startswith("_")}
        return {"type": name, "args": [_plain(a) for a in error.args], "attrs": attrs}

    def decode_error(self, data: Any) -> BaseException:
        """The registered error rebuilt (same args and attributes, its __init__ not run),
        else a RemoteError naming the type."""
        if not isinstance(data, dict) or not isinstance(data.get("type"), str):
            return RemoteError("unknown", "malformed error")
        args, attrs = data.get("args"), data.get("attrs")
        if not isinstance(args, list) or not isinstance(attrs, dict):
            return RemoteError(data["type"], "malformed error")
        cls = self._errors.get(data["type"])
        if cls is None:
            return RemoteError(data["type"], " ".join(str(a) for a in args))
        error = cls.__new__(cls)
        BaseException.__init__(error, *args)
        for key, value in attrs.items():
            if isinstance(key, str) and not key.startswith("_"):
                setattr(error, key, value)
        return error


def _plain(value: Any) -> Any:
    return value if value is None or isinstance(value, bool | int | float | str) else str(value)
