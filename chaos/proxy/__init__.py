"""An embedded, Toxiproxy-compatible network fault proxy: REST API, TCP links and toxics (see docs/proxy.md)."""

from __future__ import annotations

from chaos.proxy.kinds import KINDS as TOXIC_TYPES
from chaos.proxy.model import ApiError
from chaos.proxy.server import EmbeddedToxiproxy, ProxyHandle

__all__ = ["TOXIC_TYPES", "ApiError", "EmbeddedToxiproxy", "ProxyHandle"]
