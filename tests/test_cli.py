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
COMMANDS = ["run", "extract", "migrate", "demo", "topics", "diff"]


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


def _seeded_database(tmp_path: Path) -> Path:
    """A database holding the seed corpus and its fingerprints, as the first pass leaves it."""
    from datetime import UTC, datetime

    from newswatch.config import BUNDLED_SEED_CORPUS
    from novelty.fingerprint import fingerprint_article
    from storage import repository
    from storage.db import connect, migrate
    from storage.seed import read_seed_corpus

    config = tmp_path / "newswatch.toml"
    config.write_text(f'[storage]\npath = "{tmp_path / "nw.duckdb"}"\n', encoding="utf-8")
    seed = read_seed_corpus(BUNDLED_SEED_CORPUS)
    with connect(tmp_path / "nw.duckdb") as db:
        migrate(db)
        repository.load_seed_articles(db, seed)
        repository.store_fingerprints(db, [fingerprint_article(a) for a in seed], datetime.now(UTC))
    return config


def test_diff_of_a_file_finds_the_seed_article_it_copies(tmp_path: Path) -> None:
    from newswatch.config import BUNDLED_SEED_CORPUS
    from storage.seed import read_seed_corpus

    config = _seeded_database(tmp_path)
    original = read_seed_corpus(BUNDLED_SEED_CORPUS)[4]
    copy = tmp_path / "copy.txt"
    copy.write_text("Eine ganz neue Überschrift\n" + original.text, encoding="utf-8")
    result = runner.invoke(app, ["diff", str(copy), "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    output = json.loads(result.stdout)
    assert output["decision"] == "duplicate"
    assert output["duplicate_of"] == original.article_id
    known = [s for s in output["sentences"] if not s["novel"] and s["counterpart_text"]]
    assert len(known) > 10 and known[0]["counterpart_article_id"] == original.article_id

    shown = runner.invoke(app, ["diff", str(copy), "--config", str(config)], env={"COLUMNS": "160"})
    assert shown.exit_code == 0, shown.output
    assert "duplicate" in shown.stdout and "Kopie von" in shown.stdout and original.title[:30] in shown.stdout


def test_diff_highlights_new_sentences_and_facts(tmp_path: Path) -> None:
    config = _seeded_database(tmp_path)
    draft = tmp_path / "draft.txt"
    draft.write_text(
        "Belarus lässt 31 politische Gefangene frei\n"
        "Nach einem Besuch des US-Sondergesandten John Coale hat Machthaber Alexander Lukaschenko "
        "31 politische Gefangene begnadigt. Unter ihnen ist die Journalistin Iryna Lapizkaja, teilte "
        "das Menschenrechtszentrum Wjasna mit.",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["diff", str(draft), "--config", str(config), "--json"])
    output = json.loads(result.stdout)
    assert output["decision"] == "new_development"
    assert {"31 politische Gefangene", "Lapizkaja"} <= {f["text"] for f in output["new_facts"]}
    shown = runner.invoke(app, ["diff", str(draft), "--config", str(config)], env={"COLUMNS": "160"})
    assert "NEU" in shown.stdout and "Neue Fakten" in shown.stdout and "würde alarmieren" in shown.stdout


def test_diff_names_an_unknown_article(tmp_path: Path) -> None:
    config = _seeded_database(tmp_path)
    result = runner.invoke(app, ["diff", "https://nowhere.example/x", "--config", str(config)])
    assert result.exit_code == 1
    assert "https://nowhere.example/x" in result.output and "no stored article" in result.output
