"""Where a key sits in a TOML text, so an error line can name it: ``chaos.toml:14: matrix[0].params...``."""

from __future__ import annotations

import re

from chaos.scenario.model import ScenarioError

__all__ = ["Where", "key_lines", "key_name"]

_ARRAY_HEADER = re.compile(r"^\[\[\s*([^\]]+?)\s*\]\]")
_TABLE_HEADER = re.compile(r"^\[\s*([^\]]+?)\s*\]")
_KEY_LINE = re.compile(r"""^((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")


_SEGMENT = re.compile(r"\"[^\"]*\"|'[^']*'|[^.\s]+")


def _dotted(text: str) -> list[str]:
    """The segments of a dotted TOML key; a quoted segment keeps its dots."""
    return [part.strip("\"'") for part in _SEGMENT.findall(text)]


def key_lines(text: str) -> dict[tuple[str | int, ...], int]:
    """Line numbers (1-based) of the tables and keys of a TOML text, by key path (``("matrix", 2, "params")``).

    Best effort over headers and ``key =`` lines; keys inside inline tables map to the line of their table.
    """
    lines: dict[tuple[str | int, ...], int] = {}
    counts: dict[tuple[str | int, ...], int] = {}
    arrays: set[tuple[str, ...]] = set()
    current: tuple[str | int, ...] = ()

    def resolve(names: list[str]) -> tuple[str | int, ...]:
        path: tuple[str | int, ...] = ()
        for depth, name in enumerate(names):
            path += (name,)
            if tuple(names[: depth + 1]) in arrays and path in counts:
                path += (counts[path] - 1,)
        return path

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if match := _ARRAY_HEADER.match(line):
            names = _dotted(match[1])
            base = (*resolve(names[:-1]), names[-1])
            arrays.add(tuple(names))
            index = counts.get(base, 0)
            counts[base] = index + 1
            current = (*base, index)
            lines.setdefault(base, number)
            lines.setdefault(current, number)
        elif match := _TABLE_HEADER.match(line):
            current = resolve(_dotted(match[1]))
            lines.setdefault(current, number)
        elif match := _KEY_LINE.match(line):
            lines.setdefault((*current, *_dotted(match[1])), number)
    return lines


class Where:
    """Builds the one error line: ``file:line: key=value problem; fix: ...``."""

    def __init__(self, source: str, text: str) -> None:
        self.source = source
        self.lines = key_lines(text)

    def line(self, path: tuple[str | int, ...]) -> int | None:
        for end in range(len(path), 0, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None

    def error(self, path: tuple[str | int, ...], message: str) -> ScenarioError:
        number = self.line(path)
        where = f"{self.source}:{number}" if number is not None else self.source
        return ScenarioError(f"{where}: {message}")


def key_name(path: tuple[str | int, ...]) -> str:
    """``("matrix", 2, "params")`` -> ``matrix[2].params``."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text
