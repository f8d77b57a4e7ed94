"""Sending a webhook over HTTP to an address that was checked, and only to it.

The guard against server-side request forgery: only http and https; the host is resolved and
every address it resolves to must be public (not private, loopback, link-local, multicast,
reserved, unspecified, shared or a cloud metadata address), otherwise the URL is refused. The
connection is then made to the address that was checked, not to the name, so a DNS answer that
changes between the check and the connect (rebinding) cannot point the request inward. TLS still
verifies the certificate against the host name. Redirects are never followed: a 3xx is just a
failed attempt. `WEBHOOK_ALLOW_PRIVATE_ADDRESSES` lifts the address rule for development.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from crmApp import errors

#: Cloud metadata services. All are non-public already; named so that the rule survives a change
#: in what the standard library calls global.
METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a)
    for a in ("169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254")
)


class UnsafeURL(errors.InvalidInput):
    """A webhook URL that may not be called (scheme, host or address)."""

    def __init__(self, message: str):
        super().__init__({"url": [message]})
        self.reason = message


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str
    address: str


def address_refusal(address: str) -> str | None:
    """Why `address` may not be called, or None."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    if ip in METADATA_ADDRESSES:
        return "a cloud metadata address"
    if settings.WEBHOOK_ALLOW_PRIVATE_ADDRESSES:
        return None
    if ip.is_unspecified:
        return "a reserved address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private:
        return "a private address"
    if ip.is_reserved or not ip.is_global:
        return "a reserved address"
    return None


def url_parts(url: str) -> tuple[str, str, int, str]:
    """(scheme, host, port, path with query) of an http(s) URL, or UnsafeURL."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeURL("Enter a valid URL.") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise UnsafeURL("Only http and https URLs are allowed.")
    if not parts.hostname:
        raise UnsafeURL("The URL has no host.")
    if parts.username is not None or parts.password is not None:
        raise UnsafeURL("Credentials in the URL are not allowed.")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    return scheme, parts.hostname, port or (443 if scheme == "https" else 80), path


def url_resolve(url: str) -> Target:
    """The checked target of `url`: every address its host resolves to must be allowed; the
    first is the one to connect to. Raises UnsafeURL."""
    scheme, host, port, path = url_parts(url)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnsafeURL(f"The host {host!r} could not be resolved.") from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not addresses:
        raise UnsafeURL(f"The host {host!r} could not be resolved.")
    for address in addresses:
        refusal = address_refusal(str(address))
        if refusal is not None:
            raise UnsafeURL(f"The host {host!r} resolves to {refusal}, which is not allowed.")
    return Target(scheme=scheme, host=host, port=port, path=path, address=str(addresses[0]))


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, target: Target, timeout: float):
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = target.address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, target: Target, timeout: float):
        super().__init__(
            target.host, target.port, timeout=timeout, context=ssl.create_default_context()
        )
        self._address = target.address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        # The certificate is checked against the name the endpoint was registered with.
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Answer:
    status: int
    latency_ms: int


def post_json(*, url: str, body: bytes, headers: dict[str, str], timeout: float) -> Answer:
    """POST `body` to `url` after the check, connected to the checked address; no redirects.

    Raises UnsafeURL for a refused target and OSError (socket.timeout included) or
    http.client.HTTPException for a transport failure.
    """
    target = url_resolve(url)
    connection_class = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(target, timeout)
    started = time.perf_counter()
    try:
        connection.request("POST", target.path, body=body, headers=headers)
        response = connection.getresponse()
        response.read(64 * 1024)  # a bounded read, so a chatty receiver cannot hold the worker
        status = response.status
    finally:
        connection.close()
    return Answer(status=status, latency_ms=round((time.perf_counter() - started) * 1000))
