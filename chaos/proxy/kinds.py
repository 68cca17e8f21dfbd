"""The registry of toxic types by name: Toxiproxy's eight, then the ones beyond it.

A custom toxic is a :class:`chaos.proxy.toxics.ToxicKind` subclass instance added here under its ``type_name``;
its ``fields`` are the one schema of its attributes (the API, the docs and the network faults read them).
"""

from __future__ import annotations

from chaos.proxy.beyond import BEYOND_KINDS
from chaos.proxy.standard import TOXIPROXY_KINDS
from chaos.proxy.toxics import ToxicKind

__all__ = ["KINDS"]

KINDS: dict[str, ToxicKind] = {kind.type_name: kind for kind in (*TOXIPROXY_KINDS, *BEYOND_KINDS)}
