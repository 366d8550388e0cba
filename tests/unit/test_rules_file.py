"""Reading a tenant's rules file: a good file gives a RuleSet; each problem names its line."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from services.command.api.rules import format_duration, rules_as_json
from services.command.domain.rules import DEFAULT_RULES, RuleProblem, RulesFileError, parse_rules

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "rules.example.toml"

GOOD = """\
[pipeline]
stages = ["new", "demo", "qualified", "negotiation"]
skips = [["new", "qualified"]]

[pipeline.gates]
negotiation = ["amount"]

[org.managers]
rep-1 = "boss"

[assignment]
default_team = "inbound"

[[assignment.teams]]
id = "inbound"
members = ["rep-1", "rep-2"]
max_open_leads = 10

[[assignment.rules]]
id = "big"
min_amount = "50000"
to = "rep-1"
reassign = true

[follow_up]
default = "5d"

[follow_up.stages]
negotiation = "1d12h"

[sla.first_response]
urgent = "30m"

[sla.escalation]
reassign_to = "lead-1"

[discount]
approval_threshold_percent = "15"

[[discount.approvers]]
above_percent = "15"
approver = "boss"

[[discount.approvers]]
above_percent = "30"
approver = "ceo"

[lifecycle]
dormant_after = "60d"
loyal_count = 4
"""


def problems_of(text: str) -> list[RuleProblem]:
    with pytest.raises(RulesFileError) as refused:
        parse_rules(text, "rules.toml")
    return refused.value.problems


def only_problem(text: str) -> RuleProblem:
    problems = problems_of(text)
    assert len(problems) == 1, problems
    return problems[0]


def test_a_good_file_gives_every_rule_it_names_and_defaults_for_the_rest() -> None:
    rules = parse_rules(GOOD)
    assert rules.pipeline.stages == ("new", "demo", "qualified", "negotiation")
    assert rules.pipeline.skips == (("new", "qualified"),)
    assert rules.pipeline.gates == {"negotiation": ("amount",)}
    assert rules.manager_of("rep-1") == "boss"
    assert rules.team("inbound") is not None and rules.team("inbound").max_open_leads == 10  # type: ignore[union-attr]
    assert rules.assignment.rules[0].reassign and rules.assignment.rules[0].to == "rep-1"
    assert rules.follow_up_window("negotiation") == timedelta(days=1, hours=12)
    assert rules.follow_up_window("demo") == timedelta(days=5)
    assert rules.sla_target("first_response", "urgent") == timedelta(minutes=30)
    assert rules.sla.escalation.reassign_to == "lead-1"
    assert rules.approver_for(Decimal("20")).approver == "boss"  # type: ignore[union-attr]
    assert rules.approver_for(Decimal("31")).approver == "ceo"  # type: ignore[union-attr]
    assert rules.approver_for(Decimal("15")) is None
    assert rules.lifecycle.dormant_after == timedelta(days=60)
    assert rules.lifecycle.loyal_window == DEFAULT_RULES.lifecycle.loyal_window


def test_an_empty_file_is_the_built_in_rules() -> None:
    assert parse_rules("") == DEFAULT_RULES


def test_bad_toml_syntax_names_the_line() -> None:
    problem = only_problem('[pipeline]\nstages = ["new" "won"]\n\n[org]\n')
    assert problem.line == 2
    assert problem.reason.startswith("not valid TOML")


def test_an_unknown_key_is_refused_on_its_line() -> None:
    problem = only_problem('[follow_up]\ndefault = "5d"\n\n[sla]\nenabeld = false\n')
    assert (problem.line, problem.path) == (5, "sla.enabeld")
    assert "not permitted" in problem.reason


def test_an_unknown_section_is_refused_on_its_line() -> None:
    problem = only_problem('[lifecycle]\nloyal_count = 3\n\n[pipelines]\nstages = ["new"]\n')
    assert (problem.line, problem.path) == (4, "pipelines")


@pytest.mark.parametrize("written", ['"7 days"', '"7"', '"-1d"', "7", '"0s"', '"3651d"'])
def test_a_bad_duration_names_its_line_and_the_syntax(written: str) -> None:
    problem = only_problem(f'[lifecycle]\nloyal_count = 3\ndormant_after = {written}\n')
    assert (problem.line, problem.path) == (3, "lifecycle.dormant_after")
    assert "duration" in problem.reason


def test_an_unknown_team_is_named_where_it_is_referenced() -> None:
    problems = problems_of(
        '[assignment]\ndefault_team = "ghosts"\n\n'
        '[[assignment.teams]]\nid = "emea"\nmembers = ["rep-1"]\n\n'
        '[[assignment.rules]]\nid = "web"\nsources = ["web"]\nteam = "apac"\n')
    by_path = {p.path: p for p in problems}
    assert by_path["assignment.rules[0].team"].line == 11
    assert by_path["assignment.rules[0].team"].reason == "unknown team 'apac'"
    assert by_path["assignment.default_team"].line == 2
    assert by_path["assignment.default_team"].reason == "unknown team 'ghosts'"


def test_an_unknown_stage_in_gates_is_named() -> None:
    problem = only_problem('[pipeline.gates]\nqualified = ["budget_confirmed"]\nclosing = ["amount"]\n')
    assert (problem.line, problem.path) == (3, "pipeline.gates.closing")
    assert "'closing' is not a stage" in problem.reason


def test_an_unknown_stage_in_follow_up_is_named() -> None:
    problem = only_problem('[follow_up]\ndefault = "7d"\n\n[follow_up.stages]\nwon = "1d"\n')
    assert (problem.line, problem.path) == (5, "follow_up.stages.won")
    assert "not an open stage" in problem.reason


def test_a_skip_to_an_unknown_stage_is_named() -> None:
    problem = only_problem('[pipeline]\nstages = ["new", "demo"]\nskips = [["new", "contacted"]]\n'
                           'gates = {}\n')
    assert (problem.line, problem.path) == (3, "pipeline.skips[0]")
    assert "unknown stage" in problem.reason


def test_a_skip_that_is_not_a_jump_is_refused() -> None:
    problem = only_problem('[pipeline]\nskips = [["new", "contacted"]]\n')
    assert problem.line == 2 and "not a jump forward" in problem.reason


def test_won_and_lost_are_never_listed_as_stages() -> None:
    problem = only_problem('[pipeline]\nstages = ["new", "won"]\ngates = {}\n')
    assert problem.line == 2 and "'won' always closes the pipeline" in problem.reason


def test_stages_without_the_built_in_gated_ones_simply_have_no_gates() -> None:
    # The built-in gates name `qualified` and `proposal`; a pipeline without those stages is
    # not refused for them, and a gate written by hand must still name a stage.
    parse_rules('[pipeline]\nstages = ["new", "demo", "closing"]\n')
    problems = problems_of('[pipeline]\nstages = ["new", "demo", "closing"]\n\n'
                           '[pipeline.gates]\nqualified = ["amount"]\n')
    assert {(p.line, p.path) for p in problems} == {(5, "pipeline.gates.qualified")}
    assert parse_rules('[pipeline]\nstages = ["new", "demo", "closing"]\n\n[pipeline.gates]\n'
                       'closing = ["amount"]\n').pipeline.gates == {"closing": ("amount",)}


def test_duplicate_ids_are_named_on_the_second_definition() -> None:
    problems = problems_of(
        '[[assignment.teams]]\nid = "a"\nmembers = ["x"]\n\n'
        '[[assignment.teams]]\nid = "a"\nmembers = ["y"]\n\n'
        '[[assignment.rules]]\nid = "r"\nto = "x"\n\n'
        '[[assignment.rules]]\nid = "r"\nto = "y"\n')
    assert [(p.line, p.path, p.reason) for p in problems] == [
        (6, "assignment.teams[1].id", "team 'a' is defined twice"),
        (14, "assignment.rules[1].id", "rule 'r' is defined twice"),
    ]


def test_a_rule_needs_exactly_one_of_person_and_team() -> None:
    problem = only_problem('[[assignment.rules]]\nid = "r"\nregions = ["EMEA"]\n')
    assert (problem.line, problem.path) == (1, "assignment.rules[0]")
    assert "exactly one of `to`" in problem.reason


def test_an_approver_tier_gap_is_refused() -> None:
    problem = only_problem(
        '[discount]\napproval_threshold_percent = "10"\n\n'
        '[[discount.approvers]]\nabove_percent = "20"\napprover = "boss"\n')
    assert problem.path == "discount.approvers"
    assert problem.line == 1, "the [discount] table (the tier list has no line of its own)"
    assert "above 10% up to 20% would have no approver" in problem.reason


def test_two_tiers_at_the_same_percent_are_refused() -> None:
    problem = only_problem(
        '[[discount.approvers]]\nabove_percent = "10"\napprover = "a"\n\n'
        '[[discount.approvers]]\nabove_percent = "10"\napprover = "b"\n')
    assert "same percent" in problem.reason


def test_a_partial_sla_map_keeps_the_defaults_of_the_other_priorities() -> None:
    rules = parse_rules('[sla.first_response]\nurgent = "15m"\n\n[sla.resolution]\nlow = "20d"\n')
    assert rules.sla.first_response == {**DEFAULT_RULES.sla.first_response,
                                        "urgent": timedelta(minutes=15)}
    assert rules.sla.resolution == {**DEFAULT_RULES.sla.resolution, "low": timedelta(days=20)}


def test_an_unknown_priority_is_refused_on_its_line() -> None:
    problem = only_problem('[sla.first_response]\nurgent = "15m"\nasap = "5m"\n')
    assert problem.line == 3 and "'urgent'" in problem.reason


def test_the_example_file_passes() -> None:
    rules = parse_rules(EXAMPLE.read_text(encoding="utf-8"), str(EXAMPLE))
    assert rules != DEFAULT_RULES
    # It covers every section.
    assert rules.pipeline.skips and rules.org.managers and rules.assignment.teams
    assert rules.assignment.rules and rules.assignment.default_team
    assert rules.follow_up.stages and rules.sla.escalation.notify and rules.discount.approvers


@pytest.mark.parametrize(("duration", "written"), [
    (timedelta(days=7), "7d"), (timedelta(hours=4, minutes=30), "4h30m"),
    (timedelta(days=1, hours=12), "1d12h"), (timedelta(seconds=45), "45s"),
    (timedelta(days=365), "365d"),
])
def test_durations_are_shown_as_a_rules_file_writes_them(duration: timedelta, written: str) -> None:
    assert format_duration(duration) == written
    assert parse_rules(f'[follow_up]\ndefault = "{written}"\n').follow_up.default == duration


def test_the_rules_as_json_read_like_the_file() -> None:
    shown = rules_as_json(parse_rules(GOOD))
    assert shown["follow_up"] == {"enabled": True, "default": "5d",
                                  "stages": {"negotiation": "1d12h"}}
    assert shown["sla"]["first_response"]["urgent"] == "30m"
    assert shown["discount"]["approvers"][1] == {"above_percent": "30", "approver": "ceo"}
    assert shown["assignment"]["rules"][0]["min_amount"] == "50000"
    assert shown["pipeline"]["skips"] == [["new", "qualified"]]
