"""Settings: read config.toml, check every key (type and value) once, resolve paths, fill defaults.

Every default lives in the dataclasses below, with the checks its value must pass; the README
documents the same keys. Every problem in a file is reported at once, one line each, naming
the file and the key. The rest of the program receives checked `Settings` and never checks
them again. Secrets never come from the file: see `SECRET_KEYS` and `Secrets`.

Adding a key: one line in its section, e.g.

    max_removal_fraction: float = setting(0.5, between(0, 1))
    websub_hubs: list[str] = setting([], each(http_url))

A check takes the value and returns it (possibly normalised) or raises ValueError with the
rest of a sentence starting with the key ("must be at least 0, not -1"). A new section is
a frozen dataclass added to `Settings` and `SECTIONS`; checks across keys go in `_across`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import string
import tomllib
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping
from urllib.parse import SplitResult, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import ConfigError
from .model import Site

CONFIG_ENV = "PUBLISHER_CONFIG"
DEFAULT_CONFIG_NAME = "config.toml"

# Keys that would hold a secret: refused in the file, naming the environment variable to use.
SECRET_KEYS = {
    "mail.smtp_password": "PUBLISHER_SMTP_PASSWORD",
    "mail.password": "PUBLISHER_SMTP_PASSWORD",
    "web.secret_key": "PUBLISHER_SECRET_KEY",
    "database.password": "PUBLISHER_DATABASE_PASSWORD",
    "site.secret_key": "PUBLISHER_SECRET_KEY",
    "inbound.password": "PUBLISHER_IMAP_PASSWORD",
    "inbound.imap_password": "PUBLISHER_IMAP_PASSWORD",
}

Check = Callable[[Any], Any]


# --- checks: value -> value, or ValueError("must be ...") ----------------------------------------

def setting(default: Any, *checks: Check) -> Any:
    """A config key's default and the checks a value from the file must pass, in order."""
    meta = {"checks": checks}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


def at_least(low: float) -> Check:
    def check(value: Any) -> Any:
        if value < low:
            raise ValueError(f"must be at least {low:g}, not {value!r}")
        return value
    return check


def above(low: float) -> Check:
    def check(value: Any) -> Any:
        if value <= low:
            raise ValueError(f"must be more than {low:g}, not {value!r}")
        return value
    return check


def between(low: float, high: float) -> Check:
    def check(value: Any) -> Any:
        if not low <= value <= high:
            raise ValueError(f"must be between {low:g} and {high:g}, not {value!r}")
        return value
    return check


def one_of(*choices: str) -> Check:
    def check(value: Any) -> Any:
        if value not in choices:
            listed = ", ".join(repr(c) for c in choices[:-1]) + f" or {choices[-1]!r}"
            raise ValueError(f"must be {listed}, not {value!r}")
        return value
    return check


def each(inner: Check) -> Check:
    """Every item of a list passes `inner`."""
    def check(value: Any) -> Any:
        out = []
        for i, item in enumerate(value):
            try:
                out.append(inner(item))
            except ValueError as exc:
                raise ValueError(f"item {i + 1}: {exc}") from None
        return out
    return check


def optional(inner: Check) -> Check:
    """An empty string (meaning "use the default rule") or a value passing `inner`."""
    def check(value: Any) -> Any:
        return value if value == "" else inner(value)
    return check


def not_empty(value: Any) -> Any:
    if not str(value).strip():
        raise ValueError("must not be empty")
    return value


def email_address(value: str) -> str:
    from .addresses import normalize_address  # noqa: PLC0415 - email-validator only when needed

    try:
        return normalize_address(value)
    except ValueError as exc:
        raise ValueError(f"is not an email address: {value!r} ({exc})") from None


def split_url(value: str) -> SplitResult | None:
    """The parts of a url, or None when it cannot be parsed (a bad port, say)."""
    try:
        url = urlsplit(value)
        url.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return None
    return url


def http_url(value: str) -> str:
    """An absolute http(s) url without query or fragment."""
    url = split_url(value)
    if url is None or url.scheme not in ("http", "https") or not url.hostname:
        raise ValueError(f"must be an absolute http(s) url, not {value!r}")
    if url.query or url.fragment:
        raise ValueError(f"must not have a query or fragment: {value!r}")
    if any(c.isspace() for c in value):
        raise ValueError(f"must not contain spaces: {value!r}")
    return value


_HOSTNAME = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$",
                       re.IGNORECASE)


