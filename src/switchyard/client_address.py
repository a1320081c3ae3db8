"""Client addresses: who is calling behind trusted proxies, and what the throttles count.

`parse_trusted_proxies` reads `SWITCHYARD_TRUSTED_PROXIES` (IP addresses and CIDR
networks). `client_address(peer, forwarded_for, trusted)` is the client of a request:

- the socket peer, unless the peer is a trusted proxy; then
- `X-Forwarded-For` (every such header line, in order, read as one comma-separated list)
  is walked from the right, at most `MAX_FORWARDED_HOPS` entries: trusted addresses are
  skipped; the first untrusted one is the client. An entry that is not a bare IP address
  (`unknown`, a port, a host name, an obfuscated token, an empty item) ends the walk, as
  does running out of entries or hops: the client is then the last trusted hop reached
  (the leftmost trusted address walked, or the peer itself).

Without trusted proxies (the default) the headers are never read: a client cannot pick
its own address. `Forwarded` (RFC 7239) is not read: a proxy that writes one of the two
headers usually passes the other through from the client unchanged, so reading both
would let a client choose.

`throttle_key(address)` is what every per-address throttle counts: an IPv4 address as
itself, an IPv4-mapped IPv6 address as its IPv4 address, any other IPv6 address as its
/64 network (one host usually owns a whole /64 and may rotate within it freely).
Anything that is not an IP address is kept as it is.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from functools import lru_cache

from .protocol.limits import MAX_FORWARDED_HOPS

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
IPV6_CLIENT_PREFIX = 64  # IPv6 clients are counted per network of this prefix length
TRUSTED_PROXIES_VAR = "SWITCHYARD_TRUSTED_PROXIES"


@lru_cache(maxsize=16)
def parse_trusted_proxies(values: tuple[str, ...]) -> tuple[Network, ...]:
    """The networks `values` name (a bare address is a /32 or /128; an IPv4-mapped IPv6
    one is its IPv4 form); ValueError naming the variable and the entry otherwise."""
    networks: list[Network] = []
    for value in values:
        try:
            network = ipaddress.ip_network(value.strip(), strict=False)
        except ValueError:
            raise ValueError(
                f"{TRUSTED_PROXIES_VAR}: {value!r} is not an IP address or CIDR network "
                "(e.g. 10.0.0.0/8, 192.0.2.7, 2001:db8::/32)"
            ) from None
        networks.append(_unmapped_network(network))
    return tuple(networks)


def parse_address(text: str) -> Address | None:
    """`text` as a bare IP address (IPv4-mapped IPv6 as IPv4), or None."""
    text = text.strip()
    if not text or len(text) > 64 or "%" in text:  # no zone ids from a header
        return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    return _unmapped(address)


def client_address(
    peer: str | None, forwarded_for: Sequence[str], trusted: Iterable[Network]
) -> str:
    """The client's address (module docstring): `peer` is the socket's remote address,
    `forwarded_for` the request's `X-Forwarded-For` header lines in order."""
    if peer is None:
        return "unknown"
    peer_address = _socket_address(peer)
    networks = tuple(trusted)
    if peer_address is None or not networks or not _is_trusted(peer_address, networks):
        return str(peer_address) if peer_address is not None else peer
    last_trusted = peer_address
    for entry in _last_hops(forwarded_for):
        hop = parse_address(entry)
        if hop is None:
            break
        if not _is_trusted(hop, networks):
            return str(hop)
        last_trusted = hop
    return str(last_trusted)


def throttle_key(address: str) -> str:
    """What per-address throttles count `address` as (module docstring)."""
    parsed = _socket_address(address)
    if parsed is None:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((parsed, IPV6_CLIENT_PREFIX), strict=False))
    return str(parsed)


def _socket_address(text: str) -> Address | None:
    """A peer address as the server reports it (a zone id allowed), unmapped."""
    try:
        return _unmapped(ipaddress.ip_address(text.strip()))
    except ValueError:
        return None


def _last_hops(lines: Sequence[str]) -> list[str]:
    """At most MAX_FORWARDED_HOPS entries from the right of the header lines, rightmost
    first; only the tail of the header is split, whatever its length."""
    hops: list[str] = []
    for line in reversed(lines):
        wanted = MAX_FORWARDED_HOPS - len(hops)
        if wanted <= 0:
            break
        parts = line.rsplit(",", wanted)
        hops.extend(reversed(parts[-wanted:]))
    return hops[:MAX_FORWARDED_HOPS]


def _is_trusted(address: Address, networks: tuple[Network, ...]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def _unmapped(address: Address) -> Address:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _unmapped_network(network: Network) -> Network:
    if (
        isinstance(network, ipaddress.IPv6Network)
        and network.prefixlen >= 96
        and network.network_address.ipv4_mapped is not None
    ):
        mapped = network.network_address.ipv4_mapped
        return ipaddress.IPv4Network((mapped, network.prefixlen - 96), strict=False)
    return network
