"""Self-service: what consumers and provider owners do without an operator (README,
"Self-service"). The JSON API (`http/selfservice*.py`) and the dashboard both call these
functions; neither holds logic of its own.

Accounts and sign-in:
- invites.py     invite codes: create (operators), their JSON form
- accounts.py    sign_up (invite code), log_in (passphrase), change_password, attempt
                 throttling, 4xx errors
- passwords.py   Argon2id hashing off the event loop, bounded; passphrase length check
- sessions.py    start/resolve/end a session (cookie `switchyard_session`, stored hashed)
- csrf.py        CSRF tokens (session-bound; double-submit before sign-in), comparison
- throttle.py    the fixed-window rule; AttemptThrottle (in memory, bounded), Throttle
- state.py       SelfServiceState: the hasher, throttles and stats cache one coordinator owns

Consumers and provider owners:
- keys.py        own API keys (limits at or below the account's) and management keys;
                 rename, revoke
- views.py       balance and open holds, usage per day and model, earnings per day and
                 node, payouts; report day ranges (bounded)
- nodes.py       an owner's nodes (live state + history); drain, disconnect, revoke;
                 leaderboard opt-in; own provider tokens
- device.py      the device-code flow (RFC 8628) that links a provider agent
- stats.py       PublicStats: GET /v1/stats and the leaderboard, cached
"""
