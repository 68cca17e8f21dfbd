"""The hub serving a user's real files (``from_dir`` / ``hub serve --from-cache``) to real huggingface_hub."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import pytest

from chaos import HubServer, HubSpec, verify_hf_cache
from chaos.errors import TargetError
from chaos.targets import RepoSpec, model_repo

pytestmark = pytest.mark.integration

REPO = "acme/real"
CLIENT = Path(__file__).with_name("hf_client.py")


def _hf(endpoint: str, hf_home: Path, calls: Sequence[Mapping[str, object]]) -> list[dict[str, object]]:
    """Real huggingface_hub calls in a fresh process pointed at ``endpoint`` with its own HF_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update(HF_ENDPOINT=endpoint, HF_HOME=str(hf_home), HF_HUB_DISABLE_XET="1", HF_HUB_DISABLE_TELEMETRY="1")
    done = subprocess.run(
        [sys.executable, str(CLIENT), json.dumps(calls)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results: list[dict[str, object]] = json.loads(done.stdout)
    return results


@pytest.fixture(scope="module")
def real_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, HubServer]]:
    """An HF cache written by a real snapshot_download from a generated hub (which stays up for comparison)."""
    spec = HubSpec(repos=(model_repo(REPO, shards=2, shard_size_bytes=40_000),), seed=21)
    with HubServer(spec, root=tmp_path_factory.mktemp("origin")) as origin:
        home = tmp_path_factory.mktemp("user-home")
        [result] = _hf(origin.url, home, [{"op": "snapshot_download", "args": [REPO]}])
        assert "ok" in result, result
        yield home / "hub", origin


def _head(url: str) -> dict[str, str]:
    request = urllib.request.Request(url, method="HEAD")
    opener = urllib.request.build_opener(_NoRedirect)
    with opener.open(request, timeout=10) as response:
        return dict(response.headers)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def test_a_cache_snapshot_is_served_under_its_own_commit(real_cache: tuple[Path, HubServer], tmp_path: Path) -> None:
    cache, origin = real_cache
    spec = HubSpec(repos=(RepoSpec(REPO, files=(), from_dir=str(cache)),))
    with HubServer(spec) as hub:
        assert hub.commit(REPO) == origin.commit(REPO)
        for path, served in hub.files(REPO).items():
            assert served.sha256 == origin.file(REPO, path).sha256
            assert served.etag == origin.file(REPO, path).etag
        home = tmp_path / "fresh"
        calls = [{"op": "hf_hub_download", "args": [REPO, path]} for path in sorted(hub.files(REPO))]
        results = _hf(hub.url, home, calls)
        for path, result in zip(sorted(hub.files(REPO)), results, strict=True):
            assert Path(str(result["ok"])).read_bytes() == origin.file(REPO, path).read_bytes()
        assert verify_hf_cache(home, repos=[REPO], hub=hub) == []
        assert verify_hf_cache(home, repos=[REPO], hub=origin) == []  # the very same commit and hashes


