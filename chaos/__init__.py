"""chaos: a pluggy-based pytest harness that injects real faults into real installs.

Facade only: every public name is re-exported here from the module that owns it.
"""

from __future__ import annotations

from chaos.errors import ChaosError, FaultParamError, ProxyError, TargetError, UnsupportedFault
from chaos.proxy import EmbeddedToxiproxy, ProxyHandle
from chaos.targets import HubServer, HubSpec, IndexSpec, PackageIndex, PackageSpec
from resilience_core.taxonomy import Outcome

__all__ = [
    "ChaosError",
    "EmbeddedToxiproxy",
    "FaultParamError",
    "HubServer",
    "HubSpec",
    "IndexSpec",
    "Outcome",
    "PackageIndex",
    "PackageSpec",
    "ProxyError",
    "ProxyHandle",
    "TargetError",
    "UnsupportedFault",
]
