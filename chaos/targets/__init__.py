"""Local servers to install from: a Hugging Face compatible hub and a package index over generated wheels.

Facade only: every public name is re-exported here from the module that owns it.
"""

from __future__ import annotations

from chaos.targets.hub import HubServer
from chaos.targets.hub_state import RequestRecord
from chaos.targets.index import DEFAULT_PACKAGES, IndexRequest, PackageIndex
from chaos.targets.repos import GeneratedFile, GeneratedHub, GeneratedRepo, generate_repos
from chaos.targets.spec import FileSpec, HubSpec, RepoSpec, model_repo
from chaos.targets.wheels import IndexSpec, PackageSpec, build_wheel, build_wheels

__all__ = [
    "DEFAULT_PACKAGES",
    "FileSpec",
    "GeneratedFile",
    "GeneratedHub",
    "GeneratedRepo",
    "HubServer",
    "HubSpec",
    "IndexRequest",
    "IndexSpec",
    "PackageIndex",
    "PackageSpec",
    "RepoSpec",
    "RequestRecord",
    "build_wheel",
    "build_wheels",
    "generate_repos",
    "model_repo",
]
