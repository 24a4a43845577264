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
COMMANDS = ["run", "extract", "migrate", "demo", "topics"]


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


def test_topics_match_prints_one_json_line_per_file(tmp_path: Path) -> None:
    relevant = tmp_path / "a.txt"
    relevant.write_text("Washington lockert Sanktionen gegen Minsk\nDie US-Sanktionen gegen Belavia fallen.\n")
    sports = tmp_path / "b.txt"
    sports.write_text("Bundesliga\nKöln und Werder trennen sich 2:2.\n")
    page = COVERAGE / "sites" / "agd" / "meldung" / "belarus-begnadigt-31-politische-gefangene-id48213.html"
    result = runner.invoke(
        app, ["topics", "match", "--query", "(Belarus OR Minsk) AND Sanktion*", str(relevant), str(sports)]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines == [
        {"file": str(relevant), "matched": True, "terms": ["Sanktion*", "Minsk"]},
        {"file": str(sports), "matched": False, "terms": []},
    ]
    html = runner.invoke(app, ["topics", "match", "--query", '"politische Gefangene" AND Lukaschenko', str(page)])
    assert json.loads(html.stdout)["matched"] is True


def test_topics_match_rejects_a_bad_query_with_its_position(tmp_path: Path) -> None:
    result = runner.invoke(app, ["topics", "match", "--query", "(Belarus AND", str(tmp_path / "x.txt")])
    assert result.exit_code == 2
    assert "position 13" in result.output


def test_topics_test_shows_matching_seed_articles(tmp_path: Path) -> None:
    config = tmp_path / "newswatch.toml"
    config.write_text("")  # defaults: the bundled seed corpus, no database yet
    result = runner.invoke(app, ["topics", "test", "--query", "Sapad OR Zapad", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "In Sapads Schatten" in result.output
    assert "2 of 5 German articles" in result.output
