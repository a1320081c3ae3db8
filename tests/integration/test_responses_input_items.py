"""`client.responses.input_items.list` through the OpenAI SDK, on both stores: the items of
a response's `previous_response_id` chain then its own input, with ids stable across
reads, paged both ways (the SDK's auto-pagination over several pages), and the 400s and
404s (bad parameters, an unknown `after`, another account, `store: false`)."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from .harness import funded_key
from .test_billing_e2e import store_for
from .test_openai_passthrough import MODEL, through_agents

IMAGE = "data:image/png;base64,iVBORw0KGgo="


async def listed(client: openai.AsyncOpenAI, response_id: str, **query: Any) -> list[Any]:
    return [item async for item in client.responses.input_items.list(response_id, **query)]


def summary(item: Any) -> tuple[str, ...]:
    """(type, role or name, first text or call id) of a listed item."""
    if item.type == "message":
        part = item.content[0]
        return ("message", item.role, getattr(part, "text", part.type))
    if item.type == "function_call":
        return ("function_call", item.name, item.call_id)
    return (item.type, item.call_id, str(item.output))


async def test_the_chain_then_the_input_paged_both_ways(
    store_target: tuple[str | None, str | None],
) -> None:
    async with store_for(store_target) as store, through_agents(store=store) as (_, up, client):
        first = await client.responses.create(
            model=MODEL, input="my name is Bob", instructions="be terse"
        )
        turn: list[Any] = [
            {"type": "message", "role": "user", "content": "hi", "id": "msg_mine"},
            {"type": "function_call", "call_id": "c1", "name": "get_weather", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            {"role": "developer", "content": "again", "id": first.output[0].id},  # taken: renamed
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "look"},
                    {"type": "input_image", "image_url": IMAGE, "detail": "low"},
                ],
            },
            *({"role": "user", "content": f"u{i}"} for i in range(5)),
            {"role": "user", "content": "text"},
        ]
        second = await client.responses.create(
            model=MODEL, input=turn, previous_response_id=first.id, instructions="be terse"
        )
        assert second.output_text == "Hello world"

        oldest_first = await listed(client, second.id, order="asc", limit=3)  # 5 pages
        assert [summary(item) for item in oldest_first] == [
            ("message", "user", "my name is Bob"),
            ("message", "assistant", "Hello world"),  # first's output, with its id
            ("message", "user", "hi"),
            ("function_call", "get_weather", "c1"),
            ("function_call_output", "c1", "sunny"),
            ("message", "developer", "again"),
            ("message", "user", "look"),
            *(("message", "user", f"u{i}") for i in range(5)),
            ("message", "user", "text"),
        ]  # `instructions` are not items
        ids = [item.id for item in oldest_first]
        assert len(set(ids)) == len(ids) and ids[1] == first.output[0].id
        assert ids[2] == "msg_mine" and ids[5] != first.output[0].id
        assert all(item.status == "completed" for item in oldest_first)
        assert oldest_first[3].arguments == "{}" and oldest_first[3].id.startswith("fc_")
        assert oldest_first[6].content[1].image_url is None  # only with `include`

        newest_first = await listed(client, second.id, limit=4)  # the default order: desc
        assert [item.id for item in newest_first] == ids[::-1]
        page = await client.responses.input_items.list(second.id)
        assert [item.id for item in page.data] == ids[::-1] and page.has_more is False
        page = await client.responses.input_items.list(second.id, limit=2, after=ids[6])
        assert [item.id for item in page.data] == ids[5:3:-1] and page.has_more is True
        raw = await client.responses.input_items.with_raw_response.list(
            second.id, order="asc", limit=1, include=["message.input_image.image_url"]
        )
        body = raw.http_response.json()
        assert (body["object"], body["first_id"], body["last_id"]) == ("list", ids[0], ids[0])
        with_images = await listed(
            client, second.id, order="asc", include=["message.input_image.image_url"]
        )
        assert with_images[6].content[1].image_url == IMAGE
        assert with_images[6].content[1].detail == "low"

        first_items = await listed(client, first.id)
        assert [summary(item) for item in first_items] == [("message", "user", "my name is Bob")]
        assert first_items[0].id == ids[0]  # an item keeps its id down the chain
        # the stored ids are what the next turn is built from: the wire is unchanged
        third = await client.responses.create(
            model=MODEL, input="text", previous_response_id=second.id
        )
        third_ids = [item.id for item in await listed(client, third.id, order="asc")]
        assert third_ids[: len(ids)] == ids
        assert third_ids[len(ids)] == second.output[0].id and len(third_ids) == len(ids) + 2
    assert up.bodies[2]["messages"][0] == {"role": "user", "content": "my name is Bob"}
    assert up.bodies[2]["messages"][-1] == {"role": "user", "content": "text"}


async def _bad_request(call: Any) -> str | None:
    with pytest.raises(openai.BadRequestError) as caught:
        await call
    assert isinstance(caught.value.body, dict)
    return caught.value.body.get("param")


async def test_bad_parameters_and_other_accounts(
    store_target: tuple[str | None, str | None],
) -> None:
    async with store_for(store_target) as store, through_agents(store=store) as (run, _, mine):
        reply = await mine.responses.create(model=MODEL, input="text")
        items = mine.responses.input_items
        for query, param in (
            ({"limit": 0}, "limit"),
            ({"limit": 101}, "limit"),
            ({"extra_query": {"limit": "ten"}}, "limit"),
            ({"order": "sideways"}, "order"),
            ({"after": "msg_unknown"}, "after"),
            ({"include": ["message.output_text.logprobs"]}, "include"),
            ({"include": ["reasoning.encrypted_content"]}, "include"),
            ({"extra_query": {"before": "msg_x"}}, "before"),  # older APIs' param: not ignored
        ):
            assert await _bad_request(items.list(reply.id, **query)) == param
        unstored = await mine.responses.create(model=MODEL, input="text", store=False)
        for response_id in (unstored.id, "resp_nope", "x" * 500):
            with pytest.raises(openai.NotFoundError):
                await items.list(response_id)

        _, other_key = await funded_key(run)
        async with openai.AsyncOpenAI(
            base_url=run.base_url + "/v1", api_key=other_key, max_retries=0
        ) as theirs:
            with pytest.raises(openai.NotFoundError) as caught:
                await theirs.responses.input_items.list(reply.id)
            assert reply.id in str(caught.value)  # the same 404 as an unknown id
        assert [item.content[0].text for item in await listed(mine, reply.id)] == ["text"]
        await mine.responses.delete(reply.id)
        with pytest.raises(openai.NotFoundError):
            await items.list(reply.id)
