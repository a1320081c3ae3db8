"""The client address behind trusted proxies (X-Forwarded-For walked from the right) and
the throttle key (IPv4 per address, IPv6 per /64, IPv4-mapped as IPv4)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from switchyard.cli import main
from switchyard.client_address import (
    client_address,
    parse_trusted_proxies,
    throttle_key,
)
from switchyard.protocol.limits import MAX_FORWARDED_HOPS
from switchyard.settings import Settings, from_env

PROXIES = parse_trusted_proxies(("10.0.0.0/8", "192.0.2.7", "2001:db8:ffff::/48"))


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    assert client_address("198.51.100.9", ["203.0.113.5"], ()) == "198.51.100.9"


def test_an_untrusted_peer_cannot_pick_its_address() -> None:
    assert client_address("198.51.100.9", ["203.0.113.5"], PROXIES) == "198.51.100.9"


def test_a_trusted_peer_names_the_client() -> None:
    assert client_address("10.1.2.3", ["203.0.113.5"], PROXIES) == "203.0.113.5"
    assert client_address("192.0.2.7", ["2001:db8::1"], PROXIES) == "2001:db8::1"


def test_the_chain_is_walked_from_the_right_skipping_trusted_hops() -> None:
    # The client forged "1.1.1.1"; its real address was appended by the first proxy,
    # 10.0.0.2 is a second (trusted) proxy, the peer 10.0.0.1 a third.
    chain = ["1.1.1.1, 203.0.113.5, 10.0.0.2"]
    assert client_address("10.0.0.1", chain, PROXIES) == "203.0.113.5"
    # Several header lines read as one list, in order.
    lines = ["1.1.1.1", "203.0.113.5", " 10.0.0.2 ,2001:db8:ffff::9"]
    assert client_address("10.0.0.1", lines, PROXIES) == "203.0.113.5"


def test_without_a_header_or_with_only_trusted_hops_the_last_trusted_hop_is_the_client() -> None:
    assert client_address("10.0.0.1", [], PROXIES) == "10.0.0.1"
    assert client_address("10.0.0.1", ["10.0.0.3, 10.0.0.2"], PROXIES) == "10.0.0.3"


@pytest.mark.parametrize(
    "bad",
    ["unknown", "203.0.113.5:4711", "[2001:db8::1]", "host.example", "_hidden", "", "fe80::1%eth0"],
)
def test_a_malformed_entry_ends_the_walk_at_the_last_trusted_hop(bad: str) -> None:
    chain = [f"203.0.113.5, {bad}, 10.0.0.2"]
    assert client_address("10.0.0.1", chain, PROXIES) == "10.0.0.2"
    assert client_address("10.0.0.1", [bad], PROXIES) == "10.0.0.1"


def test_hops_beyond_the_cap_are_not_read() -> None:
    trusted_hops = ", ".join(["10.0.0.9"] * MAX_FORWARDED_HOPS)
    assert client_address("10.0.0.1", [f"203.0.113.5, {trusted_hops}"], PROXIES) == "10.0.0.9"
    assert client_address("10.0.0.1", ["203.0.113.5", trusted_hops], PROXIES) == "10.0.0.9"
    one_less = ", ".join(["10.0.0.9"] * (MAX_FORWARDED_HOPS - 1))
    assert client_address("10.0.0.1", [f"203.0.113.5, {one_less}"], PROXIES) == "203.0.113.5"


def test_a_huge_header_is_cheap_and_still_answers() -> None:
    huge = ["203.0.113.5" + ", 10.0.0.9" * 10_000]
    assert client_address("10.0.0.1", huge, PROXIES) == "10.0.0.9"
    garbage = ["x" * 60_000]
    assert client_address("10.0.0.1", garbage, PROXIES) == "10.0.0.1"


def test_ipv4_mapped_addresses_are_ipv4_everywhere() -> None:
    # A dual-stack socket reports IPv4 peers mapped; the trusted list may name either form.
    assert client_address("::ffff:10.0.0.1", ["203.0.113.5"], PROXIES) == "203.0.113.5"
    assert client_address("::ffff:198.51.100.9", [], ()) == "198.51.100.9"
    assert client_address("10.0.0.1", ["::ffff:203.0.113.5"], PROXIES) == "203.0.113.5"
    mapped = parse_trusted_proxies(("::ffff:10.0.0.0/104",))
    assert client_address("10.0.0.1", ["203.0.113.5"], mapped) == "203.0.113.5"


def test_peers_that_are_not_addresses_are_kept() -> None:
    assert client_address(None, ["203.0.113.5"], PROXIES) == "unknown"
    assert client_address("/run/switchyard.sock", ["203.0.113.5"], PROXIES) == (
        "/run/switchyard.sock"
    )


def test_throttle_keys_group_ipv6_per_64() -> None:
    assert throttle_key("203.0.113.5") == "203.0.113.5"
    assert throttle_key("2001:db8:1:2:aaaa::1") == "2001:db8:1:2::/64"
    assert throttle_key("2001:db8:1:2:ffff:ffff:ffff:ffff") == "2001:db8:1:2::/64"
    assert throttle_key("2001:db8:1:3::1") == "2001:db8:1:3::/64"
    assert throttle_key("fe80::1%eth0") == "fe80::/64"
    assert throttle_key("::ffff:203.0.113.5") == "203.0.113.5"
    assert throttle_key("unknown") == "unknown"


def test_trusted_proxies_are_parsed_and_bad_ones_name_the_variable() -> None:
    settings = from_env({"SWITCHYARD_TRUSTED_PROXIES": " 10.0.0.0/8, 192.0.2.7 ,,::1"})
    assert settings.trusted_proxies == ("10.0.0.0/8", "192.0.2.7", "::1")
    assert [str(n) for n in parse_trusted_proxies(settings.trusted_proxies)] == [
        "10.0.0.0/8",
        "192.0.2.7/32",
        "::1/128",
    ]
    assert Settings().trusted_proxies == ()
    for bad in ("10.0.0.0/33", "proxy.internal", "10.0.0.1-10.0.0.9", "2001:db8::/129"):
        with pytest.raises(ValueError, match="SWITCHYARD_TRUSTED_PROXIES"):
            from_env({"SWITCHYARD_TRUSTED_PROXIES": f"10.0.0.1,{bad}"})


@pytest.mark.parametrize("command", ["serve", "dev"])
def test_a_bad_setting_is_a_usage_error_at_start(command: str) -> None:
    env = {"SWITCHYARD_TRUSTED_PROXIES": "10.0.0.0/8,nope"}
    result = CliRunner().invoke(main, [command], env=env)
    assert result.exit_code == 2, result.output
    assert "SWITCHYARD_TRUSTED_PROXIES: 'nope' is not an IP address" in result.output
    result = CliRunner().invoke(main, [command], env={"SWITCHYARD_PORT": "eighty"})
    assert result.exit_code == 2 and "SWITCHYARD_PORT must be an integer" in result.output
