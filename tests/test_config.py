"""newswatch.toml is validated at load: every problem is one message naming the key."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest

from newswatch.config import (
    BUNDLED_SEED_CORPUS,
    PROJECT_ROOT,
    ConfigError,
    load_settings,
    parse_address_allowance,
)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "newswatch.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as error:
        load_settings(_write(tmp_path, text))
    return str(error.value)


def test_the_shipped_config_loads_with_real_feeds_and_topics() -> None:
    settings = load_settings(PROJECT_ROOT / "newswatch.toml")
    assert len(settings.feeds) >= 15
    assert all(feed.url.startswith("https://") for feed in settings.feeds)
    assert {t.id for t in settings.topics} == {
        "belarus-envoy", "belarus-sanctions", "belarus-prisoners", "us-russia",
    }
    assert settings.fetch.allow_private_addresses is False


def test_keys_left_out_take_the_documented_defaults(tmp_path: Path) -> None:
    settings = load_settings(_write(tmp_path, ""))
    assert settings.storage.path == tmp_path / "data" / "newswatch.duckdb"
    assert settings.storage.resolved_snapshot_path == tmp_path / "data" / "newswatch.snapshot.duckdb"
    assert settings.corpus.seed_path == BUNDLED_SEED_CORPUS
    assert settings.fetch.allow_private_addresses is False
    assert settings.fetch.max_page_bytes == 5_000_000
    assert settings.feeds == [] and settings.channels == []


def test_the_documented_interface_example_loads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DESK_MAIL", "mailto://desk:secret@example.org")
    settings = load_settings(_write(tmp_path, """
[storage]
path = "data/newswatch.duckdb"
[fetch]
allow_private_addresses = ["127.0.0.1:8000"]
[[feeds]]
name = "tagesschau"
url = "https://www.tagesschau.de/index~rss2.xml"
[[topics]]
id = "belarus-envoy"
name = "US-Sondergesandte für Belarus"
query = '(Belarus OR Minsk OR Lukaschenko) AND (Sondergesandt* OR Coale OR Kellogg)'
[[channels]]
name = "desk-email"
url = "${DESK_MAIL}"
topics = ["belarus-envoy"]
"""))
    assert settings.channels[0].url == "mailto://desk:secret@example.org"
    assert "secret" not in repr(settings.channels[0])  # secrets never printed
    assert settings.fetch.allow_private_addresses == ["127.0.0.1:8000"]


def test_every_problem_is_reported_at_once_naming_its_key(tmp_path: Path) -> None:
    message = _error(tmp_path, """
[fetch]
allow_private_addresses = ["example.org"]
max_redirects = -1
colour = "blue"
[[feeds]]
name = "ok"
url = "file:///etc/passwd"
[[feeds]]
name = "two"
""")
    assert "fetch.allow_private_addresses" in message and "'example.org'" in message
    assert "fetch.max_redirects" in message
    assert "fetch.colour: unknown key" in message
    assert "feeds[0].url: 'file:///etc/passwd' is not an http(s) URL" in message
    assert "feeds[1].url: required key is missing" in message
    assert str(tmp_path / "newswatch.toml") in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[[feeds]]\nname='a'\nurl='https://a.de/x'\n[[feeds]]\nname='a'\nurl='https://b.de/x'\n",
         "feeds[1].name: 'a' is used twice"),
        ("[[topics]]\nid='t'\nname='T'\nquery='Belarus'\n[[channels]]\nname='c'\nurl='json://h'\ntopics=['x']\n",
         "channels[0].topics: unknown topic 'x'"),
        ("[[channels]]\nname='c'\nurl='mailto://${NEWSWATCH_TEST_UNSET}'\n",
         "channels[0].url: environment variable NEWSWATCH_TEST_UNSET is not set"),
        ("[[topics]]\nid='t'\nname='T'\nquery='   '\n", "topics[0].query: the query is empty"),
        ("[[feeds]]\nname='a b'\nurl='https://a.de'\n", "feeds[0].name"),
        ("this is = not toml =", "not valid TOML"),
    ],
)
def test_bad_configs_name_the_key(tmp_path: Path, text: str, expected: str) -> None:
    assert expected in _error(tmp_path, text)


def test_a_missing_or_binary_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the config file"):
        load_settings(tmp_path / "absent.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00junk")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(binary)


@pytest.mark.parametrize(
    ("entry", "network", "port"),
    [
        ("127.0.0.1:8000", "127.0.0.1/32", 8000),
        ("10.0.0.0/8", "10.0.0.0/8", None),
        ("[::1]:8080", "::1/128", 8080),
        ("192.168.1.5", "192.168.1.5/32", None),
    ],
)
def test_address_allowances(entry: str, network: str, port: int | None) -> None:
    assert parse_address_allowance(entry) == (ipaddress.ip_network(network), port)


@pytest.mark.parametrize("entry", ["localhost:80", "127.0.0.1:99999", "127.0.0.1:x", ""])
def test_bad_address_allowances(entry: str) -> None:
    with pytest.raises(ValueError):
        parse_address_allowance(entry)
