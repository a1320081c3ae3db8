"""Wire formats shared by the coordinator and the provider agent.

Provider wire protocol (README, "Trust and the wire protocol"):
  frames.py    every frame model (re-exported from the three below), ProviderFrame /
               CoordinatorFrame, parse_provider_frame / parse_coordinator_frame /
               dump_frame, dump_request_body / dump_inference_request (a body
               serialized once)
    frame_base.py          Frame (the strict, frozen base) and the bounded field types
    provider_frames.py     provider → coordinator frames (Delta: one chunk choice's
                           fields) and their union
    coordinator_frames.py  coordinator → provider frames (inference_request carries an
                           OpenAI-shaped body of its `kind` as a dict) and their union
  chunk_codec.py  chunk / chunk_batch by hand: ChunkPacker (the agent's encoder),
               decode_provider_frame (the coordinator's fast decoder), ChunkIn/ChunkBatchIn
  limits.py    every limit: bytes (body, request head, frames each way, WebSocket),
               frame field bounds, the agent's chunk frame budget
  codes.py     CloseCode (4xxx close codes), FATAL_CLOSE_CODES, FrameError
  signing.py   Ed25519 identity and challenge signing: provider_id_for, sign/verify_challenge
  vocabulary.py  StrEnums of the fixed words: Trust (ordered), Outcome, ApiErrorCode,
               RequestKind, StreamErrorCode (provider `error` frame codes)

Consumer APIs (pure, no I/O):
  errors.py           ApiError (OpenAI and Anthropic shapes, Retry-After), parse_json_body
                      (load_json_object + validate_body), the factories of every ApiError
  chat.py             shared request validators, delta_texts, count_tokens, StopMatcher
  chat_request.py     ChatRequestBody: the chat-completions body, validated where it must
  chat_parts.py       its message content parts (text, image_url, refusal) and _Strict
  chat_choices.py     Choices: whole choices folded from deltas (non-stream answers)
  openai_api.py       wire_chat_request (the body a provider gets), stream_wire
  completion_request.py  CompletionRequest (native /v1/completions) → its wire body
  embeddings.py       EmbeddingRequest → its wire body; EmbeddingFold (the answer by input)
  openai_format.py    OpenAI bodies; ChatStreamEncoder, CompletionStreamEncoder (SSE)
  anthropic_request.py   the full Messages request (blocks, tools, thinking) and
                         parse_messages_request (400s name the field)
  anthropic_translate.py anthropic_to_chat: a Messages request as a chat-completions body
  anthropic_stream.py    AnthropicRenderer: chat deltas → Anthropic SSE events and body
  responses_request.py   ResponsesRequest: the /v1/responses body (what is refused, why)
  responses_translate.py input items checked and translated into a chat-completions body
  responses_stream.py    ResponsesRenderer: chat deltas → Responses events and response
  responses_items.py     a stored response's input items: ids, query, cursor page

HTTP request bodies:
  admin_api.py    admin API bodies (accounts, keys and limits, credit, tokens, pricing)
  billing_api.py  CheckoutRequest (buy credit) and PayoutRequest (admin payouts)
  selfservice_api.py  self-service bodies (invite codes, sign-up, login, own keys, device
                  codes, leaderboard choice)
"""