def hostname(value: str) -> str:
    if not _HOSTNAME.match(value):
        raise ValueError(f"must be a host name like 'example.org', not {value!r}")
    return value


def language_tag(value: str) -> str:
    """A BCP 47 language tag made of registered subtags (`en`, `pt-BR`, `zh-Hant`)."""
    import langcodes  # noqa: PLC0415 - the one importer; loaded only when a file sets the key

    if "_" in value or not langcodes.tag_is_valid(value):
        raise ValueError(f"must be a BCP 47 language tag like 'en' or 'pt-BR', not {value!r}")
    return value


def time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"is not a known time zone: {value!r}") from None
    return value


_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def time_of_day(value: str) -> str:
    """`7:00` or `07:00` (24-hour clock), normalised to `07:00`."""
    m = _TIME.match(value.strip())
    if not m:
        raise ValueError(f"must be a 24-hour time like '07:00', not {value!r}")
    return f"{int(m.group(1)):02d}:{m.group(2)}"


def weekday_time(value: str) -> str:
    """`mon 07:00` (a weekday, then a 24-hour time), normalised to lower case."""
    parts = value.strip().lower().split()
    if len(parts) != 2 or parts[0][:3] not in WEEKDAYS or not _TIME.match(parts[1]):
        raise ValueError(f"must look like 'mon 07:00', not {value!r}")
    return f"{parts[0][:3]} {time_of_day(parts[1])}"


def database_url(value: str) -> str:
    """A `postgresql://user@host:port/dbname` URL without a password (that comes from the
    environment: PGPASSWORD or PUBLISHER_DATABASE_PASSWORD)."""
    from urllib.parse import parse_qs, urlsplit

    if not value.lower().startswith(("postgresql://", "postgres://")):
        raise ValueError(f"must be a postgresql:// url, not {value[:60]!r} (leave it out to use "
                         "the SQLite file at paths.database)")
    parts = urlsplit(value)
    if parts.password is not None or "password" in parse_qs(parts.query):
        raise ValueError("must not contain a password: remove it and set PGPASSWORD or "
                         "PUBLISHER_DATABASE_PASSWORD in the environment")
    return value


def format_template(**samples: Any) -> Check:
    """A str.format pattern using only the given {names}; it must format the sample values
    (of the types the program passes), so a pattern that passes never fails later."""
    names = list(samples)

    def check(value: str) -> str:
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
            if not fields - set(names):
                value.format(**samples)
        except (ValueError, KeyError, IndexError, TypeError):
            fields = {"?"}
        if fields - set(names):
            allowed = ", ".join("{" + n + "}" for n in names)
            raise ValueError(f"must use only {allowed}, not {value!r}")
        return value
    return check


# --- the sections ------------------------------------------------------------------------------

@dataclass(frozen=True)
class SiteSection:
    title: str = setting("Left Voice", not_empty)
    base_url: str = setting("https://www.leftvoice.org", http_url)
    description: str = ""
    language: str = setting("en", language_tag)
    timezone: str = setting("America/New_York", time_zone)


@dataclass(frozen=True)
class PathsSection:
    seeds: str = setting("seeds", not_empty)
    feeds: str = setting("feeds", not_empty)
    database: str = setting("state/publisher.db", not_empty)
    outbox: str = setting("outbox", not_empty)
    templates: str = setting("templates", not_empty)


@dataclass(frozen=True)
class FeedsSection:
    url: str = setting("", optional(http_url))  # public url of feeds/; default {site.base_url}/feeds
    max_entries: int = setting(50, at_least(1))  # entries in each live feed document
    archive_page_size: int = setting(100, at_least(1))  # entries per RFC 5005 archive page
    websub_hubs: list[str] = setting([], each(http_url))  # WebSub hubs to announce feeds to
    websub_timeout: float = setting(5.0, above(0))  # seconds per ping request to a hub
    max_seed_bytes: int = setting(5_000_000, at_least(1))
    workers: int = setting(0, at_least(0))  # seed-parsing processes; 0 = one per core
    # A build that would unpublish more than this share of the published articles unpublishes
    # none (unless --prune): a seeds folder gone empty is a mistake, not an editorial decision.
    max_removal_fraction: float = setting(0.5, between(0, 1))


