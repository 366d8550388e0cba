"""Managing a tenant's rules file over HTTP and from `crm rules`, on the embedded SQLite store.

The rules take effect on the next command, in this process and (within the rules book's
refresh) in every other process on the same store; a refused file changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from services.bootstrap import Chronicle, Parts
from services.cli import app as cli
from services.command.domain.aggregate import CommandContext
from services.command.domain.errors import RuleViolation
from services.command.service import CommandService, NewCustomer
from services.common.auth.principal import cli_actor
from services.common.event_store import open_event_store
from services.common.events.customer import CustomerPersonal
from services.common.settings import Settings
from tests.contract.command_api import Api
from tests.errors import error_shaped
from tests.harness.auth import keys_of
from tests.waiting import eventually

EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "rules.example.toml"

NO_GATES = """\
[pipeline]
stages = ["new", "contacted", "qualified", "proposal", "negotiation"]
gates = {}
"""

DEMO_PIPELINE = """\
# Our own stages: a demo instead of contacted, and no proposal.
[pipeline]
stages = ["new", "demo", "qualified", "negotiation"]

[pipeline.gates]
negotiation = ["amount"]
"""

BAD = """\
[pipeline]
stages = ["new", "contacted", "qualified", "proposal", "negotiation"]
gates = {}

