"""prefect.yaml and `newswatch serve` declare the same deployments, and every one of them points at
a real flow with parameters it accepts (a typo here only shows when the schedule fires)."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jinja2
import pytest
import yaml

from flows.serve import build_deployments
from newswatch.config import ScheduleConfig, load_settings

PROJECT = Path(__file__).resolve().parent.parent
DECLARED = yaml.safe_load((PROJECT / "prefect.yaml").read_text(encoding="utf-8"))
BY_NAME = {d["name"]: d for d in DECLARED["deployments"]}


def _flow(entrypoint: str):
    path, name = entrypoint.split(":")
    return getattr(importlib.import_module(path.removesuffix(".py").replace("/", ".")), name)


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_each_deployment_runs_a_flow_with_parameters_it_accepts(name: str) -> None:
    declared = BY_NAME[name]
    flow = _flow(declared["entrypoint"])
    assert (PROJECT / declared["entrypoint"].split(":")[0]).is_file()
    # A deployment's parameters plus what a person running it is asked for (backfill: the date).
    asked = {"since": "2026-11-01"} if "since" in (flow.parameters.required or []) else {}
    flow.validate_parameters({**declared.get("parameters", {}), **asked})
    assert declared["work_pool"]["name"] == "newswatch"


def test_the_schedules_are_the_configs_defaults_and_never_overlap() -> None:
    defaults = ScheduleConfig()
    monitor, dispatch = BY_NAME["monitor"], BY_NAME["dispatch-alerts"]
    assert monitor["schedules"] == [{"interval": defaults.monitor_interval_minutes * 60, "timezone": "Europe/Berlin"}]
    assert dispatch["schedules"] == [{"interval": defaults.dispatch_interval_minutes * 60, "timezone": "Europe/Berlin"}]
    for scheduled in (monitor, dispatch):
        assert scheduled["concurrency_limit"] == {"limit": 1, "collision_strategy": "CANCEL_NEW"}


def test_serve_declares_what_prefect_yaml_declares() -> None:
    settings = load_settings(PROJECT / "newswatch.toml", expand_secrets=False)
    served = {d.name: d for d in build_deployments(settings, PROJECT / "newswatch.toml")}
    for name, deployment in served.items():
        declared = BY_NAME[name]
        assert deployment.entrypoint == declared["entrypoint"]
        interval = declared["schedules"][0]["interval"]
        assert deployment.schedules[0].schedule.interval == timedelta(seconds=interval)
        assert deployment.schedules[0].schedule.timezone == "Europe/Berlin"
        assert deployment.concurrency_limit == 1
        assert deployment.concurrency_options.collision_strategy.value == "CANCEL_NEW"
        assert deployment.parameters["config_path"] == str((PROJECT / "newswatch.toml").resolve())


def test_the_event_triggered_backfill_gets_parameters_its_flow_accepts() -> None:
    from prefect.events.schemas.deployment_triggers import DeploymentEventTrigger

    declared = BY_NAME["backfill-recovered-feed"]
    flow = _flow(declared["entrypoint"])
    (trigger,) = declared["triggers"]
    parsed = DeploymentEventTrigger.model_validate({k: v for k, v in trigger.items() if k != "type"})
    assert parsed.expect == {"newswatch.feed.recovered"}
    # What the automation renders from a recovered feed's event (flows/events.py), with and
    # without a last success before the outage.
    occurred = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)
    for failing_since in ("2026-11-20T06:10:00+00:00", None):
        event = {"payload": {"feed": "tagesschau", "failing_since": failing_since}, "occurred": occurred}
        rendered = {
            key: jinja2.Template(value).render(event=event) for key, value in trigger["parameters"].items()
        }
        parameters = flow.validate_parameters({**declared["parameters"], **rendered})
        assert parameters["feeds"] == "tagesschau"
        assert parameters["since"] == (datetime.fromisoformat(failing_since) if failing_since else occurred)


def test_the_documented_automation_is_one_prefect_accepts() -> None:
    from prefect.events.schemas.automations import AutomationCore

    document = yaml.safe_load((PROJECT / "docs" / "automations" / "alerts-failing.yaml").read_text(encoding="utf-8"))
    (automation,) = [AutomationCore.model_validate(a) for a in document["automations"]]
    assert automation.trigger.expect == {"newswatch.alert.failed"}
    body = jinja2.Template(automation.actions[0].body).render(
        event={"payload": {"channel": "desk-email", "error": "SMTP refused", "dead": ["a1"]}}
    )
    assert "desk-email" in body and "SMTP refused" in body and "no attempts left): 1" in body
