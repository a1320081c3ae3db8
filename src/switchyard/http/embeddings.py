"""`POST /v1/embeddings`: one embeddings request, relayed whole and billed per input token.

The body is checked (`protocol/embeddings.py`), sent to a provider whose model is not
known to lack embeddings (`Capability.EMBEDDINGS`; a model whose providers all say no is
a 400 naming the capability), and run as a `ConsumerRequest` that generates nothing:
the hold is the inputs' upper-bound token count at the model's input price, and the
charge the provider's reported prompt tokens at that price. The answer is folded by
input (`EmbeddingFold`) and rendered as floats or base64, as the consumer asked, in
parts with a checkpoint between them (a batch of millions of floats takes about a second
to format, which must not stall every other stream); a
provider that answers fewer embeddings than inputs, or more than the output bound, is a
502.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import trio
from quart import Blueprint, Response

from ..inference.request import ConsumerRequest
from ..protocol.embeddings import EmbeddingFold, EmbeddingRequest, embedding_wire_request
from ..protocol.vocabulary import Capability, RequestKind
from .consumer import make_job, parse
from .context import authenticate, coordinator

embeddings = Blueprint("embeddings", __name__)


@embeddings.post("/v1/embeddings")
async def create_embeddings() -> Any:
    key = await authenticate()
    req, data = await parse(EmbeddingRequest)
    job = make_job(
        req.model, embedding_wire_request(data, req), data,
        kind=RequestKind.EMBEDDING, needs=frozenset({Capability.EMBEDDINGS}),
        prompt_tokens=req.prompt_tokens_bound(), max_tokens=0, n=1,
    )  # fmt: skip
    fold = EmbeddingFold(req.inputs)
    creq = ConsumerRequest(coordinator(), key, job, route="/v1/embeddings", stream=False)
    async with creq:
        final = await creq.collect_into(fold)
    parts = fold.render(req.model, req.encoding_format or "float", final.usage.prompt_tokens)

    async def body() -> AsyncIterator[bytes]:
        for part in parts:
            yield part
            await trio.lowlevel.checkpoint()  # formatting floats is slow: let others run

    return Response(body(), content_type="application/json")
