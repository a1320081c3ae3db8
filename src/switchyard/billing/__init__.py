"""Money: pricing arithmetic and the Stripe gateway (the billing actor lives in actors/).

- pricing.py         holds, costs and provider earnings in integer micro-USD (pure)
"""
