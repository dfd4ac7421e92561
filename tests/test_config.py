"""Settings: defaults, unknown keys and wrong types named, paths resolved, secrets from env."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.config import SECTIONS, load_settings
from publisher.errors import ConfigError

REPO = Path(__file__).resolve().parent.parent


def test_shipped_config_describes_the_publication() -> None:
    settings = load_settings(REPO / "config.toml", environ={})
    site = settings.site_record
    assert (site.title, site.base_url, site.language) == ("Left Voice", "https://www.leftvoice.org", "en")
    assert str(site.timezone) == "America/New_York"
    assert settings.seeds_dir == REPO / "seeds"
    assert settings.database_path == REPO / "state" / "publisher.db"
    assert settings.feeds.max_entries == 50
    assert settings.feeds_url == "https://www.leftvoice.org/feeds"


def test_embedded_defaults_without_a_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = load_settings(None, environ={})
    assert settings.feeds_dir == tmp_path / "feeds"
    assert settings.mail.sender == "outbox"
    assert settings.site.title == "Left Voice"


def test_paths_resolve_against_the_config_folder(tmp_path: Path) -> None:
    config = tmp_path / "conf" / "site.toml"
    config.parent.mkdir()
    config.write_text('[paths]\nseeds = "../articles"\nfeeds = "/srv/feeds"\n')
    settings = load_settings(config, environ={})
    assert settings.seeds_dir == tmp_path / "conf" / ".." / "articles"
    assert settings.feeds_dir == Path("/srv/feeds")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[feeds]\nmax_entrys = 5\n", "unknown key feeds.max_entrys"),
        ("[feed]\nmax_entries = 5\n", "unknown section [feed]"),
        ('[feeds]\nmax_entries = "ten"\n', "feeds.max_entries must be an integer, not str 'ten'"),
        ("[feeds]\nmax_entries = true\n", "feeds.max_entries must be an integer"),
        ('[site]\ntimezone = "Mars/Olympus"\n', "site.timezone is not a known time zone"),
        ('[site]\nbase_url = "leftvoice.org"\n', "site.base_url must be an absolute http(s) url"),
        ('[mail]\nsender = "pigeon"\n', "mail.sender must be 'outbox' or 'smtp'"),
        ("[mail]\nretry_delays = [1, \"x\"]\n", "mail.retry_delays must be a list of numbers"),
        ("[site\n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert message in str(caught.value)
    assert str(config) in str(caught.value)


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml", environ={})


def test_secrets_come_from_the_environment_only(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[mail]\nsmtp_password = \"hunter2\"\n")
    with pytest.raises(ConfigError, match="unknown key mail.smtp_password"):
        load_settings(config, environ={})
    config.write_text("")
    settings = load_settings(
        config, environ={"PUBLISHER_SMTP_PASSWORD": "pw", "PUBLISHER_SECRET_KEY": "k" * 32}
    )
    assert settings.secrets.smtp_password == "pw"
    assert settings.secrets.secret_key == "k" * 32


def test_every_config_key_is_documented_in_the_readme() -> None:
    import dataclasses

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    missing = [
        f"{section}.{f.name}"
        for section, cls in SECTIONS.items()
        for f in dataclasses.fields(cls)
        if f"`{section}.{f.name}`" not in readme
    ]
    assert missing == []