[follow_up]
default = "a week"
"""


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "crm-data", discount_approval_threshold_percent=Decimal("5"),
                    lifecycle_dormant_days=30)


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    with Chronicle(settings, Parts(commands=True)) as crm, \
            TestClient(crm.command_api(), raise_server_exceptions=False) as client:
        assert crm.store is not None
        keys = keys_of(client.app)
        for actor in ("ops-1", "ops-2", "ops-3"):  # issued up front: tests count events
            keys.token(subject=actor)
        client.headers.update(keys.headers())  # an admin of the default tenant
        yield Api(client, crm.store, keys)


def put_rules(api: Api, text: str | bytes, actor: str = "ops-1", source: str | None = None,
              content_type: str = "application/toml", tenant: str = "default",
              **headers: str) -> Any:
    return api.client.put("/v1/rules", content=text, params={"source": source} if source else {},
                          headers={**api.auth(actor, tenant), "Content-Type": content_type,
                                   **headers})


def rules_in_force(api: Api) -> dict[str, Any]:
    response = api.client.get("/v1/rules")
    assert response.status_code == 200, response.text
    assert response.headers["ETag"] == f'"{response.json()["version"]}"'
    return dict(response.json())


# -- HTTP -------------------------------------------------------------------------------------


def test_a_tenant_without_a_file_runs_on_the_built_in_rules_with_the_settings_thresholds(
        api: Api) -> None:
    shown = rules_in_force(api)
    assert (shown["version"], shown["rules_toml"], shown["changed_by"]) == (0, "", None)
    assert shown["rules"]["pipeline"]["gates"] == {"qualified": ["budget_confirmed"],
                                                   "proposal": ["amount"]}
    assert shown["rules"]["discount"]["approval_threshold_percent"] == "5"
    assert shown["rules"]["lifecycle"]["dormant_after"] == "30d"
    assert shown["rules"]["sla"]["first_response"]["urgent"] == "1h"
    assert api.client.get("/v1/rules/history").json() == {"tenant_id": "default", "changes": []}


def test_new_gates_take_effect_on_the_next_command_without_a_restart(api: Api) -> None:
    lead = api.lead()
    assert api.stage(lead, "contacted").status_code == 200
    error_shaped(api.stage(lead, "qualified"), 422, rule="qualified_requires_confirmed_budget")

    response = put_rules(api, NO_GATES)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {"tenant_id": "default", "version": 1, "position": api.stored(),
                    "changed": ["discount", "lifecycle", "pipeline"]}
    assert response.headers["ETag"] == '"1"'

    assert api.stage(lead, "qualified").status_code == 200, "no budget gate any more"
    assert api.stage(lead, "proposal").status_code == 200


def test_a_custom_stage_list_is_enforced(api: Api) -> None:
    assert put_rules(api, DEMO_PIPELINE).status_code == 200
    lead = api.lead(amount=None)
    error_shaped(api.stage(lead, "contacted"), 422, rule="unknown_stage")
    assert api.stage(lead, "demo").status_code == 200
    error_shaped(api.stage(lead, "negotiation"), 422, rule="transition_not_allowed")
    assert api.stage(lead, "qualified").status_code == 200, "no gate on qualified any more"
    error_shaped(api.stage(lead, "negotiation"), 422, rule="negotiation_requires_amount")


def test_a_refused_file_answers_each_line_and_reason_and_changes_nothing(api: Api) -> None:
    assert put_rules(api, DEMO_PIPELINE).status_code == 200
    before, stored = rules_in_force(api), api.stored()

    response = put_rules(api, BAD, actor="ops-2")
    error_shaped(response, 422, code="invalid_rules")
    problems = response.json()["details"]["problems"]
    assert problems == [{"line": 6, "path": "follow_up.default",
                         "reason": "'a week' is not a duration such as \"7d\", \"4h\", "
                                   "\"1h30m\" or \"45s\""}]

    assert api.stored() == stored, "nothing written"
    assert rules_in_force(api) == before
    lead = api.lead()
    error_shaped(api.stage(lead, "contacted"), 422, rule="unknown_stage")  # the demo pipeline holds


def test_bad_toml_is_refused_with_its_line(api: Api) -> None:
    response = put_rules(api, '[pipeline]\nstages = ["new" "demo"]\n')
    error_shaped(response, 422, code="invalid_rules")
    [problem] = response.json()["details"]["problems"]
    assert problem["line"] == 2 and problem["reason"].startswith("not valid TOML")


def test_deeply_nested_toml_is_refused_with_a_message_not_a_500(
        api: Api, caplog: pytest.LogCaptureFixture) -> None:
    before = api.stored()
    for text in ("x = " + "[" * 5000 + "]" * 5000, "x = " + "{a=" * 2000 + "1" + "}" * 2000):
        response = put_rules(api, text)
        error_shaped(response, 422, code="invalid_rules")
        [problem] = response.json()["details"]["problems"]
        assert "nest too deeply" in problem["reason"]
    assert api.stored() == before
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_history_lists_who_changed_which_rules_when(api: Api) -> None:
    first = put_rules(api, NO_GATES, actor="ops-1", source="git:abc123").json()
    second = put_rules(api, NO_GATES + '\n[follow_up]\ndefault = "3d"\n', actor="ops-2").json()
    error_shaped(put_rules(api, BAD, actor="ops-3"), 422, code="invalid_rules")

    response = api.client.get("/v1/rules/history")
    assert response.status_code == 200
    changes = response.json()["changes"]
    assert [(c["version"], c["changed_by"], c["source"], c["changed"]) for c in changes] == [
        (2, "ops-2", "api", ["follow_up"]),
        (1, "ops-1", "git:abc123", ["discount", "lifecycle", "pipeline"]),
    ]
    assert [c["position"] for c in changes] == [second["position"], first["position"]]
    assert changes[0]["changed_at"] >= changes[1]["changed_at"]
    shown = rules_in_force(api)
    assert (shown["version"], shown["changed_by"], shown["source"]) == (2, "ops-2", "api")
    assert (shown["changed_at"], shown["digest"]) == (changes[0]["changed_at"],
                                                      changes[0]["digest"])
    assert shown["rules"]["follow_up"]["default"] == "3d"


def test_the_same_file_again_is_no_change(api: Api) -> None:
    assert put_rules(api, NO_GATES).status_code == 200
    stored = api.stored()
    error_shaped(put_rules(api, NO_GATES), 422, rule="no_change")
    assert api.stored() == stored
    commented = put_rules(api, "# reviewed by ops-2\n" + NO_GATES)
    assert commented.status_code == 200
    assert (commented.json()["version"], commented.json()["changed"]) == (2, [])


def test_a_stale_if_match_gets_409_and_changes_nothing(api: Api) -> None:
    assert put_rules(api, NO_GATES, **{"If-Match": '"0"'}).status_code == 200
    stored = api.stored()
    response = put_rules(api, DEMO_PIPELINE, **{"If-Match": '"0"'})
    error_shaped(response, 409, code="version_conflict")
    assert response.headers["ETag"] == '"1"'
    assert api.stored() == stored and rules_in_force(api)["rules_toml"] == NO_GATES
    assert put_rules(api, DEMO_PIPELINE, **{"If-Match": '"1"'}).json()["version"] == 2


def test_an_idempotent_retry_answers_the_first_result_and_writes_nothing(api: Api) -> None:
    first = put_rules(api, NO_GATES, **{"Idempotency-Key": "rules-1"})
    stored = api.stored()
    again = put_rules(api, NO_GATES, **{"Idempotency-Key": "rules-1"})
    assert again.status_code == 200 and again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert api.stored() == stored
    other_source = put_rules(api, NO_GATES, source="git", **{"Idempotency-Key": "rules-1"})
    error_shaped(other_source, 422, code="idempotency_key_reused")


@pytest.mark.parametrize("content_type", ["application/json", "application/x-www-form-urlencoded",
                                          "text/plain; charset=latin-1", ""])
def test_a_body_that_is_not_toml_text_gets_415(api: Api, content_type: str) -> None:
    response = put_rules(api, NO_GATES, content_type=content_type)
    error_shaped(response, 415, code="unsupported_media_type")
    assert rules_in_force(api)["version"] == 0


def test_text_plain_is_accepted_and_non_utf8_gets_400(api: Api) -> None:
    error_shaped(put_rules(api, "# é\n".encode("latin-1"), content_type="text/plain"), 400,
            code="invalid_encoding")
    response = put_rules(api, NO_GATES, content_type="text/plain; charset=utf-8")
    assert response.status_code == 200, response.text


def test_rules_are_per_tenant(api: Api) -> None:
    response = put_rules(api, NO_GATES, tenant="acme")
    assert response.json()["tenant_id"] == "acme"
    assert api.client.get("/v1/rules", headers=api.auth("ops-1", "acme")).json()["version"] == 1
    assert rules_in_force(api)["version"] == 0
    lead = api.lead()
    api.stage(lead, "contacted")
    error_shaped(api.stage(lead, "qualified"), 422, rule="qualified_requires_confirmed_budget")


# -- two processes on one store ---------------------------------------------------------------


def test_a_change_made_in_one_process_takes_effect_in_another(settings: Settings) -> None:
    stores = [open_event_store(settings), open_event_store(settings)]
    writer, other = (CommandService(store, settings) for store in stores)
    try:
        ctx = CommandContext(actor="rep-1", tenant_id="default")
        customer = other.register_customer(ctx, NewCustomer(CustomerPersonal(name="Ada")))
        lead = other.create_lead(ctx, customer_id=UUID(customer.ids["customer_id"]),
                                 new_customer=None, title="Deal", amount="10.00", currency="EUR")
        lead_id = UUID(lead.ids["lead_id"])
        other.change_lead_stage(ctx, lead_id, "contacted")
        with pytest.raises(RuleViolation, match="budget"):
            other.change_lead_stage(ctx, lead_id, "qualified")  # the other process's rules: built in

        writer.change_rules(CommandContext(actor="ops-1", tenant_id="default"), NO_GATES, "test")

        def qualified_under_the_new_rules() -> bool:
            try:
                other.change_lead_stage(ctx, lead_id, "qualified")
            except RuleViolation as exc:
                assert exc.rule == "qualified_requires_confirmed_budget"
                return False
            return True

        # The rules book refreshes every second.
        eventually(qualified_under_the_new_rules, 15, "the other process never saw the new rules")
    finally:
        for service in (writer, other):
            service.close()
        for store in stores:
            store.close()


# -- crm rules --------------------------------------------------------------------------------

runner = CliRunner()


@pytest.fixture
def embedded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[str]:
    """The CLI's store options for a fresh embedded store, whatever the environment says."""
    for name in ("CRM_POSTGRES_URL", "CRM_MEMORY_STORE", "CRM_DATA_DIR", "CRM_KAFKA_BOOTSTRAP",
                 "CRM_DEFAULT_TENANT"):
        monkeypatch.delenv(name, raising=False)
    return ["--data-dir", str(tmp_path / "cli-data")]


