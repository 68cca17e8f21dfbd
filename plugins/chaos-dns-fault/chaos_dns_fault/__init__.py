"""``dns.fail``: name resolution fails for chosen hostnames, in this process (an example third-party plugin).

The fault replaces ``socket.getaddrinfo`` for the block; lookups of the chosen hosts raise ``socket.gaierror``
(``EAI_NONAME``: the name does not exist, or ``EAI_AGAIN``: the resolver is unreachable), every other lookup
goes to the real resolver. ``verify_reverted`` proves the original function is back.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from typing import Any

from chaos import Fault, FaultContext, FaultRegistry, Param, hookimpl

__all__ = ["DnsFail", "chaos_add_faults"]

_ERRORS = {
    "noname": (socket.EAI_NONAME, "Name or service not known"),
    "again": (socket.EAI_AGAIN, "Temporary failure in name resolution"),
}


class DnsFail(Fault):
    """Make ``socket.getaddrinfo`` fail for ``hosts`` (all hosts when empty) while the block runs."""

    name = "dns.fail"
    summary = "Name resolution fails for chosen hostnames (in-process socket.getaddrinfo patch)."
    params = (
        Param("hosts", tuple, (), "hostnames that fail to resolve, e.g. 'huggingface.co,pypi.org'; empty: all"),
        Param(
            "error",
            str,
            "noname",
            "noname: EAI_NONAME (no such host); again: EAI_AGAIN (resolver down)",
            choices=tuple(_ERRORS),
        ),
        Param("failures", int, 0, "fail only the first N matching lookups, then resolve (0: fail all)", minimum=0),
    )

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self.failed_lookups = 0
        self._original: Any = None
        self._lock = threading.Lock()

    def _matches(self, host: object) -> bool:
        hosts = self.values["hosts"]
        name = host.decode() if isinstance(host, bytes) else str(host)
        return not hosts or name.lower().rstrip(".") in {h.lower().rstrip(".") for h in hosts}

    def arm(self, ctx: FaultContext) -> Iterator[None]:
        """Patch ``socket.getaddrinfo`` for the block; the original is restored on exit, also on exception."""
        original = socket.getaddrinfo
        self._original = original
        code, message = _ERRORS[self.values["error"]]
        limit = self.values["failures"]

        def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
            if self._matches(host):
                with self._lock:
                    fail = not limit or self.failed_lookups < limit
                    if fail:
                        self.failed_lookups += 1
                        self.triggered = True
                if fail:
                    ctx.note("dns.fail.lookup", host=str(host))
                    raise socket.gaierror(code, message)
            return original(host, *args, **kwargs)

        socket.getaddrinfo = getaddrinfo
        self.backend = "getaddrinfo-patch"
        try:
            yield
        finally:
            socket.getaddrinfo = original

    def verify_reverted(self, ctx: FaultContext) -> list[str]:
        """Residue: ``socket.getaddrinfo`` is still the patched function."""
        if self._original is not None and socket.getaddrinfo is not self._original:
            return [f"socket.getaddrinfo is still patched ({socket.getaddrinfo!r})"]
        return []


@hookimpl
def chaos_add_faults(registry: FaultRegistry) -> None:
    """Register ``dns.fail``."""
    registry.register(DnsFail)
