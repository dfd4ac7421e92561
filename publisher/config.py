"""Settings: read config.toml, check every key and type, resolve paths, fill defaults.

Every default lives in the dataclasses below; the README documents the same keys.
Secrets never come from the file: see `Secrets`.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError
from .model import Site

CONFIG_ENV = "PUBLISHER_CONFIG"
DEFAULT_CONFIG_NAME = "config.toml"


@dataclass(frozen=True)
class SiteSection:
    title: str = "Left Voice"
    base_url: str = "https://www.leftvoice.org"
    description: str = ""
    language: str = "en"
    timezone: str = "America/New_York"


@dataclass(frozen=True)
class PathsSection:
    seeds: str = "seeds"
    feeds: str = "feeds"
    database: str = "state/publisher.db"
    outbox: str = "outbox"
    templates: str = "templates"


@dataclass(frozen=True)
class DatabaseSection:
    # postgresql://user@host:port/dbname selects PostgreSQL (no password here: PGPASSWORD or
    # PUBLISHER_DATABASE_PASSWORD); empty: the SQLite file at paths.database.
    url: str = ""


@dataclass(frozen=True)
class FeedsSection:
    url: str = ""  # public url of the feeds/ folder; default: {site.base_url}/feeds
    max_entries: int = 50
    max_seed_bytes: int = 5_000_000
    workers: int = 0  # seed-parsing processes; 0 = one per core


@dataclass(frozen=True)
class MailSection:
    sender: str = "outbox"  # "outbox" or "smtp"
    from_address: str = "digest@leftvoice.org"
    from_name: str = "Left Voice"
    reply_to: str = ""
    message_id_domain: str = ""  # default: the host of site.base_url
    unsubscribe_mailto: str = ""  # default: unsubscribe@<message_id_domain>
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 25
    smtp_security: str = "none"  # "starttls", "ssl" or "none"
    smtp_username: str = ""
    smtp_timeout: float = 30.0
    connections: int = 1
    rate_limit: float = 0.0  # messages per second over all connections; 0 = unlimited
    max_attempts: int = 5
    retry_delays: list[float] = field(default_factory=lambda: [1.0, 5.0, 30.0, 120.0])
    bounce_after: int = 3
    dkim_key_file: str = ""
    dkim_selector: str = "default"
    outbox_fsync: bool = False  # fsync each .eml before it counts as sent (slower)


@dataclass(frozen=True)
class DigestSection:
    backfill: int = 0
    max_articles: int = 20
    subject_single: str = "{title}"
    subject_many: str = "{site}: {count} new articles"


@dataclass(frozen=True)
class ScheduleSection:
    scan_interval: float = 60.0
    settle_seconds: float = 2.0
    daily_at: str = "07:00"
    weekly_at: str = "mon 07:00"
    timezone: str = ""  # default: site.timezone
    max_lateness_hours: float = 36.0


@dataclass(frozen=True)
class WebSection:
    public_url: str = "http://127.0.0.1:8080"
    host: str = "127.0.0.1"
    port: int = 8080
    confirm_cooldown: int = 600
    feed_max_age: int = 300
    confirm_max_age: int = 7 * 24 * 3600  # seconds a confirmation link stays valid
    subscribe_per_ip: int = 10  # subscribe requests per client address per hour
    max_request_bytes: int = 65536  # larger request bodies get 413
    threads: int = 4  # waitress worker threads
    proxy_hops: int = 0  # reverse proxies in front that set X-Forwarded-For/-Proto/-Host
    page_size: int = 20  # articles per archive page


@dataclass(frozen=True)
class Secrets:
    """Read from the environment only, never from config.toml."""

    smtp_password: str = ""
    secret_key: str = ""
    database_password: str = ""


@dataclass(frozen=True)
class Settings:
    config_path: Path | None
    root: Path  # folder every relative path resolves against
    site: SiteSection = field(default_factory=SiteSection)
    paths: PathsSection = field(default_factory=PathsSection)
    database: DatabaseSection = field(default_factory=DatabaseSection)
    feeds: FeedsSection = field(default_factory=FeedsSection)
    mail: MailSection = field(default_factory=MailSection)
    digest: DigestSection = field(default_factory=DigestSection)
    schedule: ScheduleSection = field(default_factory=ScheduleSection)
    web: WebSection = field(default_factory=WebSection)
    secrets: Secrets = field(default_factory=Secrets)

    def path(self, relative: str) -> Path:
        p = Path(relative).expanduser()
        return p if p.is_absolute() else self.root / p

    @property
    def seeds_dir(self) -> Path:
        return self.path(self.paths.seeds)

    @property
    def feeds_dir(self) -> Path:
        return self.path(self.paths.feeds)

    @property
    def database_path(self) -> Path:
        return self.path(self.paths.database)

    @property
    def database_target(self) -> str | Path:
        """What the store opens: the `database.url`, or else the SQLite file's path."""
        return self.database.url or self.database_path

    @property
    def outbox_dir(self) -> Path:
        return self.path(self.paths.outbox)

    @property
    def templates_dir(self) -> Path:
        return self.path(self.paths.templates)

    @property
    def site_record(self) -> Site:
        return Site(
            title=self.site.title,
            base_url=self.site.base_url.rstrip("/"),
            timezone=ZoneInfo(self.site.timezone),
            language=self.site.language,
            description=self.site.description or self.site.title,
        )

    @property
    def feeds_url(self) -> str:
        return (self.feeds.url or f"{self.site.base_url.rstrip('/')}/feeds").rstrip("/")

    @property
    def schedule_timezone(self) -> ZoneInfo:
        return ZoneInfo(self.schedule.timezone or self.site.timezone)

    @property
    def message_id_domain(self) -> str:
        return self.mail.message_id_domain or self.site_record.host


