"""The rules one exception type can still match, and which of them a given message passes.

A :class:`Plan` is built once per (type, errno, HTTP status): the rules whose ``types``, ``errnos`` and
``statuses`` already hold, highest priority first, cut after the first rule that needs nothing more. What is
left depends only on the text (``keywords`` and ``message``) and on ``predicate``; :meth:`Plan.passing` works out
the text part for one message, so a categorizer can remember it per message and skip the regexes next time.
"""

from __future__ import annotations

from resilience_core.recovery.matching import Facts, Rule, full_name, mro_names

__all__ = ["Plan"]


def _needs_more(rule: Rule) -> bool:
    return bool(rule.keywords) or rule._pattern is not None or rule.predicate is not None


def _passes_text(rule: Rule, facts: Facts) -> bool:
    if rule.keywords:
        lowered = facts.lowered()
        for keyword in rule.keywords:
            if keyword in lowered:
                break
        else:
            return False
    return rule._pattern is None or rule._pattern.search(facts.text()) is not None


class Plan:
    """The candidate rules of one exception type, errno and HTTP status (see the module docstring)."""

    __slots__ = ("full_name", "names", "reads_text", "rules")

    def __init__(self, cls: type, rules: list[Rule], errno: int | None, status: int | None) -> None:
        self.names = mro_names(cls)
        self.full_name = full_name(cls)
        picked = [
            r
            for r in rules
            if (not r.types or not self.names.isdisjoint(r.types))
            and (not r.errnos or errno in r.errnos)
            and (not r._statuses or status in r._statuses)
        ]
        # sorted() is stable, so equal priorities keep insertion order.
        ordered = sorted(picked, key=lambda r: -r.priority)
        for index, rule in enumerate(ordered):
            if not _needs_more(rule):
                ordered = ordered[: index + 1]  # this one always matches: nothing after it is ever reached
                break
        self.rules = tuple(ordered)
        self.reads_text = any(r.keywords or r._pattern is not None for r in self.rules)

    def passing(self, facts: Facts) -> tuple[Rule, ...]:
        """The rules whose text conditions hold for ``facts``, in order, up to the first with no predicate.

        The result depends on the message text alone, so it may be remembered per text; predicates still run.
        """
        out: list[Rule] = []
        for rule in self.rules:
            if _passes_text(rule, facts):
                out.append(rule)
                if rule.predicate is None:
                    break
        return tuple(out)

    def first_match(self, facts: Facts, link: BaseException, above: float) -> Rule | None:
        """The first rule (priority above ``above``) that fully matches, reading the text lazily."""
        for rule in self.rules:
            if rule.priority <= above:
                return None
            if _passes_text(rule, facts) and (rule.predicate is None or rule.predicate(link)):
                return rule
        return None
