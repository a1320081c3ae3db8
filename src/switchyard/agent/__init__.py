"""The provider agent (`switchyard provider`): the program a GPU owner runs.

Imports nothing of the coordinator except `switchyard.protocol`.

Running:
  client.py          ProviderAgent (reconnect loop, stop/drain), AgentFatalError,
                     run_until_signalled (SIGINT/SIGTERM handling for the CLI)
  session.py         one WebSocket connection: register, challenges, heartbeats, slots,
                     cancel/resync/drain
  session_host.py    SessionHost: all a session sees of the agent (values and callbacks);
                     SessionOutcome: how it ended, what the agent does next
  outbox.py          the single writer: frames in order, deltas of many requests packed
                     into chunk / chunk_batch frames within a short window
  streaming.py       one request: backend events -> stream deltas (long ones split)
                     -> complete/error
  health.py          UpstreamHealth: probes the upstream (interval, timeout), takes request
                     failures, tells the session of every change
Configuration and identity:
  config.py          AgentConfig, websocket_url, parse_models, parse_capabilities, declare
                     (operator declarations over what a backend reports), build_backend,
                     backoff_delay
  identity.py        Ed25519 key file (0600), generated once and reused
  login.py           `switchyard provider login`: the device-code flow, the token file (0600)
Backends:
  backend.py         Backend protocol, Deltas/Finish events, BackendError, ModelInfo
  openai_backend.py  OpenAIBackend: sends each request kind's body to its route of any
                     OpenAI-compatible server with httpx
  upstream_probe.py  describe_models: context length and capabilities from vLLM, llama.cpp
                     (/props) and Ollama (/api/show)
  upstream_stream.py UpstreamStream: upstream chunks (chat or text) -> wire deltas,
                     usage -> Finish
  upstream_calls.py  embed (/v1/embeddings) and count_prompt (/tokenize): one-shot routes
  upstream_errors.py an upstream's HTTP errors -> BackendError (its 4xx is the request's)
The simulator:
  simulated.py       SimulatedBackend + SimulatedConfig: paced, deterministic, seeded failures
  sim_answer.py      plan_answer: what it answers (text, tool call, JSON, reasoning)
  sim_schema.py      example_value: a deterministic value valid against a JSON schema
  sim_server.py      SimOpenAIServer: SimulatedBackend as an OpenAI-compatible HTTP server
                     (`python -m switchyard.agent.sim_server`; the load benchmark's baseline)
  sim_render.py      ChunkRenderer: its events as OpenAI chunks or one chat.completion
  sim_kinds.py       what it answers to completions, embeddings and token counts
  sim_routes.py      its server's /v1/completions, /v1/embeddings and /tokenize answers
"""

from .backend import Backend, BackendError, Deltas, Finish, ModelInfo
from .client import AgentFatalError, ProviderAgent, run_until_signalled
from .config import AgentConfig, parse_capabilities, parse_models, websocket_url
from .identity import load_or_create_key
from .openai_backend import OpenAIBackend
from .simulated import SimulatedBackend, SimulatedConfig, simulated_text

__all__ = [
    "AgentConfig",
    "AgentFatalError",
    "Backend",
    "BackendError",
    "Deltas",
    "Finish",
    "ModelInfo",
    "OpenAIBackend",
    "ProviderAgent",
    "SimulatedBackend",
    "SimulatedConfig",
    "load_or_create_key",
    "parse_capabilities",
    "parse_models",
    "run_until_signalled",
    "simulated_text",
    "websocket_url",
]
