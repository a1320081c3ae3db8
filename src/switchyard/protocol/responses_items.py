"""A stored response's input items as OpenAI lists them (pure, no I/O).

`GET /v1/responses/{id}/input_items` answers a cursor page (`{"object": "list", "data",
"first_id", "last_id", "has_more"}`) of the items the response was generated from: the
conversation of its `previous_response_id` chain (each earlier turn's input items, then
its output items, earliest first), then its own request's `input` (`instructions` are
not items). Every item has an id, given when the response is stored (`with_ids`): an
item keeps the id its client sent when no earlier item of the conversation has it, else
(and when it has none) it gets a fresh one (`msg_`, `fc_`, `fco_` or `rs_` and 48 hex
digits), so paging by `after` is stable. A record stored before items had ids gets ids
derived from its response id and each item's position (`item_id`), stable as well.

Items are shown in OpenAI's `ResponseItem` shapes (`listed_item`): message content is a
list of parts (a string becomes one `input_text`, or `output_text` for an assistant),
`status` is `completed` unless the item says otherwise, `output_text` parts carry
`annotations`, images their `detail`. An input message's `input_image` has its
`image_url` only with `include=message.input_image.image_url` (as at OpenAI); no other
`include` value can be honoured (no logprobs or encrypted reasoning are kept, and there
are no built-in tool items), so any other is a 400 naming `include`.

Query parameters (`parse_query`, a 400 naming the parameter when unknown, malformed or
repeated): `limit` 1..100 (default 20), `order` `asc` or `desc` (default `desc`: newest
first), `after` an item id of the list (an unknown one is a 400 naming `after`),
`include` (also as `include[]`, the SDK's form). `check_retrieve_query` holds
`GET /v1/responses/{id}` to the same standard: no `include` value can be honoured there
(none of the extra fields are kept), streaming a stored response again is not served
(`stream`, `starting_after`), `include_obfuscation` (a streaming option) is accepted.
"""

from __future__ import annotations

import copy
import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from .errors import ApiError, invalid_request
from .vocabulary import ApiErrorCode

#: Items one page holds at most, and by default (OpenAI's bounds).
MAX_LIMIT = 100
DEFAULT_LIMIT = 20
#: Longest item id kept from a client (longer ones are refused at `POST /v1/responses`).
MAX_ITEM_ID = 256
#: The `include` values that can be honoured.
INCLUDE_IMAGE_URL = "message.input_image.image_url"
ITEM_STATUSES = ("in_progress", "completed", "incomplete")
_ID_PREFIX = {"message": "msg_", "function_call": "fc_", "function_call_output": "fco_"}
_LIMIT = re.compile(r"^[0-9]{1,3}$")
_SHOWN = 64


class Order(StrEnum):
    """`order`: the conversation's order (`asc`) or newest first (`desc`)."""

    ASC = "asc"
    DESC = "desc"


@dataclass(frozen=True, slots=True)
class InputItemsQuery:
    """The query of one `GET /v1/responses/{id}/input_items`, validated."""

    limit: int = DEFAULT_LIMIT
    order: Order = Order.DESC
    after: str | None = None
    image_urls: bool = False  # include=message.input_image.image_url


def _bad(param: str, message: str) -> ApiError:
    return invalid_request(
        f"Invalid value for '{param}': {message}.", param=param, code=ApiErrorCode.INVALID_VALUE
    )


def _shown(value: str) -> str:
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "...")


def _one(args: Mapping[str, list[str]], name: str) -> str | None:
    values = args.get(name, [])
    if len(values) > 1:
        raise _bad(name, "give it once")
    return values[0] if values else None


_PARAMS = frozenset({"limit", "order", "after", "include", "include[]"})
_RETRIEVE_PARAMS = frozenset({"stream", "starting_after", "include_obfuscation", *_PARAMS})


def _known_only(args: Mapping[str, list[str]], known: frozenset[str]) -> None:
    for name in args:
        if name not in known:
            shown = name[:64]
            raise invalid_request(
                f"Unknown parameter {shown!r}.", param=shown, code=ApiErrorCode.INVALID_VALUE
            )


def check_retrieve_query(args: Mapping[str, list[str]]) -> None:
    """The parameters of `GET /v1/responses/{id}` (module docstring): a 400 naming the
    first one that cannot be honoured."""
    _known_only(args, _RETRIEVE_PARAMS - {"limit", "order", "after"})
    if (_one(args, "stream") or "false").lower() not in ("false", "0"):
        raise invalid_request("Streaming a stored response again is not supported.", param="stream")
    if "starting_after" in args:
        raise _bad("starting_after", "only a stream is resumed, and streams are not replayed")
    included = [*args.get("include", []), *args.get("include[]", [])]
    if included:
        shown = _shown(included[0])
        raise _bad("include", f"{shown} cannot be included: none of the extra fields are kept")


