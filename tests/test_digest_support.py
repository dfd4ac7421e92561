"""Helpers shared by the digest, mail, sending and subscriber tests (no tests here)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

from publisher.config import Settings, load_settings
from publisher.model import Article, Subscriber, content_hash
from publisher.store import articles as article_store
from publisher.store import open_store
from publisher.store import subscribers as subscriber_store

SECRET = "test-secret-key-0123456789abcdef"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=timezone.utc)


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def write_config(root: Path, mail: dict | None = None, digest: dict | None = None,  # type: ignore[type-arg]
                 web: dict | None = None) -> Path:  # type: ignore[type-arg]
    sections = {
        "site": {"title": "Left Voice", "base_url": "https://www.leftvoice.org",
                 "timezone": "America/New_York"},
        "mail": {"from_address": "digest@leftvoice.org", "from_name": "Left Voice",
                 "retry_delays": [0.01, 0.02], "max_attempts": 3, **(mail or {})},
        "digest": digest or {},
        "web": {"public_url": "https://news.example.org", **(web or {})},
    }
    url = os.environ.get("PUBLISHER_DATABASE_URL")  # set by conftest's backend fixture
    if url:
        sections["database"] = {"url": url}
    lines = []
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {toml_value(v)}" for k, v in values.items()]
    path = root / "config.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def make_settings(root: Path, **sections) -> Settings:  # type: ignore[no-untyped-def]
    return load_settings(write_config(root, **sections), {"PUBLISHER_SECRET_KEY": SECRET})


def make_article(n: int, first_seen: datetime, *, category: str = "Labor", title: str = "",
                 summary: str = "", authors: tuple[str, ...] = ("Left Voice",),
                 published: datetime | None = None) -> Article:
    title = title or f"Article number {n}"
    published = published or (first_seen - timedelta(days=1))
    return Article(
        id=f"a{n:015d}", slug=f"article-{n}", url=f"https://www.leftvoice.org/article-{n}/",
        guid=f"tag:www.leftvoice.org,2026-01-01:/article-{n}/", title=title,
        summary=summary or f"Summary of article {n}.", authors=authors, published=published,
        updated=published, category=category, credit="", translation_note="",
        body_html=f"<p>Body {n}</p>", related=(), source=f"{n:03d}.txt",
        content_hash=content_hash(title + summary), first_seen=first_seen,
    )


def add_articles(engine, articles: list[Article]) -> None:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        article_store.insert_articles(conn, articles)


def add_subscriber(engine, email: str, *, name: str = "", cadence: str = "daily",  # type: ignore[no-untyped-def]
                   categories: tuple[str, ...] = (), now: datetime = T0,
                   status: str = "active") -> Subscriber:
    with engine.begin() as conn:
        return subscriber_store.add_subscriber(conn, email, name=name, cadence=cadence,
                                               categories=categories, status=status, now=now)


def get_subscriber(engine, subscriber_id: int) -> Subscriber:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        found = subscriber_store.get_subscriber(conn, subscriber_id)
    assert found is not None
    return found


def open_engine(settings: Settings):  # type: ignore[no-untyped-def]
    return open_store(settings)
