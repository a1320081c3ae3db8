"""The Stripe gateway is the coordinator's, beside the store: opened and closed with it."""

from __future__ import annotations

import pytest

from switchyard.billing.stripe_gateway import StripeGatewayError
from switchyard.coordinator import open_coordinator

from ..integration.harness import fast_settings
from .fake_stripe import running_fake_stripe


async def test_the_gateway_opens_and_closes_with_the_coordinator() -> None:
    async with running_fake_stripe() as fake:
        settings = fast_settings().with_overrides(
            stripe_secret_key=fake.secret_key, stripe_api_base=fake.base_url
        )
        async with open_coordinator(settings) as coord:
            gateway = coord.stripe
            assert gateway is not None
            session = await gateway.create_checkout_session("acct", 500, "http://s", "http://c")
            assert session.url
        # Closed with the coordinator: its connection pool is gone.
        with pytest.raises(StripeGatewayError):
            await gateway.create_checkout_session("acct", 500, "http://s", "http://c")


async def test_no_gateway_without_a_stripe_key() -> None:
    async with open_coordinator(fast_settings()) as coord:
        assert coord.stripe is None
