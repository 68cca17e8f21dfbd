"""Generated wheels: correct METADATA/WHEEL/RECORD, reproducible bytes, spec validation."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import pytest

from chaos.errors import TargetError
from chaos.targets.wheels import IndexSpec, PackageSpec, build_wheel, wheel_filename


def test_wheel_has_metadata_with_dependencies_and_a_valid_record(tmp_path: Path) -> None:
    """METADATA lists Requires-Dist; every RECORD line's sha256 and size match the archive member."""
    package = PackageSpec("Wan.Core", "1.2.0", requires=("wan-utils>=0.2", "tiny-tensor==1.2.0"), size_bytes=1000)
    path = build_wheel(package, tmp_path)
    assert path.name == "wan_core-1.2.0-py3-none-any.whl" == wheel_filename(package)
    with zipfile.ZipFile(path) as archive:
        metadata = archive.read("wan_core-1.2.0.dist-info/METADATA").decode()
        assert "Name: Wan.Core\nVersion: 1.2.0\n" in metadata
        assert "Requires-Dist: wan-utils>=0.2\nRequires-Dist: tiny-tensor==1.2.0\n" in metadata
        assert "Root-Is-Purelib: true" in archive.read("wan_core-1.2.0.dist-info/WHEEL").decode()
        assert len(archive.read("wan_core/payload.bin")) == 1000
        record = archive.read("wan_core-1.2.0.dist-info/RECORD").decode()
        rows = list(csv.reader(io.StringIO(record)))
        assert {row[0] for row in rows} == set(archive.namelist())
        for name, digest, size in rows:
            if name.endswith("RECORD"):
                assert digest == size == ""
                continue
            data = archive.read(name)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert digest == f"sha256={expected}"
            assert int(size) == len(data)


def test_wheels_are_reproducible(tmp_path: Path) -> None:
    """Building the same package twice gives byte-identical wheels."""
    package = PackageSpec("wan-app", "1.0.0", requires=("wan-core>=1.0",), size_bytes=50)
    assert build_wheel(package, tmp_path / "a").read_bytes() == build_wheel(package, tmp_path / "b").read_bytes()


def test_index_spec_from_toml(tmp_path: Path) -> None:
    """A packages TOML becomes PackageSpecs with their requirements."""
    path = tmp_path / "packages.toml"
    path.write_text('[[packages]]\nname = "wan-app"\nversion = "1.0.0"\nrequires = ["wan-core>=1.0"]\n')
    assert IndexSpec.from_toml(path).packages == (PackageSpec("wan-app", "1.0.0", requires=("wan-core>=1.0",)),)


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({}, "packages=None must be a non-empty list"),
        ({"packages": [], "extra": 1}, "extra is not a known key"),
        ({"packages": [{"name": "bad name", "version": "1.0"}]}, "packages[0].name='bad name'"),
        ({"packages": [{"name": "a", "version": "one"}]}, "packages[0].version='one'"),
        (
            {"packages": [{"name": "a", "version": "1.0", "requires": ["b >>= 1"]}]},
            "packages[0].requires has 'b >>= 1'",
        ),
        ({"packages": [{"name": "a", "version": "1.0", "requires": "b"}]}, "packages[0].requires='b' must be a list"),
        ({"packages": [{"name": "a", "version": "1.0", "size_bytes": -5}]}, "packages[0].size_bytes=-5"),
        ({"packages": [{"name": "a", "version": "1.0", "colour": 1}]}, "packages[0].colour is not a known key"),
        ({"packages": [{"name": "a", "version": "1.0"}, {"name": "A", "version": "1.0"}]}, "packages[1] repeats A 1.0"),
    ],
)
def test_bad_index_spec_raises_one_clear_error(data: dict[str, Any], needle: str) -> None:
    """Each bad package field gives a TargetError naming the field and value."""
    with pytest.raises(TargetError) as caught:
        IndexSpec.from_dict(data, source="packages.toml")
    assert needle in str(caught.value)
