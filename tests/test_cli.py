"""The `newswatch` console script: help everywhere, `extract` prints the documented JSON."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from flows.cli import app
from flows.demo import COVERAGE, render
from newswatch.config import PROJECT_ROOT

runner = CliRunner()
COMMANDS = ["run", "extract", "migrate", "demo"]


def test_the_console_script_is_installed_and_helps() -> None:
    script = shutil.which("newswatch", path=str(Path(sys.executable).parent))
    assert script, "the newswatch console script is not installed in the environment"
    result = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for command in COMMANDS:
        assert command in result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_extract_prints_title_text_language_and_date(tmp_path: Path) -> None:
    source = COVERAGE / "sites" / "agd" / "meldung" / "belarus-begnadigt-31-politische-gefangene-id48213.html"
    page = tmp_path / "page.html"
    page.write_text(render(source.read_text(encoding="utf-8"), "https://agd.example", _fixed_now()), encoding="utf-8")
    result = runner.invoke(app, ["extract", "--html", str(page), "--url", "https://agd.example/meldung/x.html"])
    assert result.exit_code == 0, result.output
    output = json.loads(result.stdout)
    assert {"title", "text", "language", "published"} <= output.keys()
    assert output["language"] == "de"
    assert "31" in output["title"] and "Gefangene" in output["title"]
    assert len(output["text"]) > 800
    assert "Cookie" not in output["text"]
    assert output["published"] == "2025-11-21T06:00:00+00:00"  # {{ISODATE:-6h}} from the fixed now


def test_extract_on_a_page_without_text_fails_clearly(tmp_path: Path) -> None:
    empty = tmp_path / "empty.html"
    empty.write_bytes(b"\x00\x01\x02 not html at all")
    result = runner.invoke(app, ["extract", "--html", str(empty)])
    assert result.exit_code == 1
    assert "no article text found" in result.output


def test_migrate_creates_and_reports_the_schema(tmp_path: Path) -> None:
    config = tmp_path / "newswatch.toml"
    config.write_text('[storage]\npath = "db/n.duckdb"\n')
    first = runner.invoke(app, ["migrate", "--config", str(config)])
    assert first.exit_code == 0 and "applied 1" in first.output
    again = runner.invoke(app, ["migrate", "--config", str(config)])
    assert again.exit_code == 0 and "already up to date" in again.output


def _fixed_now():
    from datetime import UTC, datetime

    return datetime(2025, 11, 21, 12, 0, tzinfo=UTC)


def test_run_names_a_missing_config() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flows.cli", "run", "--config", "/nonexistent/newswatch.toml"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2
    assert "/nonexistent/newswatch.toml: cannot read the config file" in result.stderr
