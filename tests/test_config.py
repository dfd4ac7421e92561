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
        ('[site]\nlanguage = "english please"\n',
         "site.language must be a BCP 47 language tag like 'en' or 'pt-BR', not 'english please'"),
        ('[site]\nlanguage = "en_US"\n', "site.language must be a BCP 47 language tag"),
        ('[mail]\nfrom_address = "not an email"\n',
         "mail.from_address is not an email address: 'not an email' (An email address must have "
         "an @-sign.)"),
        ('[mail]\nreply_to = "x@"\n', "mail.reply_to is not an email address: 'x@'"),
        ("[mail]\nrate_limit = -1\n", "mail.rate_limit must be at least 0, not -1.0"),
        ("[mail]\nmax_attempts = 0\n", "mail.max_attempts must be at least 1, not 0"),
        ("[mail]\nretry_delays = [1, -5]\n", "mail.retry_delays item 2: must be at least 0, not -5.0"),
        ("[mail]\nsmtp_port = 70000\n", "mail.smtp_port must be between 1 and 65535, not 70000"),
        ('[schedule]\ndaily_at = "25:99"\n',
         "schedule.daily_at must be a 24-hour time like '07:00', not '25:99'"),
        ('[schedule]\ndaily_at = "7am"\n', "schedule.daily_at must be a 24-hour time"),
        ('[schedule]\nweekly_at = "monday"\n', "schedule.weekly_at must look like 'mon 07:00'"),
        ('[schedule]\nweekly_at = "xyz 07:00"\n', "schedule.weekly_at must look like 'mon 07:00'"),
        ("[schedule]\nmax_lateness_hours = 0\n", "schedule.max_lateness_hours must be more than 0"),
        ('[digest]\nsubject_many = "{sites} new"\n',
         "digest.subject_many must use only {site}, {count}, {title}, not '{sites} new'"),
        ('[digest]\nsubject_single = "{title"\n', "digest.subject_single must use only"),
        ('[digest]\nsubject_many = "{count:s} new"\n', "digest.subject_many must use only"),
        ("[digest]\nmax_articles = 0\n", "digest.max_articles must be at least 1, not 0"),
        ('[web]\npublic_url = "example.org"\n',
         "web.public_url must be an absolute http(s) url, not 'example.org'"),
        ('[web]\npublic_url = "https://x.org/?a=1"\n', "web.public_url must not have a query"),
        ('[feeds]\nurl = "ftp://x.org/feeds"\n', "feeds.url must be an absolute http(s) url"),
        ("[web]\nport = 99999\n", "web.port must be between 0 and 65535, not 99999"),
        ("[web]\nthreads = 0\n", "web.threads must be at least 1, not 0"),
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


def test_every_problem_is_reported_at_once_with_file_and_key(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[site]\nlanguage = "english please"\n'
                      '[mail]\nfrom_address = "not an email"\nrate_limit = -1\nfrom_nam = "x"\n'
                      '[schedule]\ndaily_at = "25:99"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    lines = str(caught.value).splitlines()
    assert [line.split(": ", 2)[1].split(" ")[0] for line in lines] == [
        "site.language", "mail.from_address", "mail.rate_limit", "unknown", "schedule.daily_at"]
    assert all(line.startswith(f"{config}: ") for line in lines)


def test_good_values_are_normalised(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[site]\nlanguage = "pt-BR"\n[schedule]\ndaily_at = "7:05"\n'
                      'weekly_at = "Friday 18:30"\n[mail]\nrate_limit = 5\n')
    settings = load_settings(config, environ={})
    assert settings.site.language == "pt-BR"
    assert (settings.schedule.daily_at, settings.schedule.weekly_at) == ("07:05", "fri 18:30")
    assert settings.mail.rate_limit == 5.0 and isinstance(settings.mail.rate_limit, float)


def test_public_url_follows_host_and_port_unless_set(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[web]\nport = 8090\n")
    settings = load_settings(config, environ={})
    assert settings.web.public_url == "http://127.0.0.1:8090"
    assert settings.serving(port=9000).web.public_url == "http://127.0.0.1:9000"
    assert settings.serving(host="::1", port=9000).web.public_url == "http://[::1]:9000"
    config.write_text('[web]\npublic_url = "https://news.example.org"\n')
    settings = load_settings(config, environ={})
    assert settings.serving(port=9000).web.public_url == "https://news.example.org"


@pytest.mark.parametrize(("key", "variable"), [("mail.smtp_password", "PUBLISHER_SMTP_PASSWORD"),
                                               ("web.secret_key", "PUBLISHER_SECRET_KEY")])
def test_a_secret_in_the_file_names_the_variable_to_use(tmp_path: Path, key: str,
                                                        variable: str) -> None:
    config = tmp_path / "config.toml"
    section, name = key.split(".")
    config.write_text(f'[{section}]\n{name} = "hunter2"\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(config, environ={})
    assert str(caught.value) == (f"{config}: {key} is a secret and is never read from the file: "
                                 f"remove it and set {variable} in the environment")


def test_secrets_come_from_the_environment_only(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
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


def test_database_url_selects_postgresql_and_never_holds_a_password(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[database]\nurl = "postgresql://pub@db.example.org:5432/news"\n',
                      encoding="utf-8")
    settings = load_settings(config, {"PGPASSWORD": "x"})
    assert settings.database_target == "postgresql://pub@db.example.org:5432/news"
    default = load_settings(None, {})
    assert default.database_target == default.database_path  # SQLite, the default
    env = load_settings(config, {"PUBLISHER_DATABASE_URL": "postgresql://u:pw@other/db",
                                 "PUBLISHER_DATABASE_PASSWORD": "secret"})
    assert env.database_target == "postgresql://u:pw@other/db"  # the environment wins
    assert env.secrets.database_password == "secret"
    config.write_text('[database]\nurl = "postgresql://pub:hunter2@db/news"\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings(config, {})
    assert str(caught.value) == (
        f"{config}: database.url must not contain a password: remove it and set PGPASSWORD or "
        "PUBLISHER_DATABASE_PASSWORD in the environment")
    config.write_text('[database]\nurl = "mysql://db/news"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"database.url must be a postgresql:// url"):
        load_settings(config, {})
    with pytest.raises(ConfigError, match=r"\$PUBLISHER_DATABASE_URL: must be a postgresql://"):
        load_settings(None, {"PUBLISHER_DATABASE_URL": "sqlite:///x.db"})
