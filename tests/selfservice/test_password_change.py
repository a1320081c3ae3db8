"""`change_password` on a memory store, the cases HTTP cannot reach: a caller without a
session (a management key) and an operator-made account, which has no login."""

from __future__ import annotations

import pytest

from switchyard.protocol.errors import ApiError
from switchyard.selfservice.accounts import change_password
from switchyard.selfservice.sessions import start_session
from switchyard.selfservice.state import SelfServiceState
from switchyard.storage import open_store
from switchyard.storage.models import utc_now

PASSWORD = "correct horse battery staple"


async def test_no_session_is_403_and_an_account_without_login_is_401() -> None:
    state = SelfServiceState()
    async with open_store(None) as store:
        with pytest.raises(ApiError) as caught:
            await change_password(
                state, store, session=None, current_password=PASSWORD, new_password=PASSWORD
            )
        assert caught.value.status == 403

        operator_made = await store.create_account("no-login")
        session, raw = await start_session(store, operator_made.id, 3600)
        with pytest.raises(ApiError) as caught:
            await change_password(
                state, store, session=session, current_password=PASSWORD, new_password=PASSWORD
            )
        assert caught.value.status == 401 and caught.value.code == "invalid_credentials"
        assert await store.get_session(raw, utc_now()) == session  # nothing ended
