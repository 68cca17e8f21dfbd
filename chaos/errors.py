"""Exceptions the chaos harness raises on its own behalf; all derive from :class:`ChaosError`."""

from __future__ import annotations

__all__ = [
    "ChaosError",
    "FaultArmError",
    "FaultParamError",
    "ProxyError",
    "TargetError",
    "UnknownFaultError",
    "UnsupportedFault",
]


class ChaosError(Exception):
    """Root of every error raised by the chaos harness itself."""


class FaultParamError(ChaosError, ValueError):
    """A fault was given a bad parameter; the message names the fault, the field, the value and the fix."""

    def __init__(self, message: str, *, fault: str = "", field: str = "", value: object = None) -> None:
        super().__init__(message)
        self.fault = fault
        self.field = field
        self.value = value


class UnknownFaultError(FaultParamError):
    """No fault is registered under the given name; the message suggests the closest registered one."""


class FaultArmError(ChaosError):
    """A valid fault could not be armed in this trial (its proxy does not exist, its target is missing, the
    backend refused); the trial is ``indeterminate``, not a recovery failure. ``fault`` names the fault."""

    def __init__(self, message: str, *, fault: str = "") -> None:
        super().__init__(message)
        self.fault = fault


class UnsupportedFault(ChaosError):
    """No backend for this fault works on this machine; the message says why (used as a skip reason)."""


class ProxyError(ChaosError):
    """The embedded proxy could not do what was asked (bind, create, talk to a real Toxiproxy)."""


class TargetError(ChaosError):
    """A local target server (hub, index) could not start or was given a bad spec."""
