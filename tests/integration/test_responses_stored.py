"""Stored responses through the OpenAI SDK, on both stores: `previous_response_id` chains
the stored conversation into the next chat body, `retrieve` and `delete` work, `store:
false` keeps nothing, and another account's response is a 404 everywhere."""

from __future__ import annotations

from dataclasses import replace

import openai
import pytest

from .harness import fast_settings, funded_key
from .test_billing_e2e import store_for
from .test_openai_passthrough import MODEL, through_agents


async def test_previous_response_id_chains_the_conversation(
    store_target: tuple[str | None, str | None],
) -> None:
    async with store_for(store_target) as store, through_agents(store=store) as (_, up, client):
        first = await client.responses.create(
            model=MODEL, input="my name is Bob", instructions="be terse"
        )
        async with client.responses.stream(
            model=MODEL, input="reasoning", previous_response_id=first.id
        ) as stream:
            second = await stream.get_final_response()
        third = await client.responses.create(
            model=MODEL, input=[{"role": "user", "content": "text"}],
            previous_response_id=second.id,
        )  # fmt: skip
        assert third.previous_response_id == second.id and third.output_text == "Hello world"
        fetched = await client.responses.retrieve(second.id)
        assert fetched.output_text == "42" and fetched.id == second.id
        assert fetched.usage is not None and fetched.usage.output_tokens_details.reasoning_tokens

        await client.responses.delete(first.id)
        with pytest.raises(openai.NotFoundError):
            await client.responses.retrieve(first.id)
        with pytest.raises(openai.NotFoundError):
            await client.responses.delete(first.id)
        # what was chained into second survives its source's deletion
        chained = await client.responses.create(
            model=MODEL, input="text", previous_response_id=second.id
        )
        assert chained.output_text == "Hello world"

    thoughts = "".join(f"r{i} " for i in range(30))
    assert up.bodies[1]["messages"] == [  # instructions are not carried over
        {"role": "user", "content": "my name is Bob"},
        {"role": "assistant", "content": "Hello world"},
        {"role": "user", "content": "reasoning"},
    ]
    assert up.bodies[2]["messages"] == [
        *up.bodies[1]["messages"],
        {"role": "assistant", "content": "42", "reasoning_content": thoughts},
        {"role": "user", "content": "text"},
    ]


async def test_store_false_keeps_nothing_and_unknown_ids_are_404() -> None:
    async with through_agents() as (_, upstream, client):
        reply = await client.responses.create(model=MODEL, input="text", store=False)
        assert reply.store is False
        for response_id in (reply.id, "resp_nope", "x" * 500):
            with pytest.raises(openai.NotFoundError):
                await client.responses.retrieve(response_id)
        with pytest.raises(openai.NotFoundError) as caught:
            await client.responses.create(model=MODEL, input="text", previous_response_id=reply.id)
        assert isinstance(caught.value.body, dict)
        assert caught.value.body["param"] == "previous_response_id"
    assert len(upstream.bodies) == 1


async def test_another_accounts_response_is_404(
    store_target: tuple[str | None, str | None],
) -> None:
    async with store_for(store_target) as store, through_agents(store=store) as (run, _, mine):
        reply = await mine.responses.create(model=MODEL, input="text")
        _, other_key = await funded_key(run)
        async with openai.AsyncOpenAI(
            base_url=run.base_url + "/v1", api_key=other_key, max_retries=0
        ) as theirs:
            with pytest.raises(openai.NotFoundError):
                await theirs.responses.retrieve(reply.id)
            with pytest.raises(openai.NotFoundError):
                await theirs.responses.delete(reply.id)
            with pytest.raises(openai.NotFoundError):
                await theirs.responses.create(
                    model=MODEL, input="text", previous_response_id=reply.id
                )
        assert (await mine.responses.retrieve(reply.id)).output_text == "Hello world"


async def test_what_an_account_keeps_is_bounded() -> None:
    settings = replace(fast_settings(), max_body_bytes=8192, responses_max_per_account=2)
    async with through_agents(settings=settings) as (_, upstream, client):
        ids = [(await client.responses.create(model=MODEL, input=f"turn {i}")).id for i in range(3)]
        with pytest.raises(openai.NotFoundError):
            await client.responses.retrieve(ids[0])  # the oldest went past the count
        assert [(await client.responses.retrieve(i)).id for i in ids[1:]] == ids[1:]
        long = await client.responses.create(model=MODEL, input="x" * 5000)
        with pytest.raises(openai.BadRequestError) as caught:
            await client.responses.create(
                model=MODEL, input="y" * 5000, previous_response_id=long.id
            )
        assert isinstance(caught.value.body, dict)
        assert caught.value.body["param"] == "previous_response_id"
    assert len(upstream.bodies) == 4  # the conversation over the limit never left
