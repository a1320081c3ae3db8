"""Switchyard: an inference coordinator for independent GPU providers.

Package map:
- runtime/   generic supervised actor runtime on trio (knows nothing of inference)
- actors/    domain actors: providers, scheduler, billing
- protocol/  pydantic models: provider wire frames, OpenAI and Anthropic schemas
- http/      Quart app factory and blueprints (no routing state)
- storage/   Store protocol, MemoryStore, PostgresStore, migrations
- billing/   pricing, cost, holds and settlement, Stripe
- agent/     the provider agent a GPU owner runs
- cli.py     the `switchyard` command
"""

__version__ = "0.1.0"