def test_rules_check_says_ok_or_lists_each_problem_as_file_and_line(tmp_path: Path) -> None:
    good = runner.invoke(cli, ["rules", "check", str(EXAMPLE)])
    assert good.exit_code == 0, good.output
    assert good.output.startswith("ok: 5 open stages, 2 teams, 2 assignment rules")

    bad_file = tmp_path / "rules.toml"
    bad_file.write_text(BAD + '\n[[assignment.rules]]\nid = "web"\nteam = "ghosts"\nbogus = 1\n')
    bad = runner.invoke(cli, ["rules", "check", str(bad_file)])
    assert bad.exit_code == 1
    assert bad.output.splitlines() == [
        f"{bad_file}:6: follow_up.default: 'a week' is not a duration such as \"7d\", \"4h\", "
        "\"1h30m\" or \"45s\"",
        f"{bad_file}:11: assignment.rules[0].bogus: Extra inputs are not permitted",
    ]


def test_rules_example_prints_the_example_file() -> None:
    result = runner.invoke(cli, ["rules", "example"])
    assert result.exit_code == 0
    assert result.stdout == EXAMPLE.read_text(encoding="utf-8")


def test_rules_apply_show_and_history(tmp_path: Path, embedded: list[str]) -> None:
    no_store = runner.invoke(cli, ["rules", "show", "--tenant", "acme", *embedded])
    assert no_store.exit_code == 2 and "no event store in" in no_store.output

    rules_file = tmp_path / "acme.toml"
    rules_file.write_text(NO_GATES)
    applied = runner.invoke(cli, ["rules", "apply", str(rules_file), "--tenant", "acme", *embedded])
    assert applied.exit_code == 0, applied.output
    assert applied.stdout.splitlines() == ["tenant acme: rules version 1 (position 1)",
                                           "changed: pipeline"]

    built_in = runner.invoke(cli, ["rules", "show", "--tenant", "globex", *embedded])
    assert built_in.exit_code == 0
    assert "built-in rules are in force" in built_in.stderr
    assert built_in.stdout == EXAMPLE.read_text(encoding="utf-8")

    again = runner.invoke(cli, ["rules", "apply", str(rules_file), "--tenant", "acme", *embedded])
    assert again.exit_code == 0 and again.stdout.startswith("no change")

    bad_file = tmp_path / "bad.toml"
    bad_file.write_text(BAD)
    refused_file = runner.invoke(cli, ["rules", "apply", str(bad_file), "--tenant", "acme", *embedded])
    assert refused_file.exit_code == 1
    assert refused_file.stdout.startswith(f"{bad_file}:6: follow_up.default: 'a week'")

    shown = runner.invoke(cli, ["rules", "show", "--tenant", "acme", *embedded])
    assert shown.exit_code == 0
    assert shown.stdout == NO_GATES, "the file in force, not the refused one"
    assert f"version 1, changed by {cli_actor()}" in shown.stderr

    history = runner.invoke(cli, ["rules", "history", "--tenant", "acme", *embedded])
    assert history.exit_code == 0
    [line] = history.stdout.splitlines()
    assert line.startswith("v1  ") and f"  {cli_actor()}  source acme.toml  position 1  " in line
    assert line.endswith("changed: pipeline")

    other = runner.invoke(cli, ["rules", "history", "--tenant", "other", *embedded])
    assert other.exit_code == 0 and "never changed its rules" in other.stdout


