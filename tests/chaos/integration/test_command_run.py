"""chaos.run: a real command under several armed faults at once, the rerun rule, routing and the outcome rule."""

from __future__ import annotations

import contextlib
import os
import pathlib
import sys
from collections.abc import Iterator

import psutil
import pytest

from chaos import ChaosError, EmbeddedToxiproxy, HubServer, HubSpec, Outcome
from chaos.command import CommandFailed
from chaos.faults.disk import namespace_support
from chaos.inject import Chaos
from chaos.manager import ChaosManager
from chaos.targets import model_repo
from chaos.trials import Trial

pytestmark = pytest.mark.integration

REPO = "acme/tiny"
WEIGHTS = "diffusion_pytorch_model.safetensors"
needs_namespace = pytest.mark.skipif(
    namespace_support()[0] is None, reason=f"no private mount namespace: {namespace_support()[1]}"
)

# A resumable writer: repairs data.bin when its hash is wrong, then appends out.bin in 20 kB steps up to 400 kB.
WRITER = """
import hashlib, os, sys, time
root = sys.argv[1]
data = os.path.join(root, "data.bin")
good = bytes(range(256)) * 64
if hashlib.sha256(open(data, "rb").read()).hexdigest() != hashlib.sha256(good).hexdigest():
    print("data.bin damaged: rewriting it", file=sys.stderr)
    with open(data, "wb") as f:
        f.write(good)
out = os.path.join(root, "out.bin")
have = os.path.getsize(out) if os.path.exists(out) else 0
print("resuming at", have, flush=True)
with open(out, "ab") as f:
    while have < 400_000:
        f.write(b"x" * 20_000)
        f.flush()
        have += 20_000
        time.sleep(0.02)
print("done", have)
"""


@pytest.fixture(scope="module")
def manager() -> ChaosManager:
    return ChaosManager.build()


@pytest.fixture(scope="module")
def proxy() -> Iterator[EmbeddedToxiproxy]:
    with EmbeddedToxiproxy(seed=3) as server:
        yield server


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    spec = HubSpec(repos=(model_repo(REPO, shards=1, shard_size_bytes=600_000),), seed=5)
    with HubServer(spec, root=tmp_path_factory.mktemp("hub")) as server:
        yield server


def _handle(manager: ChaosManager, tmp_path: pathlib.Path, proxy: EmbeddedToxiproxy | None = None) -> Chaos:
    trial = Trial(scenario="test_command_run", index=0, seed=17)
    return Chaos(trial, workdir=tmp_path / "work", make_fault=manager.make_fault, get_proxy=lambda: proxy)


def test_process_kill_and_file_corrupt_reach_one_command(manager: ChaosManager, tmp_path: pathlib.Path) -> None:
    """Both faults fire on the same chaos.run: the file is damaged, the process is killed, the rerun repairs."""
    root = tmp_path / "install"
    root.mkdir()
    good = bytes(range(256)) * 64
    (root / "data.bin").write_bytes(good)
    chaos = _handle(manager, tmp_path)
    with (
        chaos.inject("file.corrupt", root=str(root), glob="data.bin", mode="bitflip", when="before"),
        chaos.inject("process.kill", min_s=0.1, max_s=0.2, target={"kind": "subprocess"}),
    ):
        result = chaos.run([sys.executable, "-c", WRITER, str(root)], timeout_s=60)
    assert set(result.fired) == {"file.corrupt", "process.kill"}
    assert result.killed
    assert len(result.runs) == 2
    first, second = result.runs
    assert first.killed
    assert first.returncode < 0
    assert "data.bin damaged" in first.stderr_tail
    assert not second.killed
    assert second.returncode == 0
    assert "resuming at 0" not in second.stdout_tail  # the rerun resumed what the killed run had written
    assert result.ok
    assert (root / "data.bin").read_bytes() == good
    assert (root / "out.bin").stat().st_size == 400_000
    notes = [note for note in chaos.trial.notes() if note["event"] == "command.run"]
    assert [note["data"]["killed"] for note in notes] == [True, False]
    assert notes[0]["data"]["fired"] == ["file.corrupt", "process.kill"]
    assert chaos.settle(result, []) == Outcome.RECOVERED
    assert chaos.finish() == []


