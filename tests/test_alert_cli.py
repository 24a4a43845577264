"""`newswatch alerts list/resend/test`: what operators see and do with the outbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from alerts.loopback import SmtpReceiver, WebhookReceiver
from flows.cli import app
from storage.db import connect, migrate
from test_alert_outbox import Clock, _channels, _dispatch, _queue, _statuses


def _config(tmp_path: Path, url: str, name: str = "hook") -> Path:
    config = tmp_path / "newswatch.toml"
    config.write_text(
        f'[storage]\npath = "{tmp_path / "newswatch.duckdb"}"\n'
        '[[topics]]\nid = "envoy"\nname = "US-Sondergesandte für Belarus"\nquery = "Belarus"\n'
        f'[[channels]]\nname = "{name}"\nurl = "{url}"\nmin_send_interval_seconds = 0\n',
        encoding="utf-8",
    )
    return config


@pytest.fixture
def dead_alert(tmp_path: Path):
    """A webhook channel whose one alert failed three times and is dead."""
    from newswatch.config import AlertsConfig

    with WebhookReceiver() as hook:
        config = _config(tmp_path, hook.json_url())
        db_path = tmp_path / "newswatch.duckdb"
        with connect(db_path) as db:
            migrate(db)
        channels = _channels({"name": "hook", "url": hook.json_url()})
        [alert_id] = _queue(db_path, channels, [31])
        hook.status = 500
        for _ in range(3):
            _dispatch(db_path, channels, Clock(), AlertsConfig(max_attempts=3, retry_base_seconds=0))
        assert _statuses(db_path)[alert_id] == ("dead", 3)
        yield config, hook, alert_id, db_path


def test_list_failed_shows_the_dead_letter_list(dead_alert) -> None:
    config, _, alert_id, _ = dead_alert
    wide = {"COLUMNS": "250"}  # rich folds long cells in a narrow terminal
    result = CliRunner().invoke(app, ["alerts", "list", "--failed", "--config", str(config)], env=wide)
    assert result.exit_code == 0, result.output
    assert alert_id[:12] in result.output and "dead" in result.output and "500" in result.output
    assert "Belarus lässt 31 Gefangene frei" in result.output

    as_json = CliRunner().invoke(app, ["alerts", "list", "--json", "--config", str(config)])
    [row] = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert row["alert_id"] == alert_id and row["status"] == "dead" and row["attempts"] == 3


def test_resend_sends_a_dead_alert_by_the_start_of_its_id(dead_alert) -> None:
    config, hook, alert_id, db_path = dead_alert
    hook.status = 200
    before = len(hook.requests)
    result = CliRunner().invoke(app, ["alerts", "resend", alert_id[:8], "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert f"sent alert {alert_id[:12]} to hook" in result.output
    assert len(hook.wait_for(before + 1)) == before + 1
    assert hook.requests[-1].headers["Idempotency-Key"] == alert_id
    assert _statuses(db_path)[alert_id] == ("sent", 1)

    unknown = CliRunner().invoke(app, ["alerts", "resend", "ffffffff", "--config", str(config)])
    assert unknown.exit_code == 2 and "no alert with id" in unknown.output


def test_resend_that_fails_again_exits_non_zero(dead_alert) -> None:
    config, _, alert_id, db_path = dead_alert
    result = CliRunner().invoke(app, ["alerts", "resend", alert_id, "--config", str(config)])
    assert result.exit_code == 1 and "failed again" in result.output
    assert _statuses(db_path)[alert_id] == ("failed", 1)  # a fresh set of attempts, retried by passes


def test_test_command_sends_a_sample_alert(tmp_path: Path) -> None:
    with SmtpReceiver() as smtp:
        config = _config(tmp_path, smtp.mailto_url(), name="desk-email")
        result = CliRunner().invoke(app, ["alerts", "test", "desk-email", "--config", str(config)])
        assert result.exit_code == 0, result.output
        [mail] = smtp.wait_for(1)
    assert "Testnachricht" in mail["Subject"]
    missing = CliRunner().invoke(app, ["alerts", "test", "nope", "--config", str(config)])
    assert missing.exit_code == 2 and "no channel 'nope'" in missing.output


def test_a_channel_url_can_come_from_a_prefect_secret_block(tmp_path: Path) -> None:
    from prefect.blocks.system import Secret

    with WebhookReceiver() as hook:
        Secret(value=hook.json_url("/from-secret")).save("newswatch-test-hook", overwrite=True)
        config = _config(tmp_path, "{{ prefect.blocks.secret.newswatch-test-hook }}")
        result = CliRunner().invoke(app, ["alerts", "test", "hook", "--config", str(config)])
        assert result.exit_code == 0, result.output
        [request] = hook.wait_for(1)
    assert request.path == "/from-secret"
    missing = _config(tmp_path, "{{ prefect.blocks.secret.newswatch-no-such-block }}")
    result = CliRunner().invoke(app, ["alerts", "test", "hook", "--config", str(missing)])
    assert result.exit_code == 2
    assert "cannot read the Prefect Secret block 'newswatch-no-such-block'" in result.output


def test_run_refuses_a_channel_url_apprise_cannot_use(tmp_path: Path) -> None:
    config = _config(tmp_path, "nosuchservice://token123")
    result = CliRunner().invoke(app, ["run", "--config", str(config)], env={"COLUMNS": "250"})
    assert result.exit_code == 2
    assert "channels[0].url" in result.output and "unknown service 'nosuchservice://'" in result.output
    assert "token123" not in result.output


def test_listing_needs_no_channel_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NEWSWATCH_TEST_UNSET_HOOK", raising=False)
    config = _config(tmp_path, "${NEWSWATCH_TEST_UNSET_HOOK}")
    with connect(tmp_path / "newswatch.duckdb") as db:
        migrate(db)
    assert CliRunner().invoke(app, ["alerts", "list", "--config", str(config)]).exit_code == 0
    sending = CliRunner().invoke(app, ["alerts", "test", "hook", "--config", str(config)], env={"COLUMNS": "250"})
    assert sending.exit_code == 2 and "NEWSWATCH_TEST_UNSET_HOOK is not set" in sending.output


def test_dispatch_sends_what_is_due_and_stands_aside_while_a_pass_runs(tmp_path: Path) -> None:
    from storage.db import PassLock

    with WebhookReceiver() as hook:
        config = _config(tmp_path, hook.json_url())
        db_path = tmp_path / "newswatch.duckdb"
        with connect(db_path) as db:
            migrate(db)
        _queue(db_path, _channels({"name": "hook", "url": hook.json_url()}), [31])
        with PassLock(db_path):
            busy = CliRunner().invoke(app, ["alerts", "dispatch", "--config", str(config)], env={"COLUMNS": "250"})
        assert busy.exit_code == 0 and "skipped" in busy.output and not hook.requests
        result = CliRunner().invoke(app, ["alerts", "dispatch", "--config", str(config)], env={"COLUMNS": "250"})
        assert result.exit_code == 0, result.output
        assert "sent 1" in result.output
        assert len(hook.wait_for(1)) == 1
    assert {s for s, _ in _statuses(db_path).values()} == {"sent"}