def test_a_plain_folder_is_served_with_true_sha256_etags(tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    (folder / "sub").mkdir(parents=True)
    weights = os.urandom(70_000)
    (folder / "model.safetensors").write_bytes(weights)
    (folder / "config.json").write_text('{"hidden": 8}')
    (folder / "sub" / "notes.txt").write_text("hello")
    (folder / ".cache" / "huggingface").mkdir(parents=True)  # a --local-dir's metadata is not served
    (folder / ".cache" / "huggingface" / "x.metadata").write_text("x")
    spec = HubSpec(repos=(RepoSpec("me/plain", files=(), from_dir=str(folder)),))
    with HubServer(spec) as hub:
        assert sorted(hub.files("me/plain")) == ["config.json", "model.safetensors", "sub/notes.txt"]
        headers = _head(f"{hub.url}/me/plain/resolve/main/model.safetensors")
        etag = headers.get("X-Linked-Etag") or headers["ETag"]
        assert etag.strip('"') == hashlib.sha256(weights).hexdigest()
        [result] = _hf(
            hub.url, tmp_path / "home", [{"op": "hf_hub_download", "args": ["me/plain", "model.safetensors"]}]
        )
        assert Path(str(result["ok"])).read_bytes() == weights
        assert verify_hf_cache(tmp_path / "home", repos=["me/plain"], hub=hub, files=["model.safetensors"]) == []


def test_unsafe_folders_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each refusal is one TargetError, and a hub that made its own temporary root removes it again."""
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))  # where HubServer(spec) makes its chaos-hub-* root
    outside = tmp_path / "secret.txt"
    outside.write_text("not yours")
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    (folder / "leak.txt").symlink_to(outside)
    spec = HubSpec(repos=(RepoSpec("me/leaky", files=(), from_dir=str(folder)),))
    with pytest.raises(TargetError, match=r"from_dir file 'leak.txt' links outside"):
        HubServer(spec)
    (folder / "leak.txt").unlink()
    (folder / "bad:name").write_text("x")
    with pytest.raises(TargetError, match=r"from_dir file 'bad:name' must be a relative path"):
        HubServer(spec)
    with pytest.raises(TargetError, match=r"repos\[0\]\.from_dir='/nonexistent' is not a folder"):
        HubServer(HubSpec(repos=(RepoSpec("me/none", files=(), from_dir="/nonexistent"),)))
    with pytest.raises(TargetError, match=r"repos\[0\]\.files=\d+ must be empty with from_dir; fix"):
        HubSpec(repos=(RepoSpec("me/both", files=model_repo("x/y").files, from_dir=str(folder)),))
    assert list(scratch.iterdir()) == []  # three refused hubs, no temporary root left behind


def test_a_spec_file_key_reads_from_dir_beside_it(tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    (tmp_path / "weights" / "config.json").write_text('{"a": 1}')
    spec_file = tmp_path / "repos.toml"
    spec_file.write_text('[[repos]]\nrepo_id = "me/spec"\nfrom_dir = "weights"\n')
    with HubServer(spec_file) as hub:
        assert hub.file("me/spec", "config.json").read_bytes() == b'{"a": 1}'
    spec_file.write_text('[[repos]]\nrepo_id = "me/spec"\nfrom_dir = "weights"\n[[repos.files]]\npath = "a.json"\n')
    with pytest.raises(TargetError, match=r"repos\[0\]\.files is set with from_dir='weights'; fix: keep one"):
        HubSpec.from_toml(spec_file)


def test_hub_serve_from_cache_cli(real_cache: tuple[Path, HubServer], tmp_path: Path) -> None:
    cache, origin = real_cache
    command = [sys.executable, "-m", "chaos.cli", "hub", "serve", "--from-cache", str(cache), "--repo", REPO]
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) as process:
        try:
            assert process.stdout is not None
            lines = []
            for line in process.stdout:
                lines.append(line)
                if "serving on" in line:
                    break
            match = re.search(r"serving on (http://127\.0\.0\.1:\d+)", lines[-1])
            assert match, "".join(lines)
            assert any(f"{REPO} @ main = {origin.commit(REPO)}" in line for line in lines)
            [result] = _hf(
                match.group(1), tmp_path / "home", [{"op": "hf_hub_download", "args": [REPO, "config.json"]}]
            )
            assert Path(str(result["ok"])).read_bytes() == origin.file(REPO, "config.json").read_bytes()
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                assert process.wait(timeout=10) == -signal.SIGTERM
            finally:
                process.kill()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from-cache", "/tmp"], "--from-cache '/tmp' needs --repo ID"),
        ([], "hub serve needs --spec FILE or --from-cache DIR"),
        (["--spec", "x.toml", "--repo", "a/b"], "--repo 'a/b' goes with --from-cache"),
    ],
)
def test_hub_serve_from_cache_bad_arguments(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "chaos.cli", "hub", "serve", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode != 0
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
