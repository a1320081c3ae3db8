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

#: Supported wire protocol version (the `register` frame's `protocol_version`). 3 added the
#: request kinds beyond chat (`inference_request.kind`), which a version-2 agent cannot
#: parse: it is told to upgrade at registration rather than dropping its socket later.
PROTOCOL_VERSION = 3
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
#: Completion choices one request may ask for (prompts times `best_of` or `n`): a delta's
#: choice `index` must stay within `MAX_CHOICE_INDEX`.
MAX_COMPLETION_CHOICES = MAX_CHOICE_INDEX + 1
#: Inputs of one embeddings request (OpenAI's own limit), and the most dimensions one
#: embedding may have: as float32 in base64 it is at most `MAX_DELTA_CHARS` characters, so
#: each embedding travels in one delta of its own (a batch spreads over as many frames as
#: it needs).
MAX_EMBEDDING_INPUTS = 2048
#: The largest token id a prompt or an embedding input may hold.
MAX_TOKEN_ID = 2**31 - 1
MAX_EMBEDDING_DIMENSIONS = 16_384
#: The base64 characters of all the embeddings of one request: a batch whose answer
#: would exceed this is refused (400, split it) instead of being held in memory.
MAX_EMBEDDING_OUTPUT_CHARS = 32 * MiB
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

# -- self-service (README, "Self-service"; enforced in switchyard.selfservice) --------------

#: Login names: 3..64 characters of letters, digits and `._@-`, starting alphanumeric.
LOGIN_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._@-]{2,63}$"
#: Passphrases: at least this long (characters) ...
MIN_PASSWORD_CHARS = 10
#: ... and at most this long (Argon2id hashes any length; this bounds the work).
MAX_PASSWORD_CHARS = 1024
#: Names of keys, nodes and invite notes typed by a user.
MAX_LABEL_CHARS = 100
#: Failed logins per login name within `LOGIN_WINDOW_S` before it answers 429.
LOGIN_FAILURES_PER_NAME = 5
#: Sign-up, login and device-code requests per client address within `LOGIN_WINDOW_S`.
AUTH_ATTEMPTS_PER_ADDRESS = 30
LOGIN_WINDOW_S = 900.0
#: `X-Forwarded-For` entries read from the right behind a trusted proxy (the rest ignored).
MAX_FORWARDED_HOPS = 16
#: Most names and addresses each throttle remembers (least recently seen forgotten first).
THROTTLE_MAX_KEYS = 10_000
#: Passphrase hashes computed at once (each takes ~19 MiB and tens of milliseconds).
PASSWORD_HASH_CONCURRENCY = 2
#: Live API keys and management keys an account may hold (each kind).
MAX_KEYS_PER_ACCOUNT = 100
#: Longest range, in days, of a per-day usage or earnings query.
MAX_REPORT_DAYS = 366
#: Device codes: lifetime, the polling interval the agent is told, and how many may be
#: pending on the whole coordinator at once.
DEVICE_CODE_TTL_S = 600
DEVICE_POLL_INTERVAL_S = 5
MAX_PENDING_DEVICE_CODES = 10_000
#: Wrong user codes one account may submit within `LOGIN_WINDOW_S` before it answers 429.
DEVICE_APPROVAL_FAILURES = 10
#: Public stats and leaderboard: how long one answer is reused, and the leaderboard size.
STATS_CACHE_S = 5.0
LEADERBOARD_SIZE = 20

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
#: A request body whose dispatch request is over NATS's max_payload crosses to the owning
#: replica through a JetStream object store instead (`cluster/crossing_bodies.py`): that
#: store holds at most this many bytes in all (puts beyond are refused and the relay tries
#: another provider), and a body left behind (its replica died) expires after the TTL.
CROSSING_BODIES_BYTES = 256 * MiB
CROSSING_BODY_TTL_S = 60.0
#: Seconds the relay waits for a remote provider's stand-in to answer a dispatch: the
#: stand-in answers within its own bounds (storing a large body, then the owner's answer).
REMOTE_DISPATCH_TIMEOUT_S = 30.0
