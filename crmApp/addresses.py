"""The client's network address, the one every per-address decision uses.

Rate limits, failed-login counters, the request log line and a session's `ip_address` all read
`client_address(request)`. `X-Forwarded-For` is a list any client can start: only the entries
appended by our own proxies are trustworthy. With `TRUSTED_PROXY_COUNT = n` proxies in front,
the last proxy is `REMOTE_ADDR` and the client is the n-th entry from the right (each proxy
appends the address it received the request from). With 0, the header is ignored.
"""

import ipaddress

from django.conf import settings


def _canonical(candidate: str) -> str | None:
    """`candidate` as one canonical IP address (so spellings of one address count together)."""
    text = candidate.strip()
    if text.startswith("[") and "]" in text:  # "[v6]:port"
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # "v4:port"
        text = text.split(":", 1)[0]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return None


def client_address(request) -> str | None:
    """The address of the client of `request` (a Django or DRF request), or None when unknown.

    Falls back to `REMOTE_ADDR` when the header holds fewer entries than there are trusted
    proxies (the request reached us by another way) or the trusted entry is not an address:
    neither case lets a client choose the answer.
    """
    meta = request.META
    remote = meta.get("REMOTE_ADDR") or ""
    remote_address = _canonical(remote) or (remote or None)
    hops = settings.TRUSTED_PROXY_COUNT
    if hops <= 0:
        return remote_address
    forwarded = [part for part in meta.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    if len(forwarded) < hops:
        return remote_address
    return _canonical(forwarded[-hops]) or remote_address