def test_rerun_never_keeps_the_killed_run(manager: ChaosManager, tmp_path: pathlib.Path) -> None:
    root = tmp_path / "install"
    root.mkdir()
    (root / "data.bin").write_bytes(bytes(range(256)) * 64)
    chaos = _handle(manager, tmp_path)
    with chaos.inject("process.kill", min_s=0.05, max_s=0.1):
        result = chaos.run([sys.executable, "-c", WRITER, str(root)], rerun="never", timeout_s=60)
    assert result.killed
    assert len(result.runs) == 1
    assert result.returncode < 0
    assert result.outcome([]) == Outcome.FAILED_DIRTY  # killed silently: no message for the user
    with pytest.raises(CommandFailed):
        chaos.settle(result, [])
    assert any("wrote nothing to stderr" in item for item in chaos.trial.residue)


@needs_namespace
def test_disk_full_and_reset_peer_reach_one_curl_installer(
    manager: ChaosManager, proxy: EmbeddedToxiproxy, hub: HubServer, tmp_path: pathlib.Path
) -> None:
    """A shell installer retrying `curl -C -` through the proxy: the first try is reset mid-body, the second
    resumes and runs the disk full; both faults reach the one command."""
    proxy.create_proxy("hub-cmd", upstream=f"127.0.0.1:{hub.port}", listen="127.0.0.1:0")
    local = tmp_path / "local"
    local.mkdir()
    chaos = _handle(manager, tmp_path, proxy)
    installer = (
        f'url="$HF_ENDPOINT/{REPO}/resolve/main/{WEIGHTS}"\n'
        'for try in 1 2 3; do curl -sSf -C - -o "$0/w.bin" "$url" && exit 0; echo "try $try failed" >&2; done\n'
        "exit 1\n"
    )
    with (
        chaos.inject("disk.full", path=str(local), free_bytes=150_000, target={"kind": "subprocess"}),
        chaos.inject("network.reset_peer", proxy="hub-cmd", after_bytes=100_000),
    ):
        result = chaos.run(["sh", "-c", installer, str(local)], hub="hub-cmd", timeout_s=120)
    assert set(result.fired) == {"disk.full", "network.reset_peer"}, result.stderr_tail
    assert result.returncode == 1
    assert "Connection reset by peer" in result.stderr_tail
    assert "Failure writing output" in result.stderr_tail or "No space left" in result.stderr_tail
    assert not result.killed
    faults = {fault.name: fault for fault in chaos.trial.faults}
    assert faults["disk.full"].triggered
    assert faults["network.reset_peer"].triggered
    assert faults["disk.full"].backend == "tmpfs-namespace"
    assert result.outcome([]) == Outcome.FAILED_CLEAN  # curl said why on stderr; the tmpfs is gone with the run
    assert chaos.finish() == []


def test_route_points_clients_at_the_proxy_and_isolates_pip(
    manager: ChaosManager, proxy: EmbeddedToxiproxy, hub: HubServer, tmp_path: pathlib.Path
) -> None:
    handle = proxy.create_proxy("hub-route", upstream=f"127.0.0.1:{hub.port}", listen="127.0.0.1:0")
    chaos = _handle(manager, tmp_path, proxy)
    base = {"PATH": "/usr/bin:/bin", "PIP_EXTRA_INDEX_URL": "https://elsewhere/simple", "HF_TOKEN": "hf_secret"}
    env = chaos.route(hub="hub-route", index="http://127.0.0.1:9/simple/", env=base)
    assert env["HF_ENDPOINT"] == f"http://127.0.0.1:{handle.port}"
    assert env["HF_HUB_DISABLE_XET"] == "1"
    assert env["HF_HOME"] == str(tmp_path / "work" / "hf-home")
    assert "HF_TOKEN" not in env
    assert "PIP_EXTRA_INDEX_URL" not in env
    assert env["PIP_INDEX_URL"] == "http://127.0.0.1:9/simple/"
    assert env["PIP_TRUSTED_HOST"] == "127.0.0.1"
    assert "127.0.0.1" in env["NO_PROXY"].split(",")
    # A real client under the routed env fetches through the proxy: the hub's bytes, counted by the proxy.
    script = f"import sys; from huggingface_hub import hf_hub_download; print(hf_hub_download({REPO!r}, 'config.json'))"
    before = handle.bytes_downstream
    result = chaos.run([sys.executable, "-c", script], env=env, timeout_s=120)
    assert result.ok, result.stderr_tail
    downloaded = pathlib.Path(result.stdout_tail.strip().splitlines()[-1])
    assert downloaded.read_bytes() == hub.file(REPO, "config.json").read_bytes()
    assert str(downloaded).startswith(str(tmp_path / "work" / "hf-home"))
    assert handle.bytes_downstream > before


