"""Switchyard: an inference coordinator for independent GPU providers.

Actors and their runtime:
- runtime/        generic supervised actor runtime on trio (knows nothing of inference)
- actors/         domain actors: providers, scheduler, billing
- inference/      the consumer request path: one ConsumerRequest owns each request (relay,
                  charge, gate), plus the key cache and rate limits

Edges:
- protocol/       pydantic models: provider wire frames, OpenAI/Anthropic/admin schemas
- http/           Quart app factory and blueprints (no routing state)
- storage/        Store protocol, MemoryStore, PostgresStore, migrations
- billing/        pricing arithmetic, Stripe gateway, webhook, payouts
- selfservice/    sign-up, login, sessions, own keys, device codes, views, public stats
- agent/          the provider agent a GPU owner runs
- cluster/        cluster mode: NATS transport, replica membership (optional)

Process:
- coordinator.py  store + actor system + provider registrar + Stripe gateway; graceful drain
- launch.py       serving a coordinator over HTTP (running_coordinator); `serve` and `dev`:
                  run until SIGINT/SIGTERM
- multiprocess.py `serve --replicas N`: N replica processes on one port (SO_REUSEPORT),
                  restarted when they die, stopped together
- settings.py     Settings from flags, SWITCHYARD_* variables and defaults
- client_address.py the client behind trusted proxies (X-Forwarded-For); throttle keys
                  (IPv6 per /64)
- metrics.py      the Prometheus registry and metrics
- groups.py       sole_exception: unwrap trio's single-member exception groups
- cli.py          the `switchyard` command: serve, dev (and the groups below)
- provider_cli.py `switchyard provider` (run an agent) and `switchyard provider login`
- admin_cli.py    `switchyard admin ...` commands (admin_client.py: the admin API client;
                  admin_format.py: table renderings; admin_invites.py: invite codes)
"""

__version__ = "0.1.0"