@dataclass(frozen=True)
class MailSection:
    sender: str = setting("outbox", one_of("outbox", "smtp"))
    from_address: str = setting("digest@leftvoice.org", email_address)
    from_name: str = "Left Voice"
    reply_to: str = setting("", optional(email_address))
    message_id_domain: str = setting("", optional(hostname))  # default: the host of site.base_url
    unsubscribe_mailto: str = setting("", optional(email_address))  # default: unsubscribe@<domain>
    # VERP envelope sender, made bounces+<token>@domain per delivery; default: bounces@ the
    # domain of from_address
    bounce_address: str = setting("", optional(email_address))
    smtp_host: str = setting("127.0.0.1", not_empty)
    smtp_port: int = setting(25, between(1, 65535))
    smtp_security: str = setting("none", one_of("starttls", "ssl", "none"))
    smtp_username: str = ""
    smtp_timeout: float = setting(30.0, above(0))
    run_timeout: float = setting(300.0, at_least(0))  # seconds one SMTP run may take; 0 = no limit
    connections: int = setting(1, at_least(1))
    rate_limit: float = setting(0.0, at_least(0))  # messages/s over all connections; 0 = unlimited
    max_attempts: int = setting(5, at_least(1))
    retry_delays: list[float] = setting([1.0, 5.0, 30.0, 120.0], each(at_least(0)))
    bounce_after: int = setting(3, at_least(1))
    dkim_key_file: str = ""
    dkim_selector: str = setting("default", hostname)
    outbox_fsync: bool = False  # fsync each .eml before it counts as sent (slower)
    lease_seconds: float = setting(300.0, above(0))  # a dead sender's claims: anyone's after this


@dataclass(frozen=True)
class DigestSection:
    backfill: int = setting(0, at_least(0))
    max_articles: int = setting(20, at_least(1))
    subject_single: str = setting("{title}", format_template(site="x", count=1, title="x"))
    subject_many: str = setting("{site}: {count} new articles",
                                format_template(site="x", count=1, title="x"))


@dataclass(frozen=True)
class ScheduleSection:
    scan_interval: float = setting(60.0, above(0))
    settle_seconds: float = setting(2.0, at_least(0))
    daily_at: str = setting("07:00", time_of_day)
    weekly_at: str = setting("mon 07:00", weekday_time)
    timezone: str = setting("", optional(time_zone))  # default: site.timezone
    max_lateness_hours: float = setting(36.0, above(0))


@dataclass(frozen=True)
class WebSection:
    public_url: str = setting("", optional(http_url))  # default: http://{host}:{port}
    host: str = setting("127.0.0.1", not_empty)
    port: int = setting(8080, between(0, 65535))
    confirm_cooldown: int = setting(600, at_least(0))
    feed_max_age: int = setting(300, at_least(0))
    confirm_max_age: int = setting(7 * 24 * 3600, at_least(1))  # seconds a confirm link is valid
    subscribe_per_ip: int = setting(10, at_least(1))  # subscribe requests per address per hour
    max_request_bytes: int = setting(65536, at_least(1))  # larger request bodies get 413
    threads: int = setting(4, at_least(1))  # waitress worker threads
    proxy_hops: int = setting(0, at_least(0))  # reverse proxies that set X-Forwarded-*
    page_size: int = setting(20, at_least(1))  # articles per archive page


def mailbox_url(value: str) -> str:
    """`imaps://user@host[:port][/folder]` (or `imap://` on the loopback, for tests)."""
    url = split_url(value)
    if url is None or url.scheme not in ("imaps", "imap") or not url.hostname or not url.username:
        raise ValueError(f"must look like 'imaps://user@imap.example.org/INBOX', not {value!r}")
    if url.password is not None:
        raise ValueError("must not hold the password: set PUBLISHER_IMAP_PASSWORD instead")
    if url.scheme == "imap" and url.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise ValueError(f"must use imaps:// (TLS) for a server that is not this machine: {value!r}")
    return value


@dataclass(frozen=True)
class InboundSection:
    """The mailbox that bounces, complaints and mailto unsubscribes arrive in (one of them)."""

    maildir: str = ""  # a Maildir folder (relative to the config file)
    mbox: str = ""  # an mbox file
    imap_url: str = setting("", optional(mailbox_url))  # imaps://user@host/folder
    processed_folder: str = setting("processed", not_empty)  # where acted-on messages go
    # PEM file of the CAs trusted for an imaps:// server's certificate (relative to the config
    # file; e.g. a self-signed certificate); empty: the system's CAs
    ca_file: str = ""
    interval: float = setting(300.0, above(0))  # seconds between polls of `publisher run`


