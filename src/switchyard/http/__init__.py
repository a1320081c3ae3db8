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
- consumer.py          /v1/chat/completions, /v1/completions, /v1/messages: parse into
                       a Job, run a ConsumerRequest, render SSE or JSON
- consumer_formats.py  OpenAI chat, completions and Responses, and Anthropic renderings
- responses.py         POST /v1/responses (translated to chat, stored per account),
                       GET and DELETE /v1/responses/{id}, GET .../{id}/input_items
- embeddings.py        /v1/embeddings: a ConsumerRequest folded by input, floats or base64
- token_count.py       /v1/messages/count_tokens (Anthropic's shape, never billed)
- models.py            /v1/models and /v1/models/{id}, OpenAI's or Anthropic's shape
- stream_body.py       PumpedBody: stream parts produced apart from the (maybe stalled) writes
- account.py           GET /v1/account
- billing.py           Stripe checkout and webhook

Self-service (accounts without an operator; logic in switchyard.selfservice):
- session_auth.py      current_account() (session cookie or management key),
                       require_account, csrf_token() / check_csrf(), the session cookie
- selfservice_auth.py  /v1/signup, /v1/account/login|logout|session|password
- selfservice_account.py  a consumer's own keys, limits, balance, holds, usage, checkout
- selfservice_provider.py an owner's nodes (drain/disconnect/revoke, leaderboard),
                       earnings, payouts, provider tokens
- device.py            /v1/device/*: the device-code flow that links provider agents
- stats.py             GET /v1/stats: public stats and the leaderboard

Providers:
- provider_ws.py       GET /v1/providers/connect: pumps frames between the provider
                       WebSocket and its actor (registration is actors/provider_registration.py)

Operators:
- admin_auth.py        the admin-key check (constant time), shared by admin blueprints
- admin.py             accounts, keys and limits, credit, provider tokens, pricing, providers
- payouts.py           provider payouts
- invites.py           /admin/invite-codes: create, list, revoke
- inspection.py        /admin/supervisor (tree + totals) and the /admin HTML page
                       (static/admin.html: no build step, no CDN)
- cluster.py           /admin/cluster: the replicas (live, last seen, providers) and NATS
- cluster_reach.py     admin routes reaching other replicas: change broadcasts, ask every
                       replica (no-ops without a cluster)
- ops.py               /healthz (with the replica id), /readyz
- metrics.py           /metrics (Prometheus; actor state sampled at scrape time)

Dashboard (server-rendered HTML for consumers and providers; no scripts, no CDN):
- dashboard.py         the /dashboard blueprint assembled (imports its page modules)
- dashboard_pages.py   blueprint, render_page, CSP and headers, HTML error pages, notices
- dashboard_session.py login, sign-up, logout forms; signed_in_page (redirects to login)
- dashboard_consumer.py overview, API keys (raw key shown once; rename), usage, buy credit
- dashboard_account.py account settings: change the passphrase
- dashboard_provider.py nodes (drain/disconnect/revoke, leaderboard), earnings, payouts,
                       device-code approval (/dashboard/device)
- svg_chart.py         inline SVG line charts from daily series (axes, a11y, table fallback)
- templates/           Jinja templates (templates/dashboard/*.html)
- static/              static/admin.html; static/dashboard/dashboard.css
"""
