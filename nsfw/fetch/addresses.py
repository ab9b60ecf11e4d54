"""Which IP addresses the fetcher may connect to.

A user-supplied URL must never make this service talk to itself, its network
or a cloud metadata endpoint. ``ipaddress`` flags alone are not enough (in
Python 3.11 ``is_global`` is True for 224.0.0.1, 64:ff9b::a9fe:a9fe,
2002:7f00:1:: and ::127.0.0.1, and ``::ffff:127.0.0.1`` is not
``is_loopback``), so the policy is an explicit table of refused networks,
plus: in IPv6 only global unicast (2000::/3) is public at all, and an
IPv4-mapped address is judged as the IPv4 address it reaches.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NET = ipaddress.ip_network

NON_PUBLIC_V4 = tuple(
    _NET(n)
    for n in (
        "0.0.0.0/8",  # "this network", incl. the unspecified address
        "10.0.0.0/8",  # private
        "100.64.0.0/10",  # shared address space (carrier-grade NAT)
        "127.0.0.0/8",  # loopback
        "169.254.0.0/16",  # link-local, incl. the 169.254.169.254 metadata service
        "172.16.0.0/12",  # private
        "192.0.0.0/24",  # IETF protocol assignments
        "192.0.2.0/24",  # documentation (TEST-NET-1)
        "192.88.99.0/24",  # 6to4 relay anycast
        "192.168.0.0/16",  # private
        "198.18.0.0/15",  # benchmarking
        "198.51.100.0/24",  # documentation (TEST-NET-2)
        "203.0.113.0/24",  # documentation (TEST-NET-3)
        "224.0.0.0/4",  # multicast
        "240.0.0.0/4",  # reserved, incl. 255.255.255.255 broadcast
    )
)

# Everything outside 2000::/3 is refused anyway; the ones below that lie outside
# it are listed too so the table reads as the documentation of the policy.
NON_PUBLIC_V6 = tuple(
    _NET(n)
    for n in (
        "::/128",  # unspecified
        "::1/128",  # loopback
        "::/96",  # IPv4-compatible (deprecated): ::127.0.0.1 reaches loopback on some stacks
        "::ffff:0:0/96",  # IPv4-mapped: only reached after judging the embedded v4 (see below)
        "::ffff:0:0:0/96",  # IPv4-translated (SIIT)
        "64:ff9b::/96",  # NAT64: a gateway would forward to any embedded v4, private included
        "64:ff9b:1::/48",  # local-use NAT64
        "100::/64",  # discard-only
        "2001::/23",  # IETF protocol assignments, incl. Teredo 2001::/32 and benchmarking
        "2001:db8::/32",  # documentation
        "2002::/16",  # 6to4: embeds an arbitrary v4 address (2002:7f00:1:: is 127.0.0.1)
        "3fff::/20",  # documentation
        "5f00::/16",  # segment routing SIDs
        "fc00::/7",  # unique local
        "fe80::/10",  # link-local
        "fec0::/10",  # site-local (deprecated)
        "ff00::/8",  # multicast
    )
)

_GLOBAL_UNICAST_V6 = _NET("2000::/3")


def parse_ip(value: str | IPAddress) -> IPAddress | None:
    """The address as an ``ipaddress`` object, IPv4-mapped v6 turned into its v4.

    A zone suffix (``fe80::1%eth0``) is dropped: the scope does not change which
    network the address belongs to. Returns None when ``value`` is no address.
    """
    if isinstance(value, str):
        try:
            value = ipaddress.ip_address(value.split("%", 1)[0])
        except ValueError:
            return None
    elif not isinstance(value, (ipaddress.IPv4Address, ipaddress.IPv6Address)):
        return None
    if value.version == 6 and value.ipv4_mapped is not None:
        return value.ipv4_mapped
    return value


def is_public(value: str | IPAddress) -> bool:
    """True when ``value`` is an address on the public internet this service may reach."""
    ip = parse_ip(value)
    if ip is None:
        return False
    if ip.version == 4:
        return not any(ip in net for net in NON_PUBLIC_V4)
    if ip not in _GLOBAL_UNICAST_V6:
        return False
    return not any(ip in net for net in NON_PUBLIC_V6)


def in_networks(value: str | IPAddress, networks: Iterable[IPNetwork]) -> bool:
    """True when ``value`` (an IPv4-mapped v6 counted as its v4) lies in one of ``networks``."""
    ip = parse_ip(value)
    if ip is None:
        return False
    return any(ip.version == net.version and ip in net for net in networks)


def is_allowed(value: str | IPAddress, allow_nets: Iterable[IPNetwork] = ()) -> bool:
    """The fetcher's rule: public, or inside an operator-configured exemption."""
    return in_networks(value, allow_nets) or is_public(value)