def test_output_is_bounded_and_input_is_fed(manager: ChaosManager, tmp_path: pathlib.Path) -> None:
    chaos = _handle(manager, tmp_path)
    script = "import sys; data = sys.stdin.read(); sys.stdout.write('y' * 100_000 + data); sys.exit(3)"
    result = chaos.run([sys.executable, "-c", script], input="tail-marker", tail_bytes=1024, timeout_s=60)
    assert result.returncode == 3
    assert len(result.stdout_tail) == 1024
    assert result.stdout_tail.endswith("tail-marker")
    assert result.outcome([]) == Outcome.FAILED_DIRTY  # exit 3 with nothing on stderr


def test_a_failing_command_with_a_message_is_failed_clean(manager: ChaosManager, tmp_path: pathlib.Path) -> None:
    chaos = _handle(manager, tmp_path)
    script = "import sys; print('error: the disk is full of your own files; free 2 GB', file=sys.stderr); sys.exit(1)"
    result = chaos.run([sys.executable, "-c", script], timeout_s=60)
    assert result.outcome([]) == Outcome.FAILED_CLEAN
    assert result.outcome(["leftover file: x.incomplete"]) == Outcome.FAILED_DIRTY
    with pytest.raises(CommandFailed, match="free 2 GB"):
        chaos.settle(result, [])
    assert chaos.trial.user_message == "error: the disk is full of your own files; free 2 GB"
    assert chaos.trial.residue == []


def test_timeout_kills_the_process_group(manager: ChaosManager, tmp_path: pathlib.Path) -> None:
    chaos = _handle(manager, tmp_path)
    pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(60)\n"
    )
    result = chaos.run([sys.executable, "-c", script], timeout_s=2.0)
    assert result.timed_out
    assert result.outcome([]) == Outcome.FAILED_DIRTY
    child = int(pid_file.read_text())
    with contextlib.suppress(psutil.NoSuchProcess):
        _gone, alive = psutil.wait_procs([psutil.Process(child)], timeout=10)
        assert alive == [], "the timeout left the command's child running"


def test_a_missing_program_is_a_failed_run(manager: ChaosManager, tmp_path: pathlib.Path) -> None:
    chaos = _handle(manager, tmp_path)
    result = chaos.run([str(tmp_path / "no-such-installer")], timeout_s=10)
    assert result.returncode == 127
    assert "cannot start" in result.stderr_tail


def test_a_descendant_holding_the_pipes_does_not_hang_the_run(manager: ChaosManager, tmp_path: pathlib.Path) -> None:
    """The command exits but leaves a background child on its stdout: the run ends, the child is killed."""
    chaos = _handle(manager, tmp_path)
    pid_file = tmp_path / "bg.pid"
    result = chaos.run(["sh", "-c", f"sleep 60 & echo $! > {pid_file}; echo installed"], timeout_s=60)
    assert result.returncode == 0
    assert result.stdout_tail == "installed\n"
    assert not result.timed_out
    assert result.duration_s < 60
    with contextlib.suppress(psutil.NoSuchProcess):
        _gone, alive = psutil.wait_procs([psutil.Process(int(pid_file.read_text()))], timeout=10)
        assert alive == []


