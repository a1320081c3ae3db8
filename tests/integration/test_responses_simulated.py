"""`/v1/responses` against simulated providers (what `make dev` serves): text, tool
calls, JSON schema output, reasoning and a cut answer, streamed and not."""

from __future__ import annotations

import json

import openai
from pydantic import BaseModel

from switchyard.agent.simulated import SimulatedConfig, simulated_text

from ..polling import wait_until
from .harness import agents, coordinator, funded_key, no_slots_reserved


class Weather(BaseModel):
    city: str
    degrees: int


SIM = SimulatedConfig(ttft_s=0.0, tokens_per_s=5000.0, output_tokens=12)
TOOL = {
    "type": "function",
    "name": "get_weather",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


async def test_responses_through_simulated_providers() -> None:
    async with coordinator() as running, agents(running, 1, SIM):
        _, key = await funded_key(running)
        async with openai.AsyncOpenAI(
            base_url=running.base_url + "/v1", api_key=key, max_retries=0
        ) as client:
            reply = await client.responses.create(model="sim-small", input="hello")
            assert reply.output_text == simulated_text(12) and reply.status == "completed"
            assert reply.usage is not None and reply.usage.output_tokens == 12

            async with client.responses.stream(
                model="sim-small", input="weather?", tools=[TOOL]
            ) as stream:
                final = await stream.get_final_response()
            (call,) = [item for item in final.output if item.type == "function_call"]
            assert call.name == "get_weather" and "city" in json.loads(call.arguments)

            answered = await client.responses.create(
                model="sim-small", previous_response_id=final.id, tools=[TOOL],
                input=[{"type": "function_call_output", "call_id": call.call_id, "output": "9C"}],
            )  # fmt: skip
            assert answered.output_text == simulated_text(12)

            schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
            shaped = await client.responses.create(
                model="sim-small", input="json", reasoning={"effort": "low"},
                text={"format": {"type": "json_schema", "name": "n", "schema": schema}},
            )  # fmt: skip
            assert isinstance(json.loads(shaped.output_text)["n"], int)
            assert [item.type for item in shaped.output] == ["reasoning", "message"]

            parsed = await client.responses.parse(
                model="sim-small", input="json", text_format=Weather
            )
            assert isinstance(parsed.output_parsed, Weather)

            cut = await client.responses.create(
                model="sim-small", input="hello", max_output_tokens=5
            )
            assert cut.status == "incomplete" and cut.output_text == simulated_text(5)
        await wait_until(lambda: no_slots_reserved(running))
