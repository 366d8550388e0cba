"""Reading a rules file: TOML text in, a validated `RuleSet` out, or every error with its line.

A refused file changes nothing: the caller keeps the rules it had.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from services.command.domain.rules.model import RuleSet

Loc = tuple[str | int, ...]
MAX_RULES_BYTES = 256 * 1024


@dataclass(frozen=True)
class RuleProblem:
    line: int | None
    path: str
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}: {self.path + ': ' if self.path else ''}{self.reason}"


class RulesFileError(ValueError):
    """The rules file was refused; `problems` says where and why."""

    def __init__(self, source: str, problems: Sequence[RuleProblem]) -> None:
        self.source = source
        self.problems = list(problems)
        listed = "; ".join(str(p) for p in self.problems)
        super().__init__(f"rules file {source} refused: {listed}")

    def as_details(self) -> list[dict[str, object]]:
        return [{"line": p.line, "path": p.path, "reason": p.reason} for p in self.problems]


def parse_rules(text: str, source: str = "rules.toml") -> RuleSet:
    """Validate a rules file's text; raise `RulesFileError` naming each problem's line."""
    if len(text.encode()) > MAX_RULES_BYTES:
        raise RulesFileError(source, [RuleProblem(None, "", f"larger than {MAX_RULES_BYTES} bytes")])
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = _toml_error_line(str(exc))
        reason = re.sub(r"\s*\(at line \d+, column \d+\)|\s*\(at end of document\)", "", str(exc))
        raise RulesFileError(source, [RuleProblem(line, "", f"not valid TOML: {reason}")]) from None
    except RecursionError:
        raise RulesFileError(source, [RuleProblem(
            None, "", "not valid TOML: arrays or tables nest too deeply")]) from None
    lines = _LineIndex(text)
    try:
        rules = RuleSet.model_validate(document)
    except ValidationError as exc:
        problems = [
            RuleProblem(lines.find(tuple(err["loc"])), _dotted(tuple(err["loc"])),
                        _reason(err["msg"]))
            for err in exc.errors()
        ]
        raise RulesFileError(source, problems) from None
    problems = [RuleProblem(lines.find(loc), _dotted(loc), reason)
                for loc, reason in _consistency(rules)]
    if problems:
        raise RulesFileError(source, problems)
    return rules


def _reason(message: str) -> str:
    return message.removeprefix("Value error, ")


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _toml_error_line(message: str) -> int | None:
    found = re.search(r"at line (\d+)", message)
    return int(found.group(1)) if found else None


def _consistency(rules: RuleSet) -> list[tuple[Loc, str]]:
    """Checks across fields: references resolve, ids are unique, ranges make sense."""
    problems: list[tuple[Loc, str]] = []
    stages = rules.pipeline.stages
    if len(set(stages)) != len(stages):
        problems.append((("pipeline", "stages"), "a stage is listed twice"))
    if not stages:
        problems.append((("pipeline", "stages"), "the pipeline needs at least one open stage"))
    for reserved in ("won", "lost"):
        if reserved in stages:
            problems.append((("pipeline", "stages"),
                             f"'{reserved}' always closes the pipeline; do not list it"))
    known = (*stages, "won")
    for index, (frm, to) in enumerate(rules.pipeline.skips):
        if frm not in stages or to not in known:
            problems.append((("pipeline", "skips", index), f"skip {frm} → {to} names an unknown stage"))
        elif known.index(to) <= known.index(frm) + 1:
            problems.append((("pipeline", "skips", index),
                             f"skip {frm} → {to} is not a jump forward past the next stage"))
    # The built-in gates name default stages; a custom pipeline without them simply has none.
    written_gates = "gates" in rules.pipeline.model_fields_set
    for stage in rules.pipeline.gates if written_gates else ():
        if stage not in known:
            problems.append((("pipeline", "gates", stage), f"'{stage}' is not a stage of the pipeline"))
    for stage in rules.follow_up.stages:
        if stage not in stages:
            problems.append((("follow_up", "stages", stage),
                             f"'{stage}' is not an open stage of the pipeline"))

    assignment = rules.assignment
    team_ids = [t.id for t in assignment.teams]
    for index, team in enumerate(assignment.teams):
        if team_ids.index(team.id) != index:
            problems.append((("assignment", "teams", index, "id"), f"team '{team.id}' is defined twice"))
        if len(set(team.members)) != len(team.members):
            problems.append((("assignment", "teams", index, "members"), "a member is listed twice"))
    rule_ids = [r.id for r in assignment.rules]
    for index, rule in enumerate(assignment.rules):
        loc: Loc = ("assignment", "rules", index)
        if rule_ids.index(rule.id) != index:
            problems.append(((*loc, "id"), f"rule '{rule.id}' is defined twice"))
        if (rule.to is None) == (rule.team is None):
            problems.append((loc, "give exactly one of `to` (a person) and `team`"))
        if rule.team is not None and rule.team not in team_ids:
            problems.append(((*loc, "team"), f"unknown team '{rule.team}'"))
        for stage in rule.stages:
            if stage not in stages:
                problems.append(((*loc, "stages"), f"'{stage}' is not an open stage of the pipeline"))
        if rule.min_amount is not None and rule.max_amount is not None \
                and rule.min_amount > rule.max_amount:
            problems.append(((*loc, "min_amount"), "min_amount is above max_amount"))
    if assignment.default_team is not None and assignment.default_team not in team_ids:
        problems.append((("assignment", "default_team"), f"unknown team '{assignment.default_team}'"))

    tiers = rules.discount.approvers
    levels = [t.above_percent for t in tiers]
    if len(set(levels)) != len(levels):
        problems.append((("discount", "approvers"), "two approver tiers start at the same percent"))
    threshold = rules.discount.approval_threshold_percent
    if tiers and min(levels) > threshold:
        problems.append((("discount", "approvers"),
                         f"discounts above {threshold}% up to {min(levels)}% would have no approver: "
                         "the lowest tier must start at or below approval_threshold_percent"))
    for person, manager in rules.org.managers.items():
        if person == manager:
            problems.append((("org", "managers", person), "a person cannot be their own manager"))
    return problems


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_KEY = re.compile(r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*=""")
_INLINE_KEY = re.compile(r"""[{,]\s*([A-Za-z0-9_-]+|"[^"]*"|'[^']*')\s*=""")