def test_forward_proxy_routing_lets_a_toxic_reach_an_unmodified_curl(
    manager: ChaosManager, proxy: EmbeddedToxiproxy, hub: HubServer, tmp_path: pathlib.Path
) -> None:
    """forward='fwd' sets HTTPS_PROXY/HTTP_PROXY: curl to the hub's own address goes through the forward proxy,
    and a reset_peer armed on it resets the download."""
    proxy.create_forward_proxy("fwd")
    chaos = _handle(manager, tmp_path, proxy)
    url = f"{hub.url}/{REPO}/resolve/main/{WEIGHTS}"
    argv = ["curl", "-sS", "-f", "-o", str(tmp_path / "w.bin"), url]
    env = chaos.route(forward="fwd")
    assert env["HTTP_PROXY"] == env["http_proxy"] == proxy.proxy("fwd").url
    assert env["NO_PROXY"] == ""
    with chaos.inject("network.reset_peer", proxy="fwd", after_bytes=50_000):
        result = chaos.run(argv, forward="fwd", timeout_s=60)
    assert result.fired == ("network.reset_peer",)
    assert result.returncode != 0
    assert "reset" in result.message.lower()
    clean = chaos.run(argv, forward="fwd", timeout_s=60)
    assert clean.ok, clean.stderr_tail
    assert (tmp_path / "w.bin").read_bytes() == hub.file(REPO, WEIGHTS).read_bytes()
    proxy.create_proxy("hub-x", upstream=f"127.0.0.1:{hub.port}", listen="127.0.0.1:0")
    with pytest.raises(ChaosError, match=r"cannot route through forward proxy 'hub-x': .*not a forward proxy"):
        chaos.route(forward="hub-x")


# Sees the fake GPU (vram shim) and the small disk (namespace) in one run: the namespace wrapper passes the
# shim's environment on, as command_order promises.
GPU_AND_DISK = """
import os, sys
import pynvml
pynvml.nvmlInit()
info = pynvml.nvmlDeviceGetMemoryInfo(pynvml.nvmlDeviceGetHandleByIndex(0))
print("vram", info.total, info.free, flush=True)
try:
    with open(os.path.join(sys.argv[1], "cache.bin"), "wb") as f:
        f.write(b"x" * 300_000)
except OSError as error:
    print("install: no space left for the cache:", error.strerror, file=sys.stderr)
    os.unlink(os.path.join(sys.argv[1], "cache.bin"))
    sys.exit(1)
"""


@needs_namespace
def test_disk_namespace_and_vram_shim_compose_in_one_command(manager: ChaosManager, tmp_path: pathlib.Path) -> None:
    """Armed VRAM first, disk second: chaos.run still wraps by command_order, and both reach the child."""
    pytest.importorskip("pynvml", reason="nvidia-ml-py (the gpu extra) is not installed")
    root = tmp_path / "cache"
    root.mkdir()
    chaos = _handle(manager, tmp_path)
    subprocess_target = {"kind": "subprocess"}
    with (
        chaos.inject(
            "vram.exhaust", backend="fake", free_bytes=300 << 20, total_bytes=8 << 30, target=subprocess_target
        ),
        chaos.inject("disk.full", path=str(root), free_bytes=100_000, target=subprocess_target),
    ):
        result = chaos.run([sys.executable, "-c", GPU_AND_DISK, str(root)], timeout_s=60)
    assert result.stdout_tail.split() == ["vram", str(8 << 30), str(300 << 20)], result.stderr_tail
    assert result.returncode == 1
    assert result.message == "install: no space left for the cache: No space left on device"
    assert set(result.fired) == {"vram.exhaust", "disk.full"}
    assert result.outcome([]) == Outcome.FAILED_CLEAN
    assert chaos.finish() == []


def test_routed_pip_reads_no_config_file_and_no_inherited_pip_variable(
    manager: ChaosManager, tmp_path: pathlib.Path
) -> None:
    """A user pip.conf adding an index, and an inherited PIP_FIND_LINKS, do not reach a routed pip."""
    (tmp_path / "xdg" / "pip").mkdir(parents=True)
    (tmp_path / "xdg" / "pip" / "pip.conf").write_text("[global]\nextra-index-url = https://elsewhere.example/simple\n")
    chaos = _handle(manager, tmp_path)
    base = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "xdg"), "PIP_FIND_LINKS": str(tmp_path / "wheels")}
    pip_config = [sys.executable, "-m", "pip", "config", "list"]
    unrouted = chaos.run(pip_config, env=base, timeout_s=60)
    assert "elsewhere.example" in unrouted.stdout_tail  # the file is real and pip reads it
    routed = chaos.run(pip_config, env=base, index="http://127.0.0.1:9/simple/", timeout_s=60)
    assert routed.ok, routed.stderr_tail
    assert "elsewhere.example" not in routed.stdout_tail
    assert "find-links" not in routed.stdout_tail
    assert ":env:.index-url='http://127.0.0.1:9/simple/'" in routed.stdout_tail
