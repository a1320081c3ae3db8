"""Admin bodies refuse what they do not know: a typo is a 400 naming it, never a no-op."""

from __future__ import annotations

import pytest

from switchyard.protocol.admin_api import CreateAccount, KeyLimitsBody
from switchyard.protocol.errors import ApiError, parse_json_body


@pytest.mark.parametrize(
    ("model", "body", "field"),
    [
        (CreateAccount, b'{"name": "alice", "nmae": "bob"}', "nmae"),
        (KeyLimitsBody, b'{"rpm": 60, "tmp": 1000}', "tmp"),
    ],
)
def test_an_unknown_admin_field_is_a_400_naming_it(model: type, body: bytes, field: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_json_body(body, model)
    assert caught.value.status == 400
    assert caught.value.param == field


def test_known_admin_fields_still_parse() -> None:
    assert parse_json_body(b'{"rpm": 60, "tpm": null}', KeyLimitsBody).rpm == 60