SECTIONS: dict[str, type] = {
    "site": SiteSection,
    "paths": PathsSection,
    "database": DatabaseSection,
    "feeds": FeedsSection,
    "mail": MailSection,
    "digest": DigestSection,
    "schedule": ScheduleSection,
    "web": WebSection,
}


def find_config(explicit: str | None, environ: Mapping[str, str]) -> Path | None:
    """The config file to read: --config, then $PUBLISHER_CONFIG, then ./config.toml if present."""
    if explicit:
        return Path(explicit)
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    default = Path.cwd() / DEFAULT_CONFIG_NAME
    return default if default.exists() else None


def load_settings(path: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check a config file; `path=None` gives the embedded defaults rooted at the cwd."""
    environ = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"{path}: config file not found") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    name = str(path) if path else "defaults"
    sections: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in SECTIONS:
            raise ConfigError(f"{name}: unknown section [{key}]", f"known: {', '.join(SECTIONS)}")
        if not isinstance(value, dict):
            raise ConfigError(f"{name}: [{key}] must be a table")
        sections[key] = _build_section(name, key, SECTIONS[key], value)
    root = path.resolve().parent if path else Path.cwd()
    settings = Settings(
        config_path=path,
        root=root,
        secrets=Secrets(
            smtp_password=environ.get("PUBLISHER_SMTP_PASSWORD", ""),
            secret_key=environ.get("PUBLISHER_SECRET_KEY", ""),
            database_password=environ.get("PUBLISHER_DATABASE_PASSWORD", ""),
        ),
        **sections,
    )
    settings = _database_from_env(name, settings, environ)
    _validate(name, settings)
    return settings


DATABASE_URL_ENV = "PUBLISHER_DATABASE_URL"


def _database_from_env(name: str, settings: Settings, environ: Mapping[str, str]) -> Settings:
    """`database.url`: $PUBLISHER_DATABASE_URL wins over the file; the file's may not hold a
    password (secrets come from the environment only)."""
    url = settings.database.url
    if url and _url_password(url) is not None:
        raise ConfigError(
            f"{name}: database.url must not contain a password",
            "remove it from the file and set PGPASSWORD or PUBLISHER_DATABASE_PASSWORD")
    from_env = environ.get(DATABASE_URL_ENV, "")
    if from_env:
        url = from_env
        name = f"${DATABASE_URL_ENV}"
    if url and not url.lower().startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"{name}: database url must start with postgresql://, not {url[:40]!r}",
                          "leave it out to use the SQLite file at paths.database")
    return dataclasses.replace(settings, database=DatabaseSection(url=url))


def _url_password(url: str) -> str | None:
    from urllib.parse import parse_qs, urlsplit

    parts = urlsplit(url)
    if parts.password is not None:
        return parts.password
    found = parse_qs(parts.query).get("password")
    return found[0] if found else None


def _build_section(name: str, section: str, cls: type, values: dict[str, Any]) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name for f in dataclasses.fields(cls)}
    for key, value in values.items():
        if key not in fields:
            raise ConfigError(
                f"{name}: unknown key {section}.{key}", f"known: {', '.join(sorted(fields))}"
            )
        if not _type_ok(value, hints[key]):
            raise ConfigError(
                f"{name}: {section}.{key} must be {_type_name(hints[key])}, "
                f"not {type(value).__name__} {value!r}"
            )
    coerced = {k: float(v) if hints[k] is float else v for k, v in values.items()}
    return cls(**coerced)


def _type_ok(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_type_ok(v, item) for v in value)
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, h) for h in typing.get_args(hint))
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return isinstance(value, hint)


def _type_name(hint: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}
    if typing.get_origin(hint) is list:
        return f"a list of {_type_name(typing.get_args(hint)[0]).split(' ', 1)[1]}s"
    return names.get(hint, str(hint))


def _validate(name: str, s: Settings) -> None:
    def fail(key: str, problem: str) -> None:
        raise ConfigError(f"{name}: {key} {problem}")

    for key, tz in (("site.timezone", s.site.timezone), ("schedule.timezone", s.schedule.timezone)):
        if tz:
            try:
                ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError):
                fail(key, f"is not a known time zone: {tz!r}")
    if not s.site.base_url.startswith(("http://", "https://")):
        fail("site.base_url", f"must be an absolute http(s) url, not {s.site.base_url!r}")
    if s.feeds.max_entries < 1:
        fail("feeds.max_entries", "must be at least 1")
    if s.mail.sender not in ("outbox", "smtp"):
        fail("mail.sender", f"must be 'outbox' or 'smtp', not {s.mail.sender!r}")
    if s.mail.smtp_security not in ("starttls", "ssl", "none"):
        fail("mail.smtp_security", "must be 'starttls', 'ssl' or 'none'")
    if s.mail.connections < 1:
        fail("mail.connections", "must be at least 1")
    if s.schedule.scan_interval <= 0:
        fail("schedule.scan_interval", "must be positive")
