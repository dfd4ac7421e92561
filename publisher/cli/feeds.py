"""Commands over articles and feeds: ingest, build-feeds, articles list/show."""

from __future__ import annotations

import gc
import json
import sys
from contextlib import contextmanager
from typing import Iterator

from typing import TYPE_CHECKING

import click

from .. import buildstamp
from ..model import article_dict
from ..seedfiles import scan_seed_files
from .app import App, pass_app

if TYPE_CHECKING:
    from .. import pipeline

PROGRESS_MIN = 200  # show a progress bar from this many seeds to parse


def _report_seed_problems(report: pipeline.IngestReport) -> None:
    for warning in report.skipped:
        click.echo(f"warning: {warning}", err=True)
    for error in report.failed:
        click.echo(f"error: {error}", err=True)


@contextmanager
def _progress(label: str) -> Iterator[tuple]:
    """Yields (on_plan, step) callbacks that drive one click progress bar on stderr."""
    state: dict = {}

    def on_plan(total: int) -> None:
        if total >= PROGRESS_MIN and sys.stderr.isatty():
            state["bar"] = click.progressbar(length=total, label=label, file=sys.stderr)
            state["bar"].__enter__()

    def step(n: int) -> None:
        if "bar" in state:
            state["bar"].update(n)

    try:
        yield on_plan, step
    finally:
        if "bar" in state:
            state["bar"].__exit__(None, None, None)


def run_ingest(app: App, scanned: tuple | None = None) -> pipeline.IngestReport:
    from .. import pipeline

    with _progress("Reading seeds") as (on_plan, step):
        report = pipeline.ingest(app.engine, app.settings, app.now(), progress=step,
                                 on_plan=on_plan, scanned=scanned)
    _report_seed_problems(report)
    return report


def ingest_summary(report: pipeline.IngestReport) -> str:
    return (f"articles: {len(report.new)} new, {len(report.updated)} updated, "
            f"{report.unchanged} unchanged, {report.deleted} removed, "
            f"{len(report.skipped)} skipped, {len(report.failed)} failed")


@click.command("ingest")
@click.option("--json", "as_json", is_flag=True,
              help="Print the new and updated article records and the counts as JSON.")
@pass_app
def ingest(app: App, as_json: bool) -> None:
    """Read new and changed seeds into the store (no feeds written).

    Exits 1 when any seed failed; the others are still stored.
    """
    report = run_ingest(app)
    if as_json:
        from ..store import articles as article_store

        tz = app.settings.site_record.timezone
        with app.engine.begin() as conn:
            records = article_store.get_articles(conn, report.new + report.updated, tz)
        click.echo(json.dumps({
            "new": [article_dict(records[i]) for i in report.new],
            "updated": [article_dict(records[i]) for i in report.updated],
            "unchanged": report.unchanged, "removed": report.deleted,
            "skipped": [{"file": e.path, "reason": e.reason} for e in report.skipped],
            "failed": [{"file": e.path, "reason": e.reason} for e in report.failed],
        }, ensure_ascii=False, indent=2))
    else:
        click.echo(ingest_summary(report))
    sys.exit(1 if report.failed else 0)


@click.command("build-feeds")
@pass_app
def build_feeds(app: App) -> None:
    """Ingest the seeds, then write every Atom, RSS and JSON feed and feeds/index.opml.

    Only feeds whose entries changed are rendered again; a file whose bytes would not change is
    not rewritten. Exits 1 when any seed failed (every other seed is still published).
    """
    settings = app.settings
    scanned = scan_seed_files(settings.seeds_dir)
    files, unreadable = scanned
    key = buildstamp.input_key(settings, files)
    stamp = None if unreadable else buildstamp.load_if_fresh(settings, key)
    if stamp is not None:
        for line in stamp.skipped:
            click.echo(f"warning: {line}", err=True)
        for line in stamp.failed:
            click.echo(f"error: {line}", err=True)
        click.echo(f"articles: 0 new, 0 updated, {stamp.articles} unchanged, 0 removed, "
                   f"{len(stamp.skipped)} skipped, {len(stamp.failed)} failed")
        click.echo(f"feeds: 0 written, {len(stamp.outputs)} unchanged, 0 removed, "
                   f"in {settings.feeds_dir}")
        sys.exit(1 if stamp.failed else 0)

    from .. import pipeline

    gc.disable()  # a one-shot batch of acyclic records: collection passes are pure overhead
    buildstamp.forget(settings)
    report = run_ingest(app, scanned)
    feeds = pipeline.build_feeds(app.engine, settings, app.now())
    click.echo(ingest_summary(report))
    click.echo(f"feeds: {len(feeds.written)} written, {feeds.unchanged} unchanged, "
               f"{len(feeds.removed)} removed, in {settings.feeds_dir}")
    for ping in feeds.pings:
        click.echo(ping.line() if ping.ok else f"warning: {ping.line()}", err=not ping.ok)
    buildstamp.save(settings, buildstamp.BuildStamp(
        key=key, outputs=buildstamp.feed_outputs(settings.feeds_dir),
        articles=len(files) - len(report.skipped) - len(report.failed),
        skipped=[str(w) for w in report.skipped], failed=[str(e) for e in report.failed],
    ))
    sys.exit(1 if report.failed else 0)


@click.group("articles")
def articles() -> None:
    """Look at the stored articles."""


@articles.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the full records as a JSON array.")
@click.option("--limit", type=int, default=None, help="Only the newest N articles.")
@pass_app
def list_articles(app: App, as_json: bool, limit: int | None) -> None:
    """List stored articles, newest first (id, date, title)."""
    from ..store import articles as article_store

    with app.engine.begin() as conn:
        records = article_store.list_articles(conn, app.settings.site_record.timezone, limit)
    if as_json:
        click.echo(json.dumps([article_dict(a) for a in records], ensure_ascii=False, indent=2))
        return
    for a in records:
        click.echo(f"{a.id}  {a.published.date().isoformat()}  {a.title}")


@articles.command("show")
@click.argument("key", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print the full record as JSON.")
@pass_app
def show_article(app: App, key: str, as_json: bool) -> None:
    """Show one article by id, slug or seed file name."""
    from ..store import articles as article_store

    with app.engine.begin() as conn:
        article = article_store.find_article(conn, key, app.settings.site_record.timezone)
    if article is None:
        raise click.ClickException(f"no article with id, slug or source {key!r}")
    if as_json:
        click.echo(json.dumps(article_dict(article), ensure_ascii=False, indent=2))
        return
    click.echo(f"{article.title}\n{article.url}\n{', '.join(article.authors)} · "
               f"{article.published.date().isoformat()} · {article.category}")
    if article.summary:
        click.echo(f"\n{article.summary}")
    click.echo(f"\nid {article.id} · source {article.source} · updated {article.updated.isoformat()}")
