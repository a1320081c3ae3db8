"""Every size limit between a consumer and a provider, in one place.

Byte limits on bodies and frames come first; then the bounds on frame fields (characters
and counts), which the pydantic frames, the chunk codec and the agent all share.

They form one chain, so that a request a consumer may send always fits the frame that
carries it to a provider, and the provider agent accepts every frame the coordinator may
build (README, "Limits", lists them with what happens when each is exceeded):

- a consumer request body is at most `Settings.max_body_bytes` (`DEFAULT_MAX_BODY_BYTES`
  unless configured): 413 over it;
- its request head (request line and headers) at most `MAX_REQUEST_HEAD_BYTES`;
- the `inference_request` frame built from it at most `MAX_COORDINATOR_FRAME_BYTES`, which
  is also the agent's WebSocket message limit. Normalizing a body never makes it much
  larger (the wire JSON has the same string escapes; only per-message keys are added), so
  the default body limit leaves the frame room to spare; a request whose frame would still
  not fit (a body limit configured above it) is a 413 for that request alone;
- a provider frame at most `MAX_PROVIDER_FRAME_BYTES` (the coordinator closes with 4005),
  behind hypercorn's `WEBSOCKET_MAX_MESSAGE_SIZE` (it closes with 1009 above that).

WebSocket libraries (hypercorn, trio-websocket) count a text message's *characters*; a
UTF-8 text of N bytes has at most N characters, so a library limit of N never refuses a
frame that the byte limits here accept.
"""

from __future__ import annotations

MiB = 1024 * 1024

#: Default consumer request body limit (`SWITCHYARD_MAX_BODY_BYTES`).
DEFAULT_MAX_BODY_BYTES = 4 * MiB
#: Request line plus headers of an HTTP request (hypercorn's `h11_max_incomplete_size`).
MAX_REQUEST_HEAD_BYTES = 64 * 1024
#: Coordinator → provider frames (an `inference_request` carries a whole prompt); the
#: agent's WebSocket `max_message_size`. Twice the default body limit.
MAX_COORDINATOR_FRAME_BYTES = 8 * MiB
#: Provider → coordinator frames (tokens, reports); larger ones close the socket with 4005.
MAX_PROVIDER_FRAME_BYTES = 1 * MiB
#: hypercorn's limit on a message it reads (from providers): above our own frame limit,
#: so an oversized frame still reaches the coordinator and gets its 4005 and message.
WEBSOCKET_MAX_MESSAGE_SIZE = 2 * MAX_PROVIDER_FRAME_BYTES
#: The most an `inference_request` envelope (type, request id, model, deadline) adds to its
#: body's JSON: ids and model names are bounded (128 and 200 characters, at most 6 bytes
#: each once escaped), the rest is fixed.
INFERENCE_ENVELOPE_BYTES = 4096
#: The largest normalized request body (its wire JSON) an `inference_request` can carry.
MAX_REQUEST_BODY_JSON_BYTES = MAX_COORDINATOR_FRAME_BYTES - INFERENCE_ENVELOPE_BYTES


# ----------------------------------------------------------------- frame fields
# Characters (Python `len`) and counts; the frames in `frames.py` enforce them, and the
# chunk codec's fast decoder checks the same numbers by hand.

#: Supported wire protocol version (the `register` frame's `protocol_version`).
PROTOCOL_VERSION = 2
#: Request and provider ids.
MAX_ID_CHARS = 128
#: Model ids.
MAX_MODEL_ID_CHARS = 200
#: Error and protocol_error messages.
MAX_MESSAGE_CHARS = 4096
#: Error codes of `error` frames.
MAX_ERROR_CODE_CHARS = 64
#: A delta's `role`.
MAX_ROLE_CHARS = 32
#: A delta's choice `index` (a request has at most 8 choices), a tool call's `index`, a
#: streamed function name, and the tokens and alternatives a delta's `logprobs` may hold.
MAX_CHOICE_INDEX = 127
MAX_TOOL_CALL_INDEX = 127
MAX_TOOL_NAME_CHARS = 256
MAX_LOGPROB_TOKENS = 4096
MAX_TOP_LOGPROBS = 64
#: A stop sequence (a request's, or the one a `complete` frame names).
MAX_STOP_CHARS = 1024
#: Models one provider may serve, and slots one model may have.
MAX_MODELS = 64
MAX_SLOTS = 1024
#: Largest `max_tokens` a request may ask for.
MAX_TOKENS_LIMIT = 1_000_000
#: Generic counts (JSON numbers stay exact up to 2**53).
MAX_COUNT = 2**53
#: Most tokens a usage report may claim: what a usage row holds (storage.validate.MAX_TOKENS),
#: so a report the coordinator accepts can always be recorded.
MAX_USAGE_TOKENS = 10**12
#: Deltas in one `chunk` item, and items (requests) in one `chunk_batch` frame.
MAX_DELTAS = 65_536
MAX_BATCH_CHUNKS = 4096

# ----------------------------------------------------------------- the agent's chunk frames

#: What the agent aims to put in one `chunk` / `chunk_batch` frame (the codec's packer):
#: well below `MAX_PROVIDER_FRAME_BYTES`, so one more item of at most
#: `MAX_DELTA_CHARS` escaped characters still fits.
CHUNK_FRAME_BUDGET_BYTES = 768 * 1024
#: The longest content of one delta: the agent splits longer tokens, so a delta is at most
#: 6 bytes a character (a JSON `\uXXXX` escape) times this, i.e. `CHUNK_FRAME_BUDGET_BYTES`.
MAX_DELTA_CHARS = CHUNK_FRAME_BUDGET_BYTES // 6

# ------------------------------------------------------- between replicas (cluster mode)

#: Providers one replica may publish in its capacity snapshot (more are not published).
MAX_CLUSTER_PROVIDERS = 10_000
#: Replicas a snapshot may name in its per-origin slot counts, and replicas whose
#: providers one replica mirrors.
MAX_CLUSTER_REPLICAS = 256
#: Streams one replica relays to or from other replicas at once (more are refused, and
#: the relay tries another provider).
MAX_REMOTE_STREAMS = 10_000
#: Bytes of stream items packed into one message to the consumer's replica: below NATS's
#: default max_payload (1 MiB).
REMOTE_BATCH_BYTES = 512 * 1024
