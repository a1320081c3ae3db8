"""The consumer request path between the HTTP routes and the actors.

`ConsumerRequest` owns one request end to end; the HTTP layer only authenticates, parses
it into a `Job` and renders the `Output` it hands out.

- request.py    ConsumerRequest: gate → model fit → rate limit → (exact count) → hold →
                reserve → dispatch
                on entry, output deltas, release/settle/refund/metrics/log once on exit
- job.py        Job (a validated request, ready to run), new_job, the prompt-token estimate
- capabilities.py  required_capabilities (what a body needs of its model), the 400 when
                no provider has it
- context_length.py  fit_to_model: the model's profile before the hold (400s), the tokens
                held without max_tokens, when that needs an exact prompt count, and
                max_tokens per attempt when the cap needs it
- output.py     Output batches, Final, Result and `outcome_of` (the one outcome rule), Usage
- output_filter.py  OutputFilter: provider deltas → what the consumer sees (stop
                sequences per choice, finish deltas)
- relay.py      RelaySession: reserve, dispatch, stream (with retries), release: once
- charge.py     Charge: the hold before dispatch, the settlement message after
- gate.py       RequestGate: requests in progress; closed for new ones at shutdown
- keys.py       ApiKeyCache: API keys and their limits, cached briefly (revocation bites fast)
- ratelimit.py  RateLimiter: per-key requests/tokens per minute token buckets; `take`
                (the admission rule) and KeyLimiter (what the request path needs; the
                cluster's shared limiter is one too)
- token_count.py  count_prompt_tokens and refit_exactly: a provider's tokenizer (a
                tokenize request, never billed), else the estimate
- known_models.py  KnownModels: priced or served model names (bounded metric labels)
"""
