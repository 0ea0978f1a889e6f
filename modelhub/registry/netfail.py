"""Telling "the network is not there" from "the network hiccupped".

A host name that does not resolve, a refused connection and no route to the
host give the same answer on every retry: they fail at once, as
:class:`~modelhub.errors.Unreachable`.  A timeout, a reset or a dropped
connection may pass and stays a retried ``Transient``.  requests/urllib3,
botocore and httpx (huggingface_hub) each wrap the socket error differently,
so the chain of causes, context and wrapped arguments is searched.
"""

from __future__ import annotations

import errno
import socket
from urllib.parse import urlparse

from modelhub.errors import Unreachable

_UNREACHABLE_ERRNOS = {
    errno.ECONNREFUSED: "refused",
    errno.ENETUNREACH: "unreachable",
    errno.EHOSTUNREACH: "unreachable",
    errno.EADDRNOTAVAIL: "unreachable",
}
# Phrases the clients put in place of the original exception object.
_PHRASES = (
    ("name or service not known", "dns"),
    ("nodename nor servname", "dns"),
    ("temporary failure in name resolution", "dns"),
    ("failed to resolve", "dns"),
    ("name resolution", "dns"),
    ("no address associated with hostname", "dns"),
    ("getaddrinfo failed", "dns"),
    ("connection refused", "refused"),
    ("network is unreachable", "unreachable"),
    ("no route to host", "unreachable"),
)
_TIMEOUT_WORDS = ("timed out", "timeout")


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[object] = [exc]
    while todo and len(seen) < 32:
        e = todo.pop()
        if not isinstance(e, BaseException) or any(e is s for s in seen):
            continue
        seen.append(e)
        todo += [e.__cause__, e.__context__, getattr(e, "reason", None)]
        todo += [a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]
        kwargs = getattr(e, "kwargs", None)  # botocore keeps the original here
        if isinstance(kwargs, dict):
            todo += [v for v in kwargs.values() if isinstance(v, BaseException)]
    return seen


def why_unreachable(exc: BaseException) -> str | None:
    """``"dns"``, ``"refused"`` or ``"unreachable"`` when ``exc`` says the
    host cannot be reached at all; ``None`` for anything worth a retry."""
    chain = _chain(exc)
    for e in chain:
        if isinstance(e, socket.timeout | TimeoutError):
            return None
        if "Timeout" in type(e).__name__:
            return None
    for e in chain:
        if isinstance(e, socket.gaierror):
            return "dns"
        if type(e).__name__ == "NameResolutionError":  # urllib3 2
            return "dns"
        if isinstance(e, ConnectionRefusedError):
            return "refused"
        if isinstance(e, OSError) and e.errno in _UNREACHABLE_ERRNOS:
            return _UNREACHABLE_ERRNOS[e.errno]
    text = " ".join(str(e) for e in chain).lower()
    if any(w in text for w in _TIMEOUT_WORDS):
        return None
    for phrase, reason in _PHRASES:
        if phrase in text:
            return reason
    return None


def describe(reason: str, host: str | None) -> str:
    h = host or "the host"
    return {
        "dns": f"cannot resolve host {h}",
        "refused": f"connection refused by {h}",
    }.get(reason, f"no route to {h}")


def unreachable(exc: BaseException, url: str, host: str | None = None) -> Unreachable | None:
    """An :class:`Unreachable` for ``url`` when ``exc`` says it cannot be
    reached, else ``None``."""
    reason = why_unreachable(exc)
    if reason is None:
        return None
    if host is None:
        u = urlparse(url)
        host = u.hostname
        if host and u.port:
            host = f"{host}:{u.port}"
    return Unreachable(f"{url}: {describe(reason, host)}", url=url, host=host, reason=reason)
