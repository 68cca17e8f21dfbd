"""Fuzz every file parser of the harness: hub specs, index specs, proxy populate files, a hub root's manifest.

Budget: 100 examples per parser, Hypothesis deadline 2 s each, no example database. Inputs are generated specs
turned into TOML/JSON, then mutated (bytes cut, inserted, replaced) or prefixed with junk (deep brackets,
invalid UTF-8, NUL). Each example ends with a spec or one single-line error of the parser's own type
(TargetError, ProxyError); a hub root manifest is reused only when it proves its files, else ignored.
Afterwards the folder holds only what the example wrote itself: the parsers write nothing.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chaos.cli.proxy import load_config
from chaos.errors import ProxyError, TargetError
from chaos.targets import FileSpec, HubSpec, IndexSpec, RepoSpec, generate_repos

FUZZ = settings(
    max_examples=100,
    deadline=timedelta(seconds=2),
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

name = st.sampled_from(["acme/tiny", "a", "../x", "a/b/c", "", "x" * 100, "wan-app", "a\nb", "ok.name"])
text = st.one_of(name, st.text(max_size=12))
number = st.one_of(st.integers(-5, 5_000_000), st.sampled_from([10**30, -1, 0, 1024, 4097]), st.floats())
file_table = st.fixed_dictionaries(
    {"path": st.sampled_from(["config.json", "m.safetensors", "../etc", "a/b.md", "x.bin", "/abs", "t.json"])},
    optional={
        "size_bytes": number,
        "kind": text,
        "dtype": st.sampled_from(["F16", "BF16", "U8", "F64", ""]),
        "lfs": st.booleans() | text,
        "content": text,
        "vocab_size": number,
        "colour": text,
    },
)
repo_table = st.fixed_dictionaries(
    {"repo_id": name, "files": st.lists(file_table, max_size=3)},
    optional={
        "revisions": st.lists(st.sampled_from(["main", "v1", "../../x", "refs/pr/1", "a b", ""]), max_size=3),
        "repo_type": st.sampled_from(["model", "dataset", "space"]),
    },
)
hub_doc = st.fixed_dictionaries({"repos": st.lists(repo_table, max_size=2)}, optional={"seed": number | text})
package_table = st.fixed_dictionaries(
    {"name": name, "version": st.sampled_from(["1.0.0", "1", "x", "", "1.0.0rc1"])},
    optional={
        "requires": st.lists(st.sampled_from(["wan-core>=1.0", "bad req", ""]), max_size=2),
        "size_bytes": number,
        "summary": text,
    },
)
index_doc = st.fixed_dictionaries({"packages": st.lists(package_table, max_size=3)})
proxy_doc = st.lists(
    st.fixed_dictionaries(
        {}, optional={"name": text, "upstream": text, "listen": text, "enabled": st.booleans() | text}
    ),
    max_size=3,
) | st.recursive(
    st.none() | st.integers() | st.text(max_size=5), lambda inner: st.lists(inner, max_size=3), max_leaves=6
)
edits = st.lists(st.tuples(st.integers(0, 600), st.integers(0, 4), st.binary(max_size=4)), max_size=3)
junk = st.sampled_from([b"", b"[" * 300, b"\xff\xfe", b"\x00", b"{" * 100, b"# comment\n"])


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else "nan"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return json.dumps(str(value))


def _toml(doc: dict[str, Any], array: str, nested: str | None) -> bytes:
    lines = [f"{key} = {_toml_value(value)}" for key, value in doc.items() if key != array]
    for table in doc.get(array, []):
        lines.append(f"[[{array}]]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in table.items() if k != nested]
        for inner in table.get(nested, []) if nested else []:
            lines.append(f"[[{array}.{nested}]]")
            lines += [f"{k} = {_toml_value(v)}" for k, v in inner.items()]
    return "\n".join(lines).encode()


def _mutate(data: bytes, changes: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray(data)
    for position, cut, insert in changes:
        at = position % (len(out) + 1)
        out[at : at + cut] = insert
    return bytes(out)


def _one_line(error: Exception, path: Path) -> None:
    assert str(path) in str(error) or isinstance(error, TargetError)
    message = str(error)
    assert "\n" not in message.replace("\\n", "")
    assert message


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("parser-fuzz")


@FUZZ
@given(hub_doc, edits, junk)
def test_fuzzed_hub_specs_give_a_spec_or_one_target_error(
    folder: Path, doc: dict[str, Any], changes: list[tuple[int, int, bytes]], prefix: bytes
) -> None:
    """Generated, mutated, junk-prefixed repos.toml: a HubSpec or one TargetError, nothing else, nothing written."""
    path = folder / "repos.toml"
    path.write_bytes(prefix + _mutate(_toml(doc, "repos", "files"), changes))
    try:
        HubSpec.from_toml(path)
    except TargetError as error:
        _one_line(error, path)
    assert {p.name for p in folder.iterdir()} <= {"repos.toml", "packages.toml", "populate.json"}


@FUZZ
@given(index_doc, edits, junk)
def test_fuzzed_index_specs_give_a_spec_or_one_target_error(
    folder: Path, doc: dict[str, Any], changes: list[tuple[int, int, bytes]], prefix: bytes
) -> None:
    """Generated, mutated, junk-prefixed packages.toml: an IndexSpec or one TargetError."""
    path = folder / "packages.toml"
    path.write_bytes(prefix + _mutate(_toml(doc, "packages", None), changes))
    try:
        IndexSpec.from_toml(path)
    except TargetError as error:
        _one_line(error, path)
    assert {p.name for p in folder.iterdir()} <= {"repos.toml", "packages.toml", "populate.json"}


@FUZZ
@given(proxy_doc, edits, junk)
def test_fuzzed_populate_files_give_entries_or_one_proxy_error(
    folder: Path, doc: Any, changes: list[tuple[int, int, bytes]], prefix: bytes
) -> None:
    """Generated, mutated, junk-prefixed `proxy serve -config` files: entries or one ProxyError."""
    path = folder / "populate.json"
    path.write_bytes(prefix + _mutate(json.dumps(doc).encode(), changes))
    try:
        entries = load_config(path)
    except ProxyError as error:
        _one_line(error, path)
    else:
        assert all(isinstance(e["name"], str) and isinstance(e["upstream"], str) for e in entries)


_SPEC = HubSpec(repos=(RepoSpec("acme/tiny", (FileSpec("config.json"), FileSpec("w.bin", size_bytes=64))),), seed=1)


@pytest.fixture(scope="module")
def reused_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, bytes, bytes]:
    root = tmp_path_factory.mktemp("manifest-fuzz")
    expected = generate_repos(_SPEC, root).file("acme/tiny", "w.bin").read_bytes()
    return root, (root / ".chaos-targets.json").read_bytes(), expected


@FUZZ
@given(edits, junk)
def test_fuzzed_root_manifests_are_proven_or_ignored(
    reused_root: tuple[Path, bytes, bytes], changes: list[tuple[int, int, bytes]], prefix: bytes
) -> None:
    """A hub root whose manifest was mutated: the hub reuses it only if it still proves every file, else it
    regenerates; either way the files served are the spec's bytes and all of them lie inside the root."""
    root, manifest, expected = reused_root
    (root / ".chaos-targets.json").write_bytes(prefix + _mutate(manifest, changes))
    hub = generate_repos(_SPEC, root)
    for repo in hub.repos:
        for file in repo.files.values():
            assert file.local_path.resolve().is_relative_to(root.resolve())
            assert len(file.read_bytes()) == file.size_bytes
    assert hub.file("acme/tiny", "w.bin").read_bytes() == expected
