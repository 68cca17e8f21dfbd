"""Model download under connection resets: bytes on the wire and wall time, ours vs plain huggingface_hub.

All in one run, against a local hub behind the embedded Toxiproxy:

- anchor: plain ``huggingface_hub.snapshot_download`` with no fault (wire bytes / repo bytes, wall time);
- ``ensure_model`` with no fault (same figures, ratio to the anchor's time);
- both under ``reset_peer`` after N bytes, N set so every shard sees 5 resets: huggingface_hub 2.4 fails
  (a mid-body RST is not retried), ``ensure_model`` must finish with wire bytes <= 1.02x the repo size.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("HF_HUB_DISABLE_XET", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

from benchmarks._report import figure

REPO = "acme/bench-model"
SHARD_BYTES = 8_000_000
SHARDS = 3
RESETS_PER_FILE = 5


def main() -> None:
    """Measure and print the figures (see the module docstring)."""
    from huggingface_hub import snapshot_download

    from chaos.proxy import EmbeddedToxiproxy
    from chaos.targets import HubServer, HubSpec, model_repo
    from resilience_core.hub import ensure_model, verify_model
    from resilience_core.recovery.runtime import Runtime

    spec = HubSpec(repos=(model_repo(REPO, shards=SHARDS, shard_size_bytes=SHARD_BYTES),), seed=5)
    with tempfile.TemporaryDirectory(prefix="bench-download-") as tmp_name:
        tmp = Path(tmp_name)
        with HubServer(spec, root=tmp / "hub", cdn=False) as hub, EmbeddedToxiproxy(seed=5) as toxiproxy:
            proxy = toxiproxy.create_proxy("hub", upstream=f"127.0.0.1:{hub.port}", listen="127.0.0.1:0")
            url = f"http://{proxy.listen}"
            repo_bytes = sum(f.size_bytes for f in hub.files(REPO).values())

            def wire_since(start: int) -> float:
                return (proxy.bytes_downstream - start) / repo_bytes

            start, t0 = proxy.bytes_downstream, time.perf_counter()
            snapshot_download(REPO, cache_dir=tmp / "hf-clean", endpoint=url)
            hf_clean_s, hf_clean_wire = time.perf_counter() - t0, wire_since(start)
            figure("huggingface_hub, no fault: wire/size", hf_clean_wire, "x")
            figure("huggingface_hub, no fault: wall time", hf_clean_s, "s")

            start, t0 = proxy.bytes_downstream, time.perf_counter()
            ensure_model(REPO, sources=[url], cache_dir=tmp / "ours-clean", runtime=Runtime())
            ours_clean_s, ours_clean_wire = time.perf_counter() - t0, wire_since(start)
            figure(
                "ensure_model, no fault: wire/size", ours_clean_wire, "x", target="<= 1.02", ok=ours_clean_wire <= 1.02
            )
            figure(
                "ensure_model, no fault: wall time",
                ours_clean_s,
                "s",
                anchor=f"huggingface_hub {hf_clean_s:.3g} s",
                ratio=ours_clean_s / hf_clean_s,
            )

            after_bytes = int(SHARD_BYTES / (RESETS_PER_FILE + 0.5))
            proxy.add_toxic("reset_peer", stream="downstream", attributes={"after_bytes": after_bytes, "timeout": 0})
            start, t0 = proxy.bytes_downstream, time.perf_counter()
            try:
                snapshot_download(REPO, cache_dir=tmp / "hf-resets", endpoint=url)
                hf_outcome = "completed"
            except Exception as error:  # the anchor is expected to fail; any failure counts
                hf_outcome = f"failed ({type(error).__name__})"
            hf_reset_s = time.perf_counter() - t0
            print(
                f"   huggingface_hub, {RESETS_PER_FILE} resets/shard: {hf_outcome} after {hf_reset_s:.2f} s", flush=True
            )

            start, t0 = proxy.bytes_downstream, time.perf_counter()
            result = ensure_model(REPO, sources=[url], cache_dir=tmp / "ours-resets", runtime=Runtime())
            ours_reset_s, ours_reset_wire = time.perf_counter() - t0, wire_since(start)
            verified = verify_model(REPO, cache_dir=tmp / "ours-resets").ok
            figure(
                f"ensure_model, {RESETS_PER_FILE} resets/shard: wire/size",
                ours_reset_wire,
                "x",
                anchor=f"huggingface_hub {hf_outcome}",
                target="<= 1.02 and verified",
                ok=verified and ours_reset_wire <= 1.02 and result.total_bytes == repo_bytes,
            )
            figure(
                f"ensure_model, {RESETS_PER_FILE} resets/shard: wall time",
                ours_reset_s,
                "s",
                anchor=f"no-fault ensure_model {ours_clean_s:.3g} s",
                ratio=ours_reset_s / ours_clean_s,
            )


if __name__ == "__main__":
    main()
