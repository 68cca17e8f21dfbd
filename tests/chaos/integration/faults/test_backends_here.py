"""Each fault's backend probe answers for this machine (the probes start processes and mount namespaces)."""

from __future__ import annotations

from chaos.faults import disk, vram


def test_backends_say_what_works_on_this_machine() -> None:
    """disk.full and vram.exhaust list every backend with None (works) or the reason it cannot run here."""
    disk_backends = disk.DiskFull.backends()
    assert set(disk_backends) == {"overlay-namespace", "tmpfs-namespace", "pyfakefs", "filler"}
    assert disk_backends["filler"] is None
    vram_backends = vram.VramExhaust.backends()
    assert vram_backends["fake"] is None
    assert vram_backends["cuda-hog"] == vram.cuda_hog_availability()
