"""Money: pricing arithmetic and the Stripe gateway (the billing actor lives in actors/).

- pricing.py         holds, costs and provider earnings in integer micro-USD (pure)

Stripe and payouts:
- stripe_gateway.py  StripeGateway: Checkout Sessions and Connect transfers (async, trio-native)
- stripe_webhook.py  verify a webhook's signature; credit a paid Checkout Session once per event
- payouts.py         pay out provider earnings: ledger entry, then a transfer with the same key
"""