def _key_parts(dotted: str) -> list[str]:
    parts = re.findall(r"""[A-Za-z0-9_-]+|"[^"]*"|'[^']*'""", dotted)
    return [p[1:-1] if p[:1] in "\"'" else p for p in parts]


class _LineIndex:
    """Where each table and key of a TOML text is written: validation errors name lines."""

    def __init__(self, text: str) -> None:
        self._lines: dict[Loc, int] = {}
        arrays: dict[tuple[str, ...], int] = {}
        current: list[str | int] = []
        for number, line in enumerate(text.splitlines(), start=1):
            header = _HEADER.match(line)
            if header and not _KEY.match(line):
                parts = _key_parts(header.group(2))
                path: list[str | int] = []
                for i, part in enumerate(parts):
                    path.append(part)
                    prefix = tuple(str(p) for p in parts[: i + 1])
                    is_last = i == len(parts) - 1
                    if header.group(1) == "[[" and is_last:
                        arrays[prefix] = arrays.get(prefix, -1) + 1
                        path.append(arrays[prefix])
                    elif prefix in arrays:
                        path.append(arrays[prefix])
                current = path
                self._lines.setdefault(tuple(current), number)
                continue
            key = _KEY.match(line)
            if key:
                loc = (*current, *_key_parts(key.group(1)))
                self._lines.setdefault(loc, number)
                for inline in _INLINE_KEY.finditer(line[key.end():]):
                    self._lines.setdefault((*loc, *_key_parts(inline.group(1))), number)

    def find(self, loc: Loc) -> int | None:
        """The line of the longest written prefix of `loc` (the key, else its table)."""
        for end in range(len(loc), 0, -1):
            line = self._lines.get(loc[:end])
            if line is not None:
                return line
        return None