@dataclass(frozen=True)
class DatabaseSection:
    # postgresql://user@host:port/dbname selects PostgreSQL (overridden by
    # $PUBLISHER_DATABASE_URL); empty: the SQLite file at paths.database
    url: str = setting("", optional(database_url))
    busy_timeout: float = setting(30.0, at_least(0))  # seconds a write waits for another's lock


@dataclass(frozen=True)
class Secrets:
    """Read from the environment only, never from config.toml."""

    smtp_password: str = ""
    secret_key: str = ""
    database_password: str = ""  # PUBLISHER_DATABASE_PASSWORD (libpq also reads PGPASSWORD)
    imap_password: str = ""


@dataclass(frozen=True)
class Settings:
    config_path: Path | None
    root: Path  # folder every relative path resolves against
    site: SiteSection = field(default_factory=SiteSection)
    paths: PathsSection = field(default_factory=PathsSection)
    feeds: FeedsSection = field(default_factory=FeedsSection)
    mail: MailSection = field(default_factory=MailSection)
    digest: DigestSection = field(default_factory=DigestSection)
    schedule: ScheduleSection = field(default_factory=ScheduleSection)
    web: WebSection = field(default_factory=WebSection)
    inbound: InboundSection = field(default_factory=InboundSection)
    database: DatabaseSection = field(default_factory=DatabaseSection)
    secrets: Secrets = field(default_factory=Secrets)
    explicit: frozenset[str] = frozenset()  # "section.key" of every key the file set

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

    @property
    def bounce_address(self) -> str:
        """The VERP base address: `mail.bounce_address`, else bounces@ the From domain."""
        return self.mail.bounce_address or f"bounces@{self.mail.from_address.rpartition('@')[2]}"

    def serving(self, host: str | None = None, port: int | None = None) -> Settings:
        """These settings with `serve --host/--port` applied; a `web.public_url` the file did
        not set follows them, so links in mails lead to where the server listens."""
        web = dataclasses.replace(self.web, host=self.web.host if host is None else host,
                                  port=self.web.port if port is None else port)
        if "web.public_url" not in self.explicit:
            web = dataclasses.replace(web, public_url=default_public_url(web.host, web.port))
        return dataclasses.replace(self, web=web)


def public_url_warnings(settings: Settings, host: str, port: int) -> list[str]:
    """What is wrong with `web.public_url` for a server on host:port sending these mails.

    A public url the file sets that names this machine (an IP address or localhost) on
    another port or address leads every link in pages and mails elsewhere; a plain-http one
    with the SMTP sender makes Gmail and Yahoo ignore the one-click unsubscribe (RFC 8058).
    """
    found = []
    public = settings.web.public_url
    url = urlsplit(public)
    served = default_public_url(host, port)
    if "web.public_url" in settings.explicit and _names_a_machine(url.hostname or ""):
        url_port = url.port or (443 if url.scheme == "https" else 80)
        wildcard = host in ("", "0.0.0.0", "::")
        if url_port != port or not (wildcard or url.hostname == host.strip("[]")):
            found.append(f"web.public_url {public} does not match where the web server listens, "
                         f"{served}: "
                         "links in pages and mails lead elsewhere (correct it, or remove it "
                         "to follow --host/--port)")
    if settings.mail.sender == "smtp" and url.scheme != "https":
        found.append(f"web.public_url {public} is not https: with mail.sender = 'smtp', Gmail and "
                     "Yahoo ignore the one-click unsubscribe of these mails (set an https "
                     "web.public_url)")
    return found