def parse_query(args: Mapping[str, list[str]]) -> InputItemsQuery:
    """The query from the request's parameters (name → its values); an unknown one (say
    the `before` of older API versions, which would otherwise page silently wrong), a
    malformed or a repeated one is a 400 naming it."""
    _known_only(args, _PARAMS)
    limit = _one(args, "limit")
    if limit is not None and (not _LIMIT.match(limit) or not 1 <= int(limit) <= MAX_LIMIT):
        raise _bad("limit", f"expected an integer from 1 to {MAX_LIMIT}, got {_shown(limit)}")
    order = _one(args, "order")
    if order is not None and order not in tuple(Order):
        raise _bad("order", f"expected 'asc' or 'desc', got {_shown(order)}")
    after = _one(args, "after")
    if after is not None and not after:
        raise _bad("after", "expected an item id")
    image_urls = False
    for value in [*args.get("include", []), *args.get("include[]", [])]:
        if value != INCLUDE_IMAGE_URL:
            raise _bad(
                "include",
                f"{_shown(value)} cannot be included (only {INCLUDE_IMAGE_URL!r} can: no "
                "logprobs or encrypted reasoning are kept, and built-in tools are not supported)",
            )
        image_urls = True
    return InputItemsQuery(
        limit=DEFAULT_LIMIT if limit is None else int(limit),
        order=Order(order or Order.DESC),
        after=after,
        image_urls=image_urls,
    )


# ----------------------------------------------------------------- ids


def _prefix(item: Mapping[str, Any]) -> str:
    return _ID_PREFIX.get(item.get("type", ""), "rs_")


def _usable(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= MAX_ITEM_ID


def with_ids(items: Iterable[dict[str, Any]], taken: Iterable[str] = ()) -> list[dict[str, Any]]:
    """The items, each with an id (see the module docstring): an item whose id is new to
    the conversation (and to `taken`) keeps it, another is a copy with a fresh id."""
    seen = set(taken)
    out: list[dict[str, Any]] = []
    for item in items:
        current = item.get("id")
        if not _usable(current) or current in seen:
            item = {**item, "id": _prefix(item) + secrets.token_hex(24)}
        seen.add(item["id"])
        out.append(item)
    return out


def item_id(item: Mapping[str, Any], response_id: str, index: int) -> str:
    """The item's id; for an item stored without one, one derived from the response id
    and its position (stable across reads)."""
    current = item.get("id")
    if _usable(current):
        return str(current)
    digest = hashlib.sha256(f"{response_id}:{index}".encode()).hexdigest()[:48]
    return _prefix(item) + digest


# ----------------------------------------------------------------- the listing


def _listed_part(part: Any, image_urls: bool) -> Any:
    if not isinstance(part, dict):
        return part
    part = dict(part)
    kind = part.get("type")
    if kind == "output_text":
        part.setdefault("annotations", [])
    elif kind == "input_image":
        part.setdefault("detail", "auto")
        if not image_urls:
            part.pop("image_url", None)
    return part


def listed_item(
    item: Mapping[str, Any], item_id_: str, *, image_urls: bool = False
) -> dict[str, Any]:
    """One stored item in OpenAI's `ResponseItem` shape (a copy; see the module docstring)."""
    out = copy.deepcopy(dict(item))
    out["id"] = item_id_
    out.setdefault("status", "completed")
    kind = out.get("type")
    if kind == "message":
        content = out.get("content")
        if isinstance(content, str):
            assistant = out.get("role") == "assistant"
            part_type = "output_text" if assistant else "input_text"
            content = [{"type": part_type, "text": content}]
        if isinstance(content, list):
            # `message.input_image.image_url` names input messages' images only
            urls = image_urls or out.get("role") == "assistant"
            out["content"] = [_listed_part(p, urls) for p in content]
    elif kind == "function_call_output" and isinstance(out.get("output"), list):
        out["output"] = [_listed_part(p, True) for p in out["output"]]
    return out


def input_items_page(
    items: Sequence[Mapping[str, Any]], response_id: str, query: InputItemsQuery
) -> dict[str, Any]:
    """The cursor page of `items` (a response's input items, in conversation order) that
    `query` asks for; an `after` that is not one of their ids is a 400 naming it. Only
    the page's items are copied and rendered."""
    ids = [item_id(item, response_id, i) for i, item in enumerate(items)]
    order = list(range(len(items)))
    if query.order is Order.DESC:
        order.reverse()
    start = 0
    if query.after is not None:
        position = next((n for n, i in enumerate(order) if ids[i] == query.after), None)
        if position is None:
            raise _bad("after", f"response {response_id!r} has no input item {_shown(query.after)}")
        start = position + 1
    chosen = order[start : start + query.limit]
    data = [listed_item(items[i], ids[i], image_urls=query.image_urls) for i in chosen]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": start + query.limit < len(order),
    }
