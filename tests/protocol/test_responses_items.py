"""A stored response's input items as listed: ids, the query's 400s, and the cursor page."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from switchyard.protocol.errors import ApiError
from switchyard.protocol.responses_items import (
    InputItemsQuery,
    Order,
    input_items_page,
    item_id,
    listed_item,
    parse_query,
    with_ids,
)


def user(text: str, **extra: Any) -> dict[str, Any]:
    return {"type": "message", "role": "user", "content": text, **extra}


def items(count: int) -> list[dict[str, Any]]:
    return with_ids(user(f"m{i}") for i in range(count))


def texts(page: dict[str, Any]) -> list[str]:
    return [item["content"][0]["text"] for item in page["data"]]


def refused(args: dict[str, list[str]]) -> str | None:
    with pytest.raises(ApiError) as caught:
        parse_query(args)
    assert caught.value.status == 400
    return caught.value.param


def test_the_query_defaults_and_its_values() -> None:
    assert parse_query({}) == InputItemsQuery(limit=20, order=Order.DESC)
    got = parse_query({"limit": ["100"], "order": ["asc"], "after": ["msg_1"]})
    assert got == InputItemsQuery(limit=100, order=Order.ASC, after="msg_1")
    assert refused({"limit": ["5"], "before": ["msg_1"]}) == "before"  # never ignored
    assert refused({"x" * 10_000: [""]}) == "x" * 64  # named, bounded
    assert parse_query({"include[]": ["message.input_image.image_url"]}).image_urls
    assert parse_query({"include": ["message.input_image.image_url"]}).image_urls


@pytest.mark.parametrize(
    ("args", "param"),
    [
        ({"limit": ["0"]}, "limit"),
        ({"limit": ["101"]}, "limit"),
        ({"limit": ["-1"]}, "limit"),
        ({"limit": ["+5"]}, "limit"),
        ({"limit": ["ten"]}, "limit"),
        ({"limit": [""]}, "limit"),
        ({"limit": ["1", "2"]}, "limit"),
        ({"order": ["ASC"]}, "order"),
        ({"order": ["newest"]}, "order"),
        ({"after": [""]}, "after"),
        ({"after": ["a", "b"]}, "after"),
        ({"include[]": ["message.output_text.logprobs"]}, "include"),
        ({"include": ["reasoning.encrypted_content"]}, "include"),
        ({"include[]": ["file_search_call.results"]}, "include"),
        ({"include[]": ["x" * 10_000]}, "include"),
    ],
)  # fmt: skip
def test_a_malformed_parameter_is_a_400_naming_it(args: dict[str, list[str]], param: str) -> None:
    assert refused(args) == param


def test_items_get_fresh_ids_unless_theirs_is_new_to_the_conversation() -> None:
    given_items = [
        user("a", id="mine"),
        user("b", id="mine"),  # taken by the first
        user("c", id="resp_out"),  # taken by the output
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "c", "output": "r"},
        {"type": "reasoning", "summary": []},
    ]
    got = with_ids(given_items, taken=["resp_out"])
    assert got[0]["id"] == "mine"
    assert [item["id"].split("_")[0] for item in got[1:]] == ["msg", "msg", "fc", "fco", "rs"]
    assert len({item["id"] for item in got}) == len(got)
    assert "id" not in given_items[3]  # copies: the caller's items are untouched
    assert given_items[1]["id"] == "mine"


def test_an_item_stored_without_an_id_gets_a_stable_derived_one() -> None:
    legacy = user("old")
    first = item_id(legacy, "resp_1", 3)
    assert first == item_id(legacy, "resp_1", 3) and first.startswith("msg_")
    assert first not in (item_id(legacy, "resp_1", 4), item_id(legacy, "resp_2", 3))
    page = input_items_page([legacy, user("older")], "resp_1", InputItemsQuery(limit=1))
    again = input_items_page([legacy, user("older")], "resp_1", InputItemsQuery(limit=1))
    assert page == again and page["has_more"]
    rest = input_items_page(
        [legacy, user("older")], "resp_1", InputItemsQuery(after=page["last_id"])
    )
    assert texts(rest) == ["old"]


def test_items_are_shown_in_openais_shapes() -> None:
    image = {"type": "input_image", "image_url": "https://a/b.png"}
    stored = {
        "type": "message",
        "role": "user",
        "content": [{"type": "input_text", "text": "q"}, image],
    }
    assert listed_item(stored, "msg_1") == {
        "type": "message", "role": "user", "id": "msg_1", "status": "completed",
        "content": [{"type": "input_text", "text": "q"}, {"type": "input_image", "detail": "auto"}],
    }  # fmt: skip
    with_url = listed_item(stored, "msg_1", image_urls=True)
    assert with_url["content"][1] == {**image, "detail": "auto"}
    assert stored["content"][1] == image  # the stored item is not changed
    assistant = listed_item({"type": "message", "role": "assistant", "content": "a"}, "msg_2")
    assert assistant["content"] == [{"type": "output_text", "text": "a", "annotations": []}]
    call = {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}
    assert listed_item({**call, "status": "incomplete"}, "fc_1") == {
        **call,
        "id": "fc_1",
        "status": "incomplete",
    }
    output = {"type": "function_call_output", "call_id": "c", "output": [image]}
    assert listed_item(output, "fco_1")["output"] == [{**image, "detail": "auto"}]


def test_pages_follow_the_order_and_after() -> None:
    conversation = items(5)
    newest = input_items_page(conversation, "r", InputItemsQuery(limit=2))
    assert texts(newest) == ["m4", "m3"] and newest["has_more"] is True
    assert (newest["first_id"], newest["last_id"]) == (conversation[4]["id"], conversation[3]["id"])
    assert newest["object"] == "list"
    oldest = input_items_page(conversation, "r", InputItemsQuery(limit=2, order=Order.ASC))
    assert texts(oldest) == ["m0", "m1"]
    then = InputItemsQuery(limit=2, order=Order.ASC, after=oldest["last_id"])
    assert texts(input_items_page(conversation, "r", then)) == ["m2", "m3"]
    last = InputItemsQuery(limit=2, order=Order.ASC, after=conversation[3]["id"])
    tail = input_items_page(conversation, "r", last)
    assert texts(tail) == ["m4"] and tail["has_more"] is False
    end = InputItemsQuery(after=conversation[0]["id"])  # desc: nothing after the oldest
    assert input_items_page(conversation, "r", end) == {
        "object": "list", "data": [], "first_id": None, "last_id": None, "has_more": False,
    }  # fmt: skip
    exact = input_items_page(conversation, "r", InputItemsQuery(limit=5))
    assert len(exact["data"]) == 5 and exact["has_more"] is False


def test_an_unknown_after_is_a_400_naming_it() -> None:
    with pytest.raises(ApiError) as caught:
        input_items_page(items(2), "r", InputItemsQuery(after="msg_nope"))
    assert (caught.value.status, caught.value.param) == (400, "after")


@given(
    count=st.integers(1, 40),
    limit=st.integers(1, 12),
    order=st.sampled_from(list(Order)),
)
def test_paging_by_last_id_lists_every_item_once(count: int, limit: int, order: Order) -> None:
    conversation = items(count)
    seen: list[str] = []
    after: str | None = None
    while True:
        page = input_items_page(conversation, "r", InputItemsQuery(limit, order, after))
        assert len(page["data"]) <= limit
        seen += [item["id"] for item in page["data"]]
        if not page["has_more"]:
            break
        after = page["last_id"]
    expected = [item["id"] for item in conversation]
    assert seen == (expected if order is Order.ASC else expected[::-1])
