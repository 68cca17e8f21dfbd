"""Loading a scenario file (``chaos*.toml``), validated in full before any trial runs.

One file breaks one install command under a matrix of faults::

    command = ["sh", "{scenario_dir}/install.sh", "{workdir}/model"]
    timeout_s = 60
    trials = 3
    min_recovery_rate = 0.9

    [hub]                              # the local hub serves these repos (chaos.targets spec format)
    spec = "hub_repos.toml"            # or inline: seed = 7 and [[hub.repos]] tables

    [[matrix]]
    fault = "network.reset_peer"
    params = { after_bytes = 65536 }

    [[matrix]]
    id = "kill-then-corrupt"
    faults = [{ fault = "process.kill", params = { min_s = 0.1, max_s = 0.5 } },
              { fault = "file.corrupt", params = { when = "during" } }]

    [verify]
    leftovers = ["{workdir}/model"]
    hf_cache = [{ path = "{workdir}/model", repos = ["acme/tiny"] }]

    rerun = "once"                     # once | never: run a command a fault killed once more (chaos.run's rule)

Strings in ``command``, ``cwd``, ``env``, fault ``params`` and ``verify`` may use ``{workdir}`` (the trial's
scratch directory), ``{scenario_dir}`` (this file's directory), ``{hub_url}``, ``{index_url}`` and
``{python}`` (this interpreter); ``{{`` is a literal brace. Every bad value raises one :class:`ScenarioError`
line naming the file, the line, the key, the value and the fix. The JSON Schema of the format ships as
``chaos/schemas/scenario.schema.json`` (:data:`SCHEMA_PATH`).
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chaos.errors import ChaosError, FaultParamError, TargetError, UnknownFaultError
from chaos.scenario.lines import Where, key_name
from chaos.scenario.model import (
    PLACEHOLDERS,
    RERUN_RULES,
    THRESHOLD_KEYS,
    FaultStep,
    HfCacheCheck,
    MatrixEntry,
    PipCheck,
    ScenarioError,
    ScenarioFile,
)
from resilience_core.documents import load_toml
from resilience_core.errors import InputError

if TYPE_CHECKING:
    from chaos.manager import ChaosManager
    from chaos.targets import HubSpec, IndexSpec

__all__ = ["load_scenario", "marker_problem"]

_TOP_KEYS = frozenset(
    {"name", "description", "command", "shell", "cwd", "env", "timeout_s", "hub", "index", "matrix", "verify"}
    | {"rerun", *THRESHOLD_KEYS}
)
_ENTRY_KEYS = frozenset({"id", "fault", "params", "proxy", "at_s", "for_s", "faults", *THRESHOLD_KEYS})
_STEP_KEYS = frozenset({"fault", "params", "proxy", "at_s", "for_s"})
_VERIFY_KEYS = frozenset({"leftovers", "ignore", "hf_cache", "pip"})
_PROXIES = ("hub", "index")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,79}$")
_MAX_SCENARIO_BYTES = 1 << 20
_MAX_TIMEOUT_S = 3600.0


def marker_problem(values: Mapping[str, Any]) -> tuple[str, str] | None:
    """What the verdict rules say about a scenario's verdict keys: (key, message) or None.

    ``chaos.trials.scenario_settings`` validates them where the harness has it (the marker's own check, so a file
    and a marker get the same answer); otherwise the keys the marker takes today are checked here.
    """
    from chaos import trials

    validate = getattr(trials, "scenario_settings", None)
    if validate is not None:
        try:
            validate(dict(values), "")
        except (ChaosError, ValueError) as error:
            text = str(error).removeprefix(": ")
            match = re.match(r"(\w+)=", text)
            return (match[1] if match else next(iter(values))), text
        return None
    for key, value in values.items():
        problem = _basic_threshold_problem(key, value)
        if problem is not None:
            return key, problem
    return None


def _basic_threshold_problem(key: str, value: object) -> str | None:
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if key == "trials" and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        return f"trials={value!r} must be an integer >= 1; fix: e.g. trials = 3"
    if key == "min_recovery_rate" and not (number and 0 <= value <= 1):  # type: ignore[operator]
        return f"min_recovery_rate={value!r} must be a number in 0..1; fix: e.g. min_recovery_rate = 0.95"
    if key == "confidence" and not (number and 0 < value < 1):  # type: ignore[operator]
        return f"confidence={value!r} must be a number in (0, 1); fix: e.g. confidence = 0.95"
    if key not in ("trials", "min_recovery_rate", "confidence"):
        return f"{key}={value!r} is not supported by this version's verdict rules; fix: remove it"
    return None


# -- loading ---------------------------------------------------------------------------------------------------


def load_scenario(
    path: str | Path, *, manager: ChaosManager | None = None, defer_unknown_faults: bool = False
) -> ScenarioFile:
    """Load and validate ``path``; faults are checked by ``manager`` (built on demand) without arming them.

    With ``defer_unknown_faults``, a fault ``manager`` does not know is kept unchecked instead of refused: a
    pre-check outside pytest uses it where a conftest.py (which only pytest loads) may define the fault; pytest's
    collection then checks it with every plugin loaded. Raises ScenarioError, one line, for the first problem.
    """
    file = Path(path)
    source = str(path)
    try:
        data = file.read_bytes()[: _MAX_SCENARIO_BYTES + 1]
    except OSError as error:
        raise ScenarioError(
            f"{source}: cannot be read ({error.strerror or error}); fix: pass an existing file"
        ) from None
    try:
        document = load_toml(data, source=source, max_bytes=_MAX_SCENARIO_BYTES)
    except InputError as error:
        raise ScenarioError(f"{str(error).splitlines()[0]}; fix the file") from None
    text = data.decode("utf-8")
    if manager is None:
        from chaos.manager import ChaosManager

        manager = ChaosManager.build()
    return _Loader(file, Where(source, text), manager, defer_unknown_faults).scenario(document)


class _Loader:
    def __init__(self, path: Path, where: Where, manager: ChaosManager, defer_unknown: bool = False) -> None:
        self.path = path
        self.where = where
        self.manager = manager
        self.defer_unknown = defer_unknown
        self.served: set[str] = set()
        self.hub_spec: HubSpec | None = None

    def fail(self, path: tuple[str | int, ...], message: str) -> ScenarioError:
        return self.where.error(path, message)

    def keys(self, table: object, allowed: frozenset[str], path: tuple[str | int, ...]) -> Mapping[str, Any]:
        if not isinstance(table, Mapping):
            raise self.fail(path, f"{key_name(path)}={table!r} must be a table; fix: write [{key_name(path)}]")
        unknown = sorted(set(table) - allowed)
        if unknown:
            from chaos.params import closest_name

            name = unknown[0]
            guess = closest_name(name, sorted(allowed))
            hint = f"did you mean {guess!r}?" if guess else f"use one of {', '.join(sorted(allowed))}"
            full = key_name((*path, name))
            raise self.fail((*path, name), f"{full} is not a known key; fix: remove it or {hint}")
        return table

    def text(self, value: object, path: tuple[str | int, ...], example: str) -> str:
        if not isinstance(value, str):
            raise self.fail(path, f"{key_name(path)}={value!r} must be a string; fix: write e.g. {example}")
        self.placeholders(value, path)
        return value

    def placeholders(self, value: str, path: tuple[str | int, ...]) -> None:
        try:
            names = [name for _, name, _, _ in string.Formatter().parse(value) if name is not None]
        except ValueError as error:
            message = f"{key_name(path)}={value!r} has a bad placeholder ({error}); fix: write {{{{ for a literal brace"
            raise self.fail(path, message) from None
        for name in names:
            if name not in PLACEHOLDERS:
                message = (
                    f"{key_name(path)}={value!r} uses {{{name}}}, which is not a placeholder; "
                    f"fix: use one of {', '.join('{' + p + '}' for p in PLACEHOLDERS)} or {{{{ for a brace"
                )
                raise self.fail(path, message)
            if name in ("hub_url", "index_url") and name.split("_")[0] not in self.served:
                target = name.split("_")[0]
                raise self.fail(
                    path, f"{key_name(path)} uses {{{name}}} but no {target} is served; fix: add [{target}]"
                )

    def string_list(self, value: object, path: tuple[str | int, ...], example: str) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self.fail(path, f"{key_name(path)}={value!r} must be a list of strings; fix: write e.g. {example}")
        for index, item in enumerate(value):
            self.placeholders(item, (*path, index))
        return tuple(value)

    def scenario(self, doc: Mapping[str, Any]) -> ScenarioFile:
        self.keys(doc, _TOP_KEYS, ())
        hub = self.hub(doc["hub"]) if "hub" in doc else None
        index = self.index(doc["index"]) if "index" in doc else None
        if "command" not in doc:
            raise self.fail((), 'command is missing; fix: add e.g. command = ["sh", "install.sh"]')
        shell = doc.get("shell", False)
        if not isinstance(shell, bool):
            raise self.fail(("shell",), f"shell={shell!r} must be true or false; fix: write shell = true")
        command = self.command(doc["command"], shell)
        cwd = self.text(doc.get("cwd", "{workdir}"), ("cwd",), 'cwd = "{workdir}"')
        env_table = doc.get("env", {})
        if not isinstance(env_table, Mapping):
            raise self.fail(("env",), f'env={env_table!r} must be a table; fix: write env = {{ KEY = "value" }}')
        env = {str(key): self.text(value, ("env", key), f'{key} = "value"') for key, value in env_table.items()}
        timeout_s = self.number(doc.get("timeout_s", 300.0), ("timeout_s",), 0.0, _MAX_TIMEOUT_S, "timeout_s = 120")
        if timeout_s == 0:
            raise self.fail(("timeout_s",), "timeout_s=0 must be > 0; fix: write e.g. timeout_s = 120")
        thresholds = self.thresholds(doc, ())
        if "matrix" not in doc:
            raise self.fail((), 'matrix is missing; fix: add a [[matrix]] table with fault = "network.reset_peer"')
        matrix = self.matrix(doc["matrix"])
        verify = self.keys(doc.get("verify", {}), _VERIFY_KEYS, ("verify",))
        rerun = doc.get("rerun", "once")
        if rerun not in RERUN_RULES:
            message = f'rerun={rerun!r} must be one of {", ".join(RERUN_RULES)}; fix: write rerun = "once"'
            raise self.fail(("rerun",), message)
        name = doc.get("name", self.path.stem)
        if not isinstance(name, str) or not name:
            raise self.fail(("name",), f'name={name!r} must be a non-empty string; fix: write name = "my-installer"')
        description = doc.get("description", "")
        if not isinstance(description, str):
            raise self.fail(("description",), f"description={description!r} must be a string; fix: quote it")
        return ScenarioFile(
            path=self.path,
            name=name,
            description=description,
            command=command,
            shell=shell,
            cwd=cwd,
            env=env,
            timeout_s=timeout_s,
            thresholds=thresholds,
            matrix=matrix,
            hub=hub,
            index=index,
            leftovers=self.string_list(verify.get("leftovers", []), ("verify", "leftovers"), '["{workdir}/model"]'),
            ignore=self.string_list(verify.get("ignore", []), ("verify", "ignore"), '["*.part"]'),
            hf_cache=self.hf_cache(verify.get("hf_cache", [])),
            pip=self.pip(verify.get("pip", [])),
            rerun=rerun,
        )

    def command(self, value: object, shell: bool) -> tuple[str, ...] | str:
        if shell:
            if not isinstance(value, str) or not value.strip():
                message = (
                    f'command={value!r} must be one shell string with shell = true; fix: command = "sh install.sh"'
                )
                raise self.fail(("command",), message)
            self.placeholders(value, ("command",))
            return value
        if isinstance(value, str):
            message = (
                f'command={value!r} is a string; fix: write a list, e.g. ["sh", "install.sh"], or set shell = true'
            )
            raise self.fail(("command",), message)
        argv = self.string_list(value, ("command",), '["sh", "install.sh"]')
        if not argv or not argv[0]:
            raise self.fail(
                ("command",), f'command={value!r} is empty; fix: name the program, e.g. ["sh", "install.sh"]'
            )
        return argv

    def number(self, value: object, path: tuple[str | int, ...], low: float, high: float, example: str) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            message = f"{key_name(path)}={value!r} must be a number in {low:g}..{high:g}; fix: write e.g. {example}"
            raise self.fail(path, message)
        return float(value)

    def thresholds(self, table: Mapping[str, Any], path: tuple[str | int, ...]) -> dict[str, Any]:
        """The verdict keys of ``table``, checked by the chaos marker's own validation."""
        values = {key: table[key] for key in THRESHOLD_KEYS if key in table}
        if not values:
            return {}
        problem = marker_problem(values)
        if problem is not None:
            key, message = problem
            where = f"{key_name(path)}." if path else ""
            raise self.fail((*path, key), f"{where}{message}")
        return values

    def hub(self, table: object) -> HubSpec:
        from chaos.targets import HubSpec

        spec = self.spec_table(table, "hub", "repos", '"hub_repos.toml"')
        try:
            result = HubSpec.from_toml(spec) if isinstance(spec, Path) else HubSpec.from_dict(spec, source="[hub]")
        except TargetError as error:
            raise self.fail(("hub",), f"{error}") from None
        self.served.add("hub")
        self.hub_spec = result
        return result

    def index(self, table: object) -> IndexSpec:
        from chaos.targets import IndexSpec

        spec = self.spec_table(table, "index", "packages", '"index_packages.toml"')
        try:
            result = (
                IndexSpec.from_toml(spec) if isinstance(spec, Path) else IndexSpec.from_dict(spec, source="[index]")
            )
        except TargetError as error:
            raise self.fail(("index",), f"{error}") from None
        self.served.add("index")
        return result

    def spec_table(self, table: object, name: str, inline_key: str, example: str) -> Path | Mapping[str, Any]:
        if not isinstance(table, Mapping):
            raise self.fail((name,), f"{name}={table!r} must be a table; fix: write [{name}] with spec = {example}")
        if "spec" not in table:
            return table
        if set(table) != {"spec"}:
            other = sorted(set(table) - {"spec"})[0]
            raise self.fail((name, other), f"{name}.{other} cannot be given with {name}.spec; fix: use one of them")
        spec = table["spec"]
        if not isinstance(spec, str) or not spec:
            raise self.fail((name, "spec"), f"{name}.spec={spec!r} must be a file path; fix: write spec = {example}")
        resolved = (self.path.parent / spec).resolve()
        if not resolved.is_file():
            message = f"{name}.spec={spec!r} is not a file (looked at {resolved}); fix: a path relative to this file"
            raise self.fail((name, "spec"), message)
        return resolved

    def matrix(self, value: object) -> tuple[MatrixEntry, ...]:
        if not isinstance(value, list) or not value:
            raise self.fail(
                ("matrix",), f'matrix={value!r} must be a list of [[matrix]] tables; fix: add fault = "..."'
            )
        entries: list[MatrixEntry] = []
        seen: dict[str, int] = {}
        for number, raw in enumerate(value):
            path: tuple[str | int, ...] = ("matrix", number)
            table = self.keys(raw, _ENTRY_KEYS, path)
            if ("fault" in table) == ("faults" in table):
                message = 'needs either fault = "name" or faults = [...] (not both); fix: e.g. fault = "network.down"'
                raise self.fail(path, f"{key_name(path)} {message}")
            if "fault" in table:
                steps: tuple[FaultStep, ...] = (self.step({k: table[k] for k in _STEP_KEYS if k in table}, path),)
            else:
                faults = table["faults"]
                if not isinstance(faults, list) or not faults:
                    message = (
                        f"faults={faults!r} must be a non-empty list of {{ fault = ..., params = {{...}} }} tables"
                    )
                    raise self.fail((*path, "faults"), f"{key_name(path)}.{message}")
                steps = tuple(self.step(step, (*path, "faults", k)) for k, step in enumerate(faults))
            entry_id = table.get("id", "+".join(step.name for step in steps))
            if not isinstance(entry_id, str) or not _ID_RE.match(entry_id):
                message = (
                    f'{key_name(path)}.id={entry_id!r} must be letters, digits, . _ + - ; fix: e.g. id = "reset-64k"'
                )
                raise self.fail((*path, "id"), message)
            if entry_id in seen:
                seen[entry_id] += 1
                if "id" in table:
                    message = (
                        f"{key_name(path)}.id={entry_id!r} repeats matrix[{seen[entry_id]}]; fix: give each id once"
                    )
                    raise self.fail((*path, "id"), message)
                entry_id = f"{entry_id}-{seen[entry_id]}"
            seen.setdefault(entry_id, 1)
            entries.append(MatrixEntry(id=entry_id, faults=steps, thresholds=self.thresholds(table, path)))
        return tuple(entries)

    def step(self, raw: object, path: tuple[str | int, ...]) -> FaultStep:
        table = self.keys(raw, _STEP_KEYS, path)
        name = table.get("fault")
        if not isinstance(name, str) or not name:
            message = f"{key_name(path)}.fault={name!r} must be a fault name; fix: see `resilience faults list`"
            raise self.fail((*path, "fault"), message)
        params = table.get("params", {})
        if not isinstance(params, Mapping):
            message = (
                f"{key_name(path)}.params={params!r} must be a table; fix: write params = {{ after_bytes = 65536 }}"
            )
            raise self.fail((*path, "params"), message)
        for key, value in params.items():
            if isinstance(value, str):
                self.placeholders(value, (*path, "params", key))
        try:
            fault = self.manager.validate(name, dict(params))
        except UnknownFaultError as error:
            if not self.defer_unknown:
                raise self.fail((*path, "fault"), f"{key_name(path)}: {error}") from None
            return FaultStep(name=name, params=dict(params))  # pytest's collection checks it, with conftests loaded
        except FaultParamError as error:
            key = ("params", error.field) if error.field else ("fault",)
            raise self.fail((*path, *key), f"{key_name(path)}: {error}") from None
        except ChaosError as error:
            raise self.fail((*path, "fault"), f"{key_name(path)}: {error}") from None
        proxy = table.get("proxy")
        if type(fault).needs_proxy:
            if proxy is None:
                proxy = "hub" if "hub" in self.served or "index" not in self.served else "index"
            if proxy not in _PROXIES or proxy not in self.served:
                served = ", ".join(sorted(self.served)) or "none"
                message = (
                    f"{key_name(path)}.proxy={proxy!r}: {name} acts on a served target's proxy (served: {served}); "
                    "fix: add [hub] or [index] and set proxy to it"
                )
                raise self.fail((*path, "proxy"), message)
        elif proxy is not None:
            raise self.fail((*path, "proxy"), f"{key_name(path)}.proxy: {name} uses no proxy; fix: remove proxy")
        for_s = table.get("for_s")
        if for_s is not None:
            for_s = self.number(
                for_s, (*path, "for_s"), 0.0, _MAX_TIMEOUT_S, "for_s = 1.0 (the link returns after 1 s)"
            )
        at_s = table.get("at_s")
        if at_s is not None:
            at_s = self.number(
                at_s, (*path, "at_s"), 0.0, _MAX_TIMEOUT_S, "at_s = 1.0 (the link breaks 1 s into the run)"
            )
            if not type(fault).needs_proxy:
                message = (
                    f"{key_name(path)}.at_s: {name} is armed before the command starts (at_s times network faults "
                    "only); fix: remove at_s"
                )
                raise self.fail((*path, "at_s"), message)
        return FaultStep(name=name, params=dict(params), proxy=proxy, at_s=at_s, for_s=for_s)

    def hf_cache(self, value: object) -> tuple[HfCacheCheck, ...]:
        path: tuple[str | int, ...] = ("verify", "hf_cache")
        checks = []
        tables = self.table_list(value, path, '[{ path = "{workdir}/model", repos = ["org/name"] }]')
        if tables and self.hub_spec is None:
            raise self.fail(path, "verify.hf_cache checks against the served hub, and there is none; fix: add [hub]")
        for number, raw in enumerate(tables):
            table = self.keys(raw, frozenset({"path", "repos"}), (*path, number))
            where = (*path, number)
            location = self.text(table.get("path"), (*where, "path"), 'path = "{workdir}/model"')
            repos = self.string_list(table.get("repos"), (*where, "repos"), 'repos = ["org/name"]')
            if not repos:
                raise self.fail((*where, "repos"), f"{key_name(where)}.repos is empty; fix: name the repos to check")
            served = {repo.repo_id for repo in self.hub_spec.repos} if self.hub_spec is not None else set()
            for repo in repos:
                if served and repo not in served:
                    message = (
                        f"{key_name(where)}.repos has {repo!r}, which [hub] does not serve; "
                        f"fix: use one of {sorted(served)}"
                    )
                    raise self.fail((*where, "repos"), message)
            checks.append(HfCacheCheck(path=location, repos=repos))
        return tuple(checks)

    def pip(self, value: object) -> tuple[PipCheck, ...]:
        path: tuple[str | int, ...] = ("verify", "pip")
        checks = []
        for number, raw in enumerate(
            self.table_list(value, path, '[{ target = "{workdir}/site", requirements = ["x==1"] }]')
        ):
            where = (*path, number)
            table = self.keys(raw, frozenset({"target", "requirements"}), where)
            target = self.text(table.get("target"), (*where, "target"), 'target = "{workdir}/site"')
            requirements = self.string_list(table.get("requirements"), (*where, "requirements"), '["wan-app==1.0.0"]')
            checks.append(PipCheck(target=target, requirements=requirements))
        return tuple(checks)

    def table_list(self, value: object, path: tuple[str | int, ...], example: str) -> list[Any]:
        if isinstance(value, Mapping):
            value = [value]
        if not isinstance(value, list):
            raise self.fail(path, f"{key_name(path)}={value!r} must be a list of tables; fix: write {example}")
        return value
