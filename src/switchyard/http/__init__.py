"""The HTTP layer: a Quart (quart-trio) app whose blueprints bridge into the actors.

Nothing here holds routing state; routes reach the coordinator through `context.py`.

App:
- app.py               create_app: blueprints, limits, error handlers, request metrics
- edge.py              ASGI middleware: head limit, early answers drain the body, final send
- cors.py              CORS preflight and headers on /v1 routes for configured origins
- context.py           the coordinator of the current app; bearer credentials; authenticate
- errors.py            ApiError / StoreError / HTTP errors → typed JSON bodies
- observe.py           per-response request counter (route, model, status)
- send_timeout.py      hypercorn with every socket write bounded (SWITCHYARD_SEND_TIMEOUT_S)

Consumers:
- consumer.py          /v1/chat/completions, /v1/completions, /v1/messages, /v1/models:
                       parse into a Job, run a ConsumerRequest, render SSE or JSON
- consumer_formats.py  OpenAI chat, OpenAI completions and Anthropic renderings
- stream_body.py       PumpedBody: stream parts produced apart from the (maybe stalled) writes
- account.py           GET /v1/account
- billing.py           Stripe checkout and webhook

Providers:
- provider_ws.py       GET /v1/providers/connect: pumps frames between the provider
                       WebSocket and its actor (registration is actors/provider_registration.py)

Operators:
- admin_auth.py        the admin-key check (constant time), shared by admin blueprints
- admin.py             accounts, keys and limits, credit, provider tokens, pricing, providers
- payouts.py           provider payouts
- inspection.py        /admin/supervisor (tree + totals) and the /admin HTML page
                       (static/admin.html: no build step, no CDN)
- cluster.py           /admin/cluster: the replicas (live, last seen, providers) and NATS
- cluster_reach.py     admin routes reaching other replicas: change broadcasts, ask every
                       replica (no-ops without a cluster)
- ops.py               /healthz (with the replica id), /readyz
- metrics.py           /metrics (Prometheus; actor state sampled at scrape time)
"""
