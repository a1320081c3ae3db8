"""Deterministic example values for JSON schemas: what the simulated backend answers with.

`example_value(schema)` builds one value valid against `schema` for the part of JSON Schema
that tool parameters and `response_format` schemas use: `type` (one or a list), objects
(every property, required first; `maxProperties`), arrays (`items`, `prefixItems`,
`minItems`/`maxItems`), strings (`minLength`/`maxLength`, a few `format`s), integers and
numbers (`minimum`/`maximum`, exclusive bounds, `multipleOf`), booleans, null, `enum`,
`const`, `anyOf`/`oneOf` (the first usable branch), `allOf` (merged) and local `$ref`s
(`#/$defs/...`, `#/definitions/...`). `pattern` and `uniqueItems` beyond one item are not
honoured. The same schema always gives the same value; a malformed schema gives a
best-effort value, never an exception.
"""

from __future__ import annotations

import math
from typing import Any, TypeGuard

#: How deep nested objects, arrays and `$ref`s are followed before answering minimally.
MAX_DEPTH = 12
#: Strings are built from this text (cut or repeated to fit the length bounds).
STRING_BASE = "tok"
_FORMATS = {
    "date-time": "2024-01-01T00:00:00Z",
    "date": "2024-01-01",
    "time": "00:00:00Z",
    "email": "sim@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
    "ipv4": "127.0.0.1",
    "hostname": "example.com",
}
_TYPE_ORDER = ("object", "array", "string", "integer", "number", "boolean", "null")


def example_value(schema: Any) -> Any:
    """A value valid against `schema` (a JSON Schema dict), deterministic."""
    return _Builder(schema if isinstance(schema, dict) else {}).value(schema, 0)


def example_object(schema: Any) -> dict[str, Any]:
    """Like `example_value`, but always an object (tool arguments are one)."""
    value = example_value(schema)
    return value if isinstance(value, dict) else {}


