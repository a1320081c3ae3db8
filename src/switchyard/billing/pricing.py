"""Pure money arithmetic: holds, costs and earnings in integer micro-USD.

Prices are micro-USD per million tokens, so a cost is tokens * price / 1,000,000, rounded
up to a whole micro-USD (the platform never undercharges by rounding). A model without a
price is free. The platform fee is kept in basis points so earnings stay integral:
earning = cost * (10,000 - fee_bps) // 10,000.
"""

from __future__ import annotations

from dataclasses import dataclass

MTOK = 1_000_000


@dataclass(frozen=True, slots=True)
class Price:
    """Micro-USD per million input and output tokens."""

    input_per_mtok: int
    output_per_mtok: int


FREE = Price(0, 0)


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def cost(price: Price, prompt_tokens: int, completion_tokens: int) -> int:
    """What `prompt_tokens` in and `completion_tokens` out cost, rounded up."""
    total = prompt_tokens * price.input_per_mtok + completion_tokens * price.output_per_mtok
    return _ceil_div(max(0, total), MTOK)


def hold_amount(price: Price, prompt_tokens_est: int, max_tokens: int) -> int:
    """The most a request may cost: its estimated prompt plus every token it may generate."""
    return cost(price, prompt_tokens_est, max_tokens)


def fee_bps(fee: float) -> int:
    """A fee fraction (0.10) as basis points (1000), bounded to 0..10,000."""
    return min(10_000, max(0, round(fee * 10_000)))


def provider_earning(charged: int, fee_basis_points: int) -> int:
    """The provider owner's share of `charged` after the platform fee."""
    return charged * (10_000 - fee_basis_points) // 10_000
