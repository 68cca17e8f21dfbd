"""The commented starter scenario file ``resilience init`` writes for a given install command."""

from __future__ import annotations

import json
import re
import shlex

__all__ = ["DEFAULT_COMMAND", "starter_text"]

DEFAULT_COMMAND = "sh {scenario_dir}/install.sh {workdir}/model"
# A command using any of these needs a shell to mean what it says.
_SHELL_SYNTAX = re.compile(r"[|&;<>()$`*?]|\|\||&&")

_TEMPLATE = """\
# A chaos scenario for one install command: `resilience run {out_name}` runs every [[matrix]] entry
# `trials` times and writes reports/ (journal.json, summary.md, junit.xml). Format: docs/any-installer.md.
# Placeholders: {{workdir}} (a fresh directory per trial), {{scenario_dir}} (this file's directory),
# {{hub_url}} / {{index_url}} (the served hub / index, behind the fault proxy), {{python}}.

{command_lines}
timeout_s = 120                      # a run past this is killed and counts as failed_dirty (a hang)
rerun = "once"                       # a run process.kill killed is run once more, as a user would

# Verdict. 0.0 measures first (a baseline row: the rate is reported, not gated). Once you know what your
# installer survives, raise it (e.g. 0.9) with enough trials for a confident verdict (e.g. 30).
trials = 3
min_recovery_rate = 0.0

# The local hub your command downloads from (HF_ENDPOINT points at it). Edit the repos to match what your
# installer fetches, or serve a spec file: spec = "hub_repos.toml".
[hub]
seed = 7

[[hub.repos]]
repo_id = "acme/tiny-model"

[[hub.repos.files]]
path = "config.json"

[[hub.repos.files]]
path = "model.safetensors"
size_bytes = 2_000_000

# The fault matrix: one report row per entry. `resilience faults list` shows every fault and its params.
[[matrix]]
fault = "network.reset_peer"          # the connection is reset after 64 KiB of the body
params = {{ after_bytes = 65536 }}

[[matrix]]
fault = "network.down"                # the hub is unreachable for the whole run

[[matrix]]
fault = "process.kill"                # SIGKILL at a seeded instant, then the rerun rule
params = {{ min_s = 0.2, max_s = 1.0 }}

[[matrix]]
id = "full-disk-and-resets"           # several faults armed in the same trial
faults = [
  {{ fault = "disk.full", params = {{ path = "{{workdir}}/model", free_bytes = 1_000_000 }} }},
  {{ fault = "network.reset_peer", params = {{ after_bytes = 262144 }} }},
]

# Steady state after each trial: no leftovers (temp files, partials, held locks) in these directories, and
# every file of the repos present and matching the hub's sha256.
[verify]
leftovers = ["{{workdir}}/model"]
hf_cache = [{{ path = "{{workdir}}/model", repos = ["acme/tiny-model"] }}]
"""


def _toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid TOML basic string


def starter_text(command: str | None = None, *, out_name: str = "chaos.toml") -> str:
    """The starter file for ``command`` (one shell-like string; default :data:`DEFAULT_COMMAND`).

    A command with shell syntax (pipes, ``&&``, redirections, globs) becomes ``shell = true``; any other is
    split into an argv list.
    """
    given = command if command is not None and command.strip() else DEFAULT_COMMAND
    literal = given.replace("{", "{{").replace("}", "}}") if "{" in given and not _uses_placeholders(given) else given
    if _SHELL_SYNTAX.search(given):
        lines = f"command = {_toml_string(literal)}\nshell = true"
    else:
        argv = ", ".join(_toml_string(arg) for arg in shlex.split(literal))
        lines = f"command = [{argv}]"
    return _TEMPLATE.format(command_lines=f"# The command under test (cwd: {{workdir}}).\n{lines}", out_name=out_name)


def _uses_placeholders(text: str) -> bool:
    from chaos.scenario.model import PLACEHOLDERS

    return any("{" + name + "}" in text for name in PLACEHOLDERS)
