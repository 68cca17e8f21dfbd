"""chaos: a pluggy-based pytest harness that injects real faults into real installs.

Facade only: every public name is re-exported here from the module that owns it.
"""

from __future__ import annotations

from chaos.command import CommandFailed, CommandResult, CommandRun
from chaos.errors import (
    ChaosError,
    FaultArmError,
    FaultParamError,
    ProxyError,
    TargetError,
    UnknownFaultError,
    UnsupportedFault,
)
from chaos.fault import Fault, FaultContext, FaultRegistry, Param
from chaos.hookspecs import hookimpl
from chaos.inject import Chaos, inject
from chaos.installs import verify_hf_cache, verify_pip
from chaos.proxy import EmbeddedToxiproxy, ProxyHandle
from chaos.targets import HubServer, HubSpec, IndexSpec, PackageIndex, PackageSpec
from chaos.trials import Trial
from resilience_core.recovery.taxonomy import Outcome

__all__ = [
    "Chaos",
    "ChaosError",
    "CommandFailed",
    "CommandResult",
    "CommandRun",
    "EmbeddedToxiproxy",
    "Fault",
    "FaultArmError",
    "FaultContext",
    "FaultParamError",
    "FaultRegistry",
    "HubServer",
    "HubSpec",
    "IndexSpec",
    "Outcome",
    "PackageIndex",
    "PackageSpec",
    "Param",
    "ProxyError",
    "ProxyHandle",
    "TargetError",
    "Trial",
    "UnknownFaultError",
    "UnsupportedFault",
    "hookimpl",
    "inject",
    "verify_hf_cache",
    "verify_pip",
]
