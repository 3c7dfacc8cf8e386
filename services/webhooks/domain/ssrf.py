"""Which URLs and addresses Tradeflow may send a webhook to (server-side request forgery).

A platform names the URL, so without these rules it could make Tradeflow call its own
network: the cloud's metadata service, a database's admin port on a private address, the
host's loopback. The rules are checked twice: on the URL when it is registered (scheme,
credentials, literal addresses, names such as ``localhost``), and on every address its host
resolves to at delivery time, after DNS, because a name that resolved to a public address at
registration may resolve to ``127.0.0.1`` later (DNS rebinding). The sender then connects to
the address that was checked (``adapters/sender.py``), not to a second resolution.

``allow_loopback`` (development only, see ``Settings.webhook_allow_loopback``) admits
``http`` and loopback addresses, so a developer's receiver on ``http://127.0.0.1:PORT`` works.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

from services.webhooks.domain.errors import UrlNotAllowed

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL_LENGTH = 2_048
# Cloud metadata services: link-local, or (AWS over IPv6) in fd00:ec2::/32's unique-local
# range; named here so the refusal says why.
METADATA = frozenset(
    {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}
)
LOCAL_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
# Ranges the standard library's flags miss: carrier-grade NAT, benchmarking, 6to4 relays.
EXTRA_BLOCKED = tuple(
    ipaddress.ip_network(n) for n in ("100.64.0.0/10", "198.18.0.0/15", "192.88.99.0/24")
)


# Ports a webhook may go to: HTTPS, HTTP (only ever for a development loopback receiver),
# and the common alternative HTTPS port; others only when configured
# (``Settings.webhook_allowed_ports``). A public host's other ports are how a registration
# would probe services that are not web servers (SSH, Redis, SMTP, ...).
STANDARD_PORTS = frozenset({443, 80, 8443})


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # lower case, brackets stripped from an IPv6 literal
    port: int


def address_refusal(address: IpAddress, *, allow_loopback: bool = False) -> str | None:
    """Why ``address`` may not be called, or None when it may."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address_refusal(address.ipv4_mapped, allow_loopback=allow_loopback)
    if isinstance(address, ipaddress.IPv6Address) and address.sixtofour is not None:
        # 2002::/16 carries an IPv4 address (6to4): judged by it, so 2002:7f00:1:: is not
        # a way to 127.0.0.1 (the standard library counts all of 2002::/16 as global).
        return address_refusal(address.sixtofour, allow_loopback=False)
    if address in METADATA:
        return "a cloud metadata address"
    if address.is_loopback:
        return None if allow_loopback else "a loopback address"
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_link_local:
        return "a link-local address"
    if address.is_multicast:
        return "a multicast address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private or any(address in net for net in EXTRA_BLOCKED):
        return "a private address"
    if not address.is_global:
        return "a reserved address"
    return None


def check_address(host: str, address: IpAddress, *, allow_loopback: bool = False) -> None:
    reason = address_refusal(address, allow_loopback=allow_loopback)
    if reason is None:
        return
    if _literal(host) is not None:
        raise UrlNotAllowed(f"{host} is {address}, {reason}")
    # A name: the address is left out. It came from Tradeflow's own (split-horizon) DNS,
    # and saying it would map Tradeflow's internal network for whoever registers names.
    raise UrlNotAllowed(f"{host} resolves to {reason}")


def check_port(
    host: str, port: int, *, loopback: bool, allow_loopback: bool, allowed_ports: frozenset[int]
) -> None:
    """``port`` is one of the standard or configured ports; a loopback target (a developer's
    receiver, with loopback allowed) may use any."""
    if port in STANDARD_PORTS or port in allowed_ports or (loopback and allow_loopback):
        return
    raise UrlNotAllowed(f"port {port} of {host} is not allowed (443, 80, 8443 or configured)")


def check_url(
    url: str, *, allow_loopback: bool = False, allowed_ports: frozenset[int] = frozenset()
) -> Target:
    """The target of ``url`` when its form is allowed; else ``UrlNotAllowed``. A host given
    as a name is checked again, after resolution, with ``check_address``."""
    if len(url) > MAX_URL_LENGTH:
        raise UrlNotAllowed(f"the URL is longer than {MAX_URL_LENGTH} characters")
    # urlsplit silently drops tab, CR and LF and keeps other control characters, which the
    # sender's httpx refuses: such a URL must not be stored.
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in url):
        raise UrlNotAllowed("the URL must not contain control characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlNotAllowed(f"not a valid URL: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise UrlNotAllowed("the URL must be https")
    if scheme == "http" and not allow_loopback:
        raise UrlNotAllowed("the URL must be https (http only for loopback in development)")
    if parts.username is not None or parts.password is not None:
        raise UrlNotAllowed("the URL must not carry credentials")
    if parts.fragment:
        raise UrlNotAllowed("the URL must not have a fragment")
    if port == 0:
        raise UrlNotAllowed("port 0 is no port")
    host = (parts.hostname or "").rstrip(".").lower()
    if not host:
        raise UrlNotAllowed("the URL has no host")
    literal = _literal(host)
    if literal is not None:
        check_address(host, literal, allow_loopback=allow_loopback)
    elif host in LOCAL_NAMES or host.endswith(".localhost"):
        if not allow_loopback:
            raise UrlNotAllowed(f"{host} is a loopback name")
    elif "." not in host:
        raise UrlNotAllowed(f"{host} is not a fully qualified domain name")
    loopback = (
        host in LOCAL_NAMES or host.endswith(".localhost") or bool(literal and literal.is_loopback)
    )
    if scheme == "http" and not loopback:
        raise UrlNotAllowed("http is allowed only for loopback hosts; use https")
    port = port or (443 if scheme == "https" else 80)
    check_port(
        host, port, loopback=loopback, allow_loopback=allow_loopback, allowed_ports=allowed_ports
    )
    return Target(scheme, host, port)


def _literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # Forms browsers and libc accept but ip_address does not: 2130706433, 0x7f.1, 127.1.
    if host.replace(".", "").replace("x", "").isalnum() and all(
        p.isdigit() or p.lower().startswith("0x") for p in host.split(".")
    ):
        try:
            return ipaddress.ip_address(_inet_aton(host))
        except ValueError:
            return None
    return None


def _inet_aton(host: str) -> int:
    """``inet_aton``'s reading of a dotted quad with 1 to 4 parts, each decimal, octal
    (leading 0) or hexadecimal (0x)."""
    parts = [
        int(p, 0) if not (p.startswith("0") and p[1:].isdigit()) else int(p, 8)
        for p in host.split(".")
    ]
    if not 1 <= len(parts) <= 4:
        raise ValueError(host)
    *head, last = parts
    value = 0
    for p in head:
        if not 0 <= p <= 255:
            raise ValueError(host)
        value = value << 8 | p
    shift = 8 * (4 - len(head))
    if not 0 <= last < 1 << shift:
        raise ValueError(host)
    return value << shift | last
