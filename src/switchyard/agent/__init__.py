"""The provider agent (`switchyard provider`): the program a GPU owner runs.

Imports nothing of the coordinator except `switchyard.protocol`.

Running:
  client.py          ProviderAgent (reconnect loop, stop/drain), AgentFatalError,
                     run_until_signalled (SIGINT/SIGTERM handling for the CLI)
  session.py         one WebSocket connection: register, challenges, heartbeats, slots,
                     cancel/resync/drain; SessionHost: all it sees of the agent (values
                     and callbacks)
  outbox.py          the single writer: frames in order, deltas of many requests packed
                     into chunk / chunk_batch frames within a short window
  streaming.py       one request: backend events -> stream deltas -> complete/error
Configuration and identity:
  config.py          AgentConfig, websocket_url, parse_models, parse_capabilities, declare
                     (operator declarations over what a backend reports), build_backend,
                     backoff_delay
  identity.py        Ed25519 key file (0600), generated once and reused
Backends:
  backend.py         Backend protocol, Token/Finish events, BackendError, ModelInfo
  simulated.py       SimulatedBackend + SimulatedConfig: deterministic, seeded failures
  openai_backend.py  OpenAIBackend: streams from any OpenAI-compatible server with httpx
  upstream_probe.py  describe_models: context length and capabilities from vLLM, llama.cpp
                     (/props) and Ollama (/api/show)
  sim_server.py      SimOpenAIServer: SimulatedBackend as an OpenAI-compatible HTTP server
                     (`python -m switchyard.agent.sim_server`; the load benchmark's baseline)
"""

from .backend import Backend, BackendError, Finish, ModelInfo, Token
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
    "Finish",
    "ModelInfo",
    "OpenAIBackend",
    "ProviderAgent",
    "SimulatedBackend",
    "SimulatedConfig",
    "Token",
    "load_or_create_key",
    "parse_capabilities",
    "parse_models",
    "run_until_signalled",
    "simulated_text",
    "websocket_url",
]
