"""The consumer request path between the HTTP routes and the actors.

- relay.py      RelaySession: reserve, dispatch, stream (with retries), release: once
- charge.py     Charge: hold before dispatch, settlement after: once
- keys.py       ApiKeyCache: API keys and their limits, cached briefly (revocation bites fast)
- ratelimit.py  RateLimiter: per-key requests/tokens per minute token buckets
- known_models.py  KnownModels: priced or served model names (bounded metric labels)
"""
