"""The OpenAI Responses API: `POST /v1/responses`, `GET` and `DELETE /v1/responses/{id}`,
`GET /v1/responses/{id}/input_items`.

A Responses request is validated (`protocol/responses_request.py`), translated into the
chat-completions body the wire carries (`protocol/responses_translate.py`), after the
stored conversation of its `previous_response_id` when it names one, and run through the
consumer path (`consumer.run`: admitted, held, relayed, settled as a chat request); its
output is rendered as Responses events or a response object (`OpenAIResponses`). With
`store` (the default, as at OpenAI) a finished response is kept for its account, for
`SWITCHYARD_RESPONSES_RETENTION_S`, before its last event is sent; each account keeps at
most `SWITCHYARD_RESPONSES_MAX_PER_ACCOUNT` of them and
`SWITCHYARD_RESPONSES_MAX_BYTES_PER_ACCOUNT` of their JSON (the oldest go first). Another
account's response, an expired one and an unknown one are the same 404. Its input items
get their ids when it is stored; listing them reads that one response and renders one page
(`protocol/responses_items.py`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import trio
from quart import Blueprint, Response, jsonify, request

from ..protocol.errors import ApiError, invalid_request, not_found
from ..protocol.responses_items import (
    check_retrieve_query,
    input_items_page,
    parse_query,
    with_ids,
)
from ..protocol.responses_request import ResponsesRequest
from ..protocol.responses_stream import request_echo
from ..protocol.responses_translate import input_items, responses_to_chat
from ..protocol.vocabulary import ApiErrorCode
from ..storage.errors import StoreError
from ..storage.models import utc_now
from ..storage.stored_responses import StoredResponse, dump_json
from .consumer import make_job, parse, run
from .consumer_formats import OpenAIResponses
from .context import authenticate, coordinator

log = logging.getLogger(__name__)

responses = Blueprint("responses", __name__)

#: How long storing a finished response may delay its last event (then it is not stored).
STORE_TIMEOUT_S = 5.0
#: Longest response id looked up (ours are 53 characters); longer ones are simply unknown.
MAX_RESPONSE_ID = 128


def _unknown(response_id: str, param: str | None = None) -> ApiError:
    shown = response_id if len(response_id) <= MAX_RESPONSE_ID else response_id[:64] + "..."
    err = not_found(f"Response with id '{shown}' not found.")
    err.param = param
    return err


async def _stored(account_id: str, response_id: str, param: str | None = None) -> StoredResponse:
    if len(response_id) <= MAX_RESPONSE_ID:
        record = await coordinator().store.get_response(account_id, response_id)
        if record is not None:
            return record
    raise _unknown(response_id, param)


def _saver(
    account_id: str, rendering: OpenAIResponses, conversation: list[dict[str, Any]]
) -> Callable[[], Awaitable[None]]:
    """What stores the finished response (its conversation: `conversation`, its items
    given ids, then output).
    It may run in the stream's pump task, outside the app context: it captures what it needs."""
    coord = coordinator()

    async def save() -> None:
        settings = coord.settings
        response = rendering.renderer.response()
        output = response["output"]
        now = utc_now()
        record = StoredResponse(
            id=response["id"],
            account_id=account_id,
            conversation=[*with_ids(conversation, (o["id"] for o in output)), *output],
            response=response,
            created_at=now,
            expires_at=now + timedelta(seconds=settings.responses_retention_s),
        )
        try:
            with trio.fail_after(STORE_TIMEOUT_S):
                await coord.store.put_response(
                    record,
                    max_count=settings.responses_max_per_account,
                    max_bytes=settings.responses_max_bytes_per_account,
                )
        except (StoreError, trio.TooSlowError):  # the answer stands (and is billed)
            log.warning("could not store response %s", record.id, exc_info=True)

    return save


@responses.post("/v1/responses")
async def create_response() -> Any:
    key = await authenticate()
    req, _ = await parse(ResponsesRequest)
    settings = coordinator().settings
    items = input_items(req)
    history: list[dict[str, Any]] = []
    if req.previous_response_id is not None:
        previous = await _stored(key.account_id, req.previous_response_id, "previous_response_id")
        history = previous.conversation
    wire = responses_to_chat(req, history, items)
    if history and len(dump_json(wire["messages"])) > settings.max_body_bytes:
        raise invalid_request(
            "The conversation of 'previous_response_id' with this input exceeds the request "
            f"body limit of {settings.max_body_bytes} bytes; start a new conversation.",
            param="previous_response_id",
            code=ApiErrorCode.REQUEST_TOO_LARGE,
        )
    job = make_job(req.model, wire, wire)  # capabilities are read from the chat body
    rendering = OpenAIResponses(req.model, request_echo(req), req.stream)
    finished = _saver(key.account_id, rendering, [*history, *items]) if req.store else None
    return await run(key, job, rendering, req.stream, finished)


@responses.get("/v1/responses/<response_id>")
async def get_response(response_id: str) -> Response:
    key = await authenticate()
    check_retrieve_query(request.args.to_dict(flat=False))
    record = await _stored(key.account_id, response_id)
    return jsonify(record.response)


@responses.get("/v1/responses/<response_id>/input_items")
async def list_input_items(response_id: str) -> Response:
    key = await authenticate()
    query = parse_query(request.args.to_dict(flat=False))
    record = await _stored(key.account_id, response_id)
    return jsonify(input_items_page(record.input_items, record.id, query))


@responses.delete("/v1/responses/<response_id>")
async def delete_response(response_id: str) -> Response:
    key = await authenticate()
    store = coordinator().store
    if len(response_id) > MAX_RESPONSE_ID or not await store.delete_response(
        key.account_id, response_id
    ):
        raise _unknown(response_id)
    return jsonify({"id": response_id, "object": "response.deleted", "deleted": True})
