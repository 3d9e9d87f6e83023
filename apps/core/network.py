"""Outbound requests to addresses users or providers give us: the host must be public."""

import ipaddress
import socket


class UnresolvableHostError(ValueError):
    pass


class NonPublicHostError(ValueError):
    pass


def public_addresses(hostname: str, port: int) -> list[str]:
    """Every address `hostname` resolves to, if all are public (no loopback, private, link-local,
    CGNAT, multicast or reserved ranges); raises otherwise."""
    try:
        addresses = [str(ipaddress.ip_address(hostname))]
    except ValueError:
        try:
            infos = socket.getaddrinfo(hostname, port, proto=socket.IPPROTO_TCP)
        except (socket.gaierror, UnicodeError):
            raise UnresolvableHostError(hostname) from None
        addresses = list(dict.fromkeys(info[4][0] for info in infos))
    for address in addresses:
        if not address_is_public(ipaddress.ip_address(address.split("%")[0])):
            raise NonPublicHostError(hostname)
    return addresses


NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))


def address_is_public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Globally routable unicast — and, for IPv6 forms that carry an IPv4 address (mapped, 6to4,
    Teredo, NAT64), that address is public too. (Python counts multicast as global: it isn't here.)"""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return address_is_public(address.ipv4_mapped)
        if any(address in network for network in NAT64):
            return address_is_public(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        embedded = [address.sixtofour, *(address.teredo or ())]
        if not all(address_is_public(inner) for inner in embedded if inner is not None):
            return False
    return address.is_global and not (address.is_multicast or address.is_reserved or address.is_unspecified)