class _Builder:
    """Walks one schema document; `root` resolves local `$ref`s."""

    def __init__(self, root: dict[str, Any]) -> None:
        self.root = root

    def value(self, schema: Any, depth: int) -> Any:
        if schema is True or not isinstance(schema, dict):
            return None if depth >= MAX_DEPTH else STRING_BASE
        schema = self._resolve(schema, depth)
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return enum[0]
        for key in ("anyOf", "oneOf"):
            branches = schema.get(key)
            if isinstance(branches, list) and branches:
                return self.value(_first_branch(branches), depth + 1)
        kind = _pick_type(schema)
        if kind == "object":
            return self._object(schema, depth)
        if kind == "array":
            return self._array(schema, depth)
        if kind == "string":
            return _string(schema)
        if kind == "integer":
            return _integer(schema)
        if kind == "number":
            return _number(schema)
        if kind == "boolean":
            return True
        return None

    def _resolve(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        """Follow `$ref` and merge `allOf` into one schema dict."""
        ref = schema.get("$ref")
        if isinstance(ref, str) and depth < MAX_DEPTH:
            target = self._lookup(ref)
            rest = {k: v for k, v in schema.items() if k != "$ref"}
            schema = {**self._resolve(target, depth + 1), **rest}
        parts = schema.get("allOf")
        if isinstance(parts, list) and parts and depth < MAX_DEPTH:
            merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            resolved = [self._resolve(p, depth + 1) for p in parts if isinstance(p, dict)]
            for part in resolved:
                merged = _merge(merged, part)
            closed = [p for p in [schema, *resolved] if p.get("additionalProperties") is False]
            if closed and isinstance(merged.get("properties"), dict):
                # each part judges extra properties alone: keep what every closed one names
                merged["properties"] = {
                    name: sub
                    for name, sub in merged["properties"].items()
                    if all(name in (p.get("properties") or {}) for p in closed)
                }
            schema = merged
        return schema

    def _lookup(self, ref: str) -> dict[str, Any]:
        if not ref.startswith("#"):
            return {}
        node: Any = self.root
        for token in ref[1:].split("/"):
            if not token:
                continue
            token = token.replace("~1", "/").replace("~0", "~")
            node = node.get(token) if isinstance(node, dict) else None
        return node if isinstance(node, dict) else {}

    def _object(self, schema: dict[str, Any], depth: int) -> dict[str, Any]:
        props = schema.get("properties")
        props = props if isinstance(props, dict) else {}
        required = [r for r in schema.get("required") or [] if isinstance(r, str)]
        names = list(dict.fromkeys(required))
        if depth < MAX_DEPTH:
            names += [p for p in props if p not in names]
        cap = schema.get("maxProperties")
        if isinstance(cap, int) and not isinstance(cap, bool):
            names = names[: max(cap, len(required))]
        return {name: self.value(props.get(name, {}), depth + 1) for name in names}

    def _array(self, schema: dict[str, Any], depth: int) -> list[Any]:
        low = _count_or(schema.get("minItems"), 0)
        high = _int_or(schema.get("maxItems"), None)
        count = max(low, 1 if depth < MAX_DEPTH else 0)
        if high is not None:
            count = min(count, high)
        if schema.get("uniqueItems") is True:
            count = min(count, max(low, 1))
        prefix = schema.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        items = schema.get("items", {})
        out = [self.value(s, depth + 1) for s in prefix[:count]]
        out += [self.value(items, depth + 1) for _ in range(count - len(out))]
        return out


def _first_branch(branches: list[Any]) -> Any:
    """The first branch that is not just `{"type": "null"}` (or the first one)."""
    for branch in branches:
        if not (isinstance(branch, dict) and branch.get("type") == "null"):
            return branch
    return branches[0]


def _pick_type(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if isinstance(kind, str):
        return kind
    if isinstance(kind, list):
        named = [k for k in kind if isinstance(k, str)]
        for candidate in (*_TYPE_ORDER[:-1], "null"):
            if candidate in named:
                return candidate
    if "properties" in schema or "required" in schema or "additionalProperties" in schema:
        return "object"
    if "items" in schema or "prefixItems" in schema:
        return "array"
    if "minLength" in schema or "maxLength" in schema or "format" in schema:
        return "string"
    if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
        return "number"
    return "null"


def _merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """Two `allOf` parts as one: properties and required lists combined."""
    out = {**a, **b}
    left, right = a.get("properties") or {}, b.get("properties") or {}
    props = {**left, **right}
    for name in set(left) & set(right):  # both constrain it: both must hold
        props[name] = {"allOf": [left[name], right[name]]}
    if props:
        out["properties"] = props
    required = [*(a.get("required") or []), *(b.get("required") or [])]
    if required:
        out["required"] = list(dict.fromkeys(required))
    return out


def _int_or(value: Any, default: int | None) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return default


def _count_or(value: Any, default: int) -> int:
    found = _int_or(value, None)
    return default if found is None else found


def _string(schema: dict[str, Any]) -> str:
    text = _FORMATS.get(str(schema.get("format")), STRING_BASE)
    low = _int_or(schema.get("minLength"), 0) or 0
    high = _int_or(schema.get("maxLength"), None)
    if len(text) < low:
        text = (text * (low // len(text) + 1))[:low]
    if high is not None:
        text = text[:high]
    return text


def _bounds(schema: dict[str, Any]) -> tuple[float, float, bool, bool]:
    """(low, high, low_exclusive, high_exclusive), drafts 4 and 2020-12 both understood."""
    low, high = -math.inf, math.inf
    low_x = high_x = False
    for key, exclusive in (("minimum", False), ("exclusiveMinimum", True)):
        value = schema.get(key)
        if isinstance(value, bool) and key == "exclusiveMinimum":
            low_x = low_x or value  # draft 4: a flag on `minimum`
        elif _is_number(value) and (value > low or (value == low and exclusive)):
            low, low_x = float(value), exclusive
    for key, exclusive in (("maximum", False), ("exclusiveMaximum", True)):
        value = schema.get(key)
        if isinstance(value, bool) and key == "exclusiveMaximum":
            high_x = high_x or value
        elif _is_number(value) and (value < high or (value == high and exclusive)):
            high, high_x = float(value), exclusive
    return low, high, low_x, high_x


def _is_number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _integer(schema: dict[str, Any]) -> int:
    low, high, low_x, high_x = _bounds(schema)
    first = math.floor(low) + 1 if low_x else math.ceil(low) if low > -math.inf else None
    last = math.ceil(high) - 1 if high_x else math.floor(high) if high < math.inf else None
    step = schema.get("multipleOf")
    step = int(step) if _is_number(step) and step >= 1 and float(step).is_integer() else 1
    start = 1 if first is None else first
    if last is not None and start > last:
        start = last if first is None else first
    value = -(-start // step) * step  # the first multiple of `step` at or above `start`
    if last is not None and value > last:
        value = (last // step) * step
    return int(value)


def _number(schema: dict[str, Any]) -> int | float:
    step = schema.get("multipleOf")
    if _is_number(step) and step > 0 and not float(step).is_integer():
        found = _float_multiple(schema, float(step))
        if found is not None:
            return found
    elif _has_integer(schema):
        return _integer(schema)
    low, high, _, _ = _bounds(schema)
    if low > -math.inf and high < math.inf:
        return (low + high) / 2
    if low > -math.inf:
        return low + 1.5
    return high - 1.5 if high < math.inf else 1.5


def _in_bounds(value: float, schema: dict[str, Any]) -> bool:
    low, high, low_x, high_x = _bounds(schema)
    above = value > low if low_x else value >= low
    below = value < high if high_x else value <= high
    return above and below


def _has_integer(schema: dict[str, Any]) -> bool:
    """Whether an integer (a multiple of an integral `multipleOf`) lies within the bounds."""
    return _in_bounds(_integer(schema), schema)


def _float_multiple(schema: dict[str, Any], step: float) -> float | None:
    """A multiple of a fractional `multipleOf` within the bounds that survives float division
    (0 when allowed), or None when the first hundred candidates do not."""
    low, _, _, _ = _bounds(schema)
    first = 0 if low == -math.inf or _in_bounds(0.0, schema) else math.ceil(low / step)
    for k in range(first, first + 100):
        value = k * step
        if _in_bounds(value, schema) and (value / step).is_integer():
            return value
    return None