def _names_a_machine(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def default_public_url(host: str, port: int) -> str:
    if host in ("", "0.0.0.0", "::"):  # listening everywhere: this machine's loopback works
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


SECTIONS: dict[str, type] = {
    "site": SiteSection,
    "paths": PathsSection,
    "feeds": FeedsSection,
    "mail": MailSection,
    "digest": DigestSection,
    "schedule": ScheduleSection,
    "web": WebSection,
    "inbound": InboundSection,
    "database": DatabaseSection,
}


DATABASE_URL_ENV = "PUBLISHER_DATABASE_URL"


def find_config(explicit: str | None, environ: Mapping[str, str]) -> Path | None:
    """The config file to read: --config, then $PUBLISHER_CONFIG, then ./config.toml if present."""
    if explicit:
        return Path(explicit)
    if environ.get(CONFIG_ENV):
        return Path(environ[CONFIG_ENV])
    default = Path.cwd() / DEFAULT_CONFIG_NAME
    return default if default.exists() else None


def load_settings(path: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check a config file; `path=None` gives the embedded defaults rooted at the cwd.

    ConfigError lists every problem found, one line each: `FILE: KEY problem`."""
    environ = os.environ if environ is None else environ
    raw = _read(path) if path is not None else {}
    name = str(path) if path else "defaults"
    problems: list[str] = []
    sections: dict[str, Any] = {}
    explicit: set[str] = set()
    for key, value in raw.items():
        if key not in SECTIONS:
            problems.append(f"unknown section [{key}] (known: {', '.join(SECTIONS)})")
        elif not isinstance(value, dict):
            problems.append(f"[{key}] must be a table")
        else:
            sections[key] = _build_section(key, SECTIONS[key], value, problems)
            explicit.update(f"{key}.{k}" for k in value)
    url = environ.get(DATABASE_URL_ENV, "")
    if url and not problems:  # the environment's URL wins (and may carry a password)
        if not url.lower().startswith(("postgresql://", "postgres://")):
            raise ConfigError(f"${DATABASE_URL_ENV}: must be a postgresql:// url, not "
                              f"{url.split('@')[-1][:60]!r}")
        sections["database"] = dataclasses.replace(
            sections.get("database", DatabaseSection()), url=url)
    if not problems:
        web = sections.get("web", WebSection())
        if not web.public_url:
            sections["web"] = dataclasses.replace(
                web, public_url=default_public_url(web.host, web.port))
        settings = Settings(
            config_path=path,
            root=path.resolve().parent if path else Path.cwd(),
            secrets=Secrets(
                smtp_password=environ.get("PUBLISHER_SMTP_PASSWORD", ""),
                secret_key=environ.get("PUBLISHER_SECRET_KEY", ""),
                database_password=environ.get("PUBLISHER_DATABASE_PASSWORD", ""),
                imap_password=environ.get("PUBLISHER_IMAP_PASSWORD", ""),
            ),
            explicit=frozenset(explicit),
            **sections,
        )
        problems.extend(_across(settings))
    if problems:
        raise ConfigError("\n".join(f"{name}: {p}" for p in problems))
    return settings


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found",
                          "give an existing file with --config or PUBLISHER_CONFIG") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a folder, not a config file",
                          f"give the file, e.g. --config {path / DEFAULT_CONFIG_NAME}") from None
    except PermissionError:
        raise ConfigError(f"{path}: cannot read the config file: permission denied") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _build_section(section: str, cls: type, values: dict[str, Any], problems: list[str]) -> Any:
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    checked: dict[str, Any] = {}
    for key, value in values.items():
        full = f"{section}.{key}"
        if full in SECRET_KEYS:
            problems.append(f"{full} is a secret and is never read from the file: "
                            f"remove it and set {SECRET_KEYS[full]} in the environment")
            continue
        if key not in fields:
            problems.append(f"unknown key {full} (known: {', '.join(sorted(fields))})")
            continue
        hint = hints[key]
        if not _type_ok(value, hint):
            problems.append(f"{full} must be {_type_name(hint)}, not {type(value).__name__} {value!r}")
            continue
        value = float(value) if hint is float else value
        if typing.get_origin(hint) is list and typing.get_args(hint)[0] is float:
            value = [float(v) for v in value]
        try:
            for check in fields[key].metadata.get("checks", ()):
                value = check(value)
        except ValueError as exc:
            problems.append(f"{full} {exc}")
            continue
        checked[key] = value
    return cls(**checked)


def _across(s: Settings) -> list[str]:
    """Checks that involve more than one key."""
    problems: list[str] = []
    mailboxes = [k for k in ("maildir", "mbox", "imap_url") if getattr(s.inbound, k)]
    if len(mailboxes) > 1:
        problems.append(f"inbound: set one of inbound.maildir, inbound.mbox, inbound.imap_url, "
                        f"not {' and '.join('inbound.' + k for k in mailboxes)}")
    if s.inbound.ca_file and not s.path(s.inbound.ca_file).is_file():
        problems.append(f"inbound.ca_file is not a file: {s.path(s.inbound.ca_file)} (give the "
                        "PEM file of the CA that signed the IMAP server's certificate)")
    return problems


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
