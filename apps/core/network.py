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
        if not ipaddress.ip_address(address.split("%")[0]).is_global:
            raise NonPublicHostError(hostname)
    return addresses
