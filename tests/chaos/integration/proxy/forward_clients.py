"""One download by a real HTTP client, run as its own process: ``python forward_clients.py CLIENT URL OUT``.

CLIENT is ``requests``, ``httpx`` or ``hf`` (``hf_hub_download``: URL is ``repo_id/filename`` and HF_ENDPOINT
names the hub). Each honours HTTPS_PROXY/HTTP_PROXY and SSL_CERT_FILE/REQUESTS_CA_BUNDLE from the environment,
as it would in a user's CI job. Prints one JSON line: ``{"ok": size}`` or ``{"error": "ExceptionType: ..."}``.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path


def fetch(client: str, url: str, out: Path) -> int:
    if client == "requests":
        import requests

        response = requests.get(url, timeout=60)
        response.raise_for_status()
        out.write_bytes(response.content)
    elif client == "httpx":
        import httpx

        reply = httpx.get(url, timeout=60)
        reply.raise_for_status()
        out.write_bytes(reply.content)
    elif client == "hf":
        from huggingface_hub import hf_hub_download

        repo_id, _, filename = url.rpartition("/")
        shutil.copyfile(hf_hub_download(repo_id, filename), out)
    else:
        raise SystemExit(f"unknown client {client!r}")
    return out.stat().st_size


def main() -> None:
    client, url, out = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    try:
        result: dict[str, object] = {"ok": fetch(client, url, out)}
    except Exception as error:  # the test reads which error the client raised
        result = {"error": f"{type(error).__name__}: {error}"[:500]}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
