"""Self-service: what consumers and provider owners do without an operator (README,
"Self-service"). The JSON API (`http/selfservice*.py`) and the dashboard both call these
functions; neither holds logic of its own.

Accounts and sign-in:
- invites.py     invite codes: create (operators), their JSON form
- accounts.py    sign_up (invite code), log_in (passphrase), attempt throttling, 4xx errors
- passwords.py   Argon2id hashing off the event loop, bounded; passphrase length check
- sessions.py    start/resolve/end a session (cookie `switchyard_session`, stored hashed)
- csrf.py        CSRF tokens (session-bound; double-submit before sign-in), comparison
- throttle.py    AttemptThrottle: fixed-window counters per key, bounded memory
- state.py       SelfServiceState: the hasher and throttles one coordinator owns
"""
