"""The address policy, as a table: what the fetcher may never connect to."""

import ipaddress

import pytest

from nsfw.fetch.addresses import NON_PUBLIC_V4, NON_PUBLIC_V6, in_networks, is_allowed, is_public, parse_ip

NON_PUBLIC = [
    # IPv4
    "0.0.0.0",  # unspecified: connects to this host
    "0.1.2.3",  # 0/8
    "10.0.0.1",
    "10.255.255.255",
    "100.64.0.1",  # shared address space
    "100.127.255.254",
    "127.0.0.1",
    "127.255.255.254",
    "169.254.0.1",
    "169.254.169.254",  # cloud metadata
    "172.16.0.1",
    "172.31.255.255",
    "192.0.0.1",  # IETF protocol assignments
    "192.0.0.170",
    "192.0.2.1",  # documentation
    "192.88.99.1",  # 6to4 relay anycast
    "192.168.1.1",
    "198.18.0.1",  # benchmarking
    "198.19.255.255",
    "198.51.100.7",  # documentation
    "203.0.113.9",  # documentation
    "224.0.0.1",  # multicast (is_global says True in Python 3.11)
    "239.255.255.250",
    "240.0.0.1",  # reserved
    "255.255.255.255",  # broadcast
    # IPv6
    "::",
    "::1",
    "::ffff:127.0.0.1",  # IPv4-mapped loopback (not is_loopback in Python 3.11)
    "::ffff:7f00:1",
    "::ffff:10.0.0.1",
    "::ffff:169.254.169.254",
    "::ffff:0.0.0.0",
    "::127.0.0.1",  # IPv4-compatible (is_global says True in Python 3.11)
    "::8.8.8.8",  # IPv4-compatible is refused outright
    "::ffff:0:7f00:1",  # IPv4-translated
    "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254 (is_global says True in Python 3.11)
    "64:ff9b::808:808",  # NAT64 is refused outright
    "64:ff9b:1::1",
    "100::1",  # discard-only
    "2001::1",  # Teredo
    "2001:0:4136:e378:8000:63bf:3fff:fdd2",
    "2001:2::1",  # benchmarking
    "2001:db8::1",  # documentation
    "2001:db8:ffff::1",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1 (is_global says True in Python 3.11)
    "2002:808:808::1",
    "3fff::1",  # documentation
    "fc00::1",
    "fd12:3456:789a::1",
    "fe80::1",
    "fe80::1%eth0",
    "febf:ffff::1",
    "fec0::1",  # site-local
    "ff02::1",
    "ff05::1:3",
    "ff0e::1",
    "4000::1",  # outside global unicast 2000::/3
    "e000::1",
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "100.63.255.255",  # just below 100.64/10
    "100.128.0.0",  # just above
    "172.15.255.255",
    "172.32.0.0",
    "192.0.1.1",
    "198.17.255.255",
    "198.20.0.0",
    "223.255.255.255",  # just below multicast
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "2a00:1450:4001:80b::200e",
    "::ffff:8.8.8.8",  # IPv4-mapped: judged as the v4 it reaches
]


@pytest.mark.parametrize("address", NON_PUBLIC)
def test_non_public(address):
    assert not is_public(address)
    assert not is_allowed(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_public(address):
    assert is_public(address)
    assert is_public(parse_ip(address))
    assert is_allowed(address)


@pytest.mark.parametrize("value", ["", "localhost", "1.2.3", "256.1.1.1", "::g", "[::1]", None, 2130706433])
def test_garbage_is_not_public(value):
    assert parse_ip(value) is None
    assert not is_public(value)
    assert not is_allowed(value, (ipaddress.ip_network("0.0.0.0/0"),))


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1", "fe80::1%eth0"])
def test_accepts_address_objects(address):
    assert is_public(ipaddress.ip_address(address)) is False


def test_every_table_network_is_refused_at_both_ends():
    for net in NON_PUBLIC_V4 + NON_PUBLIC_V6:
        if net.prefixlen == 96 and net.network_address == ipaddress.ip_address("::ffff:0:0"):
            continue  # IPv4-mapped: judged by the embedded address, covered above
        assert not is_public(net.network_address), net
        assert not is_public(net.broadcast_address), net


def test_ipv4_mapped_is_judged_as_ipv4():
    assert parse_ip("::ffff:127.0.0.1") == ipaddress.ip_address("127.0.0.1")
    assert parse_ip("::ffff:7f00:2") == ipaddress.ip_address("127.0.0.2")
    assert parse_ip("fe80::1%eth0") == ipaddress.ip_address("fe80::1")


ALLOW = (ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("10.1.0.0/16"))


@pytest.mark.parametrize(
    "address, allowed",
    [
        ("127.0.0.1", True),
        ("::ffff:127.0.0.1", True),  # mapped: the allow-list sees the v4 too
        ("::ffff:7f00:1", True),
        ("127.0.0.2", False),
        ("::ffff:127.0.0.2", False),
        ("::1", False),
        ("::127.0.0.1", False),  # IPv4-compatible is not mapped: no exemption
        ("10.1.200.3", True),
        ("10.2.0.1", False),
        ("169.254.169.254", False),
        ("8.8.8.8", True),  # public stays allowed
    ],
)
def test_allow_list_exemption(address, allowed):
    assert is_allowed(address, ALLOW) is allowed
    assert in_networks(address, ALLOW) is (allowed and address != "8.8.8.8")


def test_allow_list_with_ipv6_network():
    nets = (ipaddress.ip_network("::1/128"), ipaddress.ip_network("fd00::/8"))
    assert is_allowed("::1", nets)
    assert is_allowed("fd00::5", nets)
    assert not is_allowed("127.0.0.1", nets)
    assert not is_allowed("fe80::1", nets)
