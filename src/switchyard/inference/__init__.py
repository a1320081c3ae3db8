"""The consumer request path between the HTTP routes and the actors.

- relay.py   RelaySession: reserve → dispatch → stream (with retries) → release, once
- keys.py    ApiKeyCache: API key lookups cached briefly; revocation bites within seconds
"""