def test_rules_apply_refuses_a_bad_tenant_and_takes_no_actor_from_the_caller(
        tmp_path: Path, embedded: list[str]) -> None:
    result = runner.invoke(cli, ["rules", "apply", str(EXAMPLE), "--tenant", "Not A Tenant",
                                 *embedded])
    assert result.exit_code == 2
    result = runner.invoke(cli, ["rules", "apply", str(EXAMPLE), "--actor", "manager",
                                 *embedded])
    assert result.exit_code == 2 and "--actor" in result.output  # the actor is cli:<user>


def test_a_lead_in_a_stage_the_new_pipeline_dropped_can_move_on_or_be_lost() -> None:
    from services.command.domain.pipeline import Pipeline

    pipeline = Pipeline(open_stages=("new", "demo", "qualified"))
    assert pipeline.allowed_moves("contacted") == ["new", "demo", "qualified", "lost"]
    pipeline.check_move("contacted", "demo")
    pipeline.check_move("contacted", "lost")


def test_a_custom_pipeline_without_the_default_stages_has_no_gates() -> None:
    from services.command.domain.rules import parse_rules

    rules = parse_rules('[pipeline]\nstages = ["new", "demo", "trial"]\n')
    assert rules.pipeline.stages == ("new", "demo", "trial")
