"""The one line format every benchmark prints, so `make bench` output reads as a table."""

from __future__ import annotations


def figure(
    name: str,
    value: float,
    unit: str,
    *,
    anchor: str = "",
    ratio: float | None = None,
    target: str = "",
    ok: bool | None = None,
) -> None:
    """Print one figure: its value, the anchor it is compared with, the ratio, the target and a verdict."""
    parts = [f"{name}: {value:.4g} {unit}"]
    extra = []
    if anchor:
        extra.append(f"anchor {anchor}")
    if ratio is not None:
        extra.append(f"ratio {ratio:.3g}")
    if target:
        extra.append(f"target {target}")
    if extra:
        parts.append("(" + ", ".join(extra) + ")")
    if ok is not None:
        parts.append("PASS" if ok else "MISS")
    print("   " + " ".join(parts), flush=True)
