"""Commands over articles and feeds: ingest, build-feeds, articles list/show."""

from __future__ import annotations

import json
import sys
from contextlib import contextmanager
from typing import Iterator

from typing import TYPE_CHECKING

import click

from ..model import article_dict
from .app import App, pass_app

if TYPE_CHECKING:
    from .. import pipeline

PROGRESS_MIN = 200  # show a progress bar from this many seeds to parse


def _report_seed_problems(report: pipeline.IngestReport) -> None:
    for note in report.notes:
        click.echo(f"note: {note}", err=True)
    for warning in (*report.skipped, *report.undated):
        click.echo(f"warning: {warning}", err=True)
    if report.refusal:
        click.echo(f"warning: {report.refusal}", err=True)
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


def _build(app: App, *, prune: bool, feeds: bool) -> pipeline.BuildReport:
    from .. import pipeline

    with _progress("Reading seeds") as (on_plan, step):
        return pipeline.build(app.engine, app.settings, app.now(), clock=app.now,
                              wait=pipeline.settle_wait(app.settings), prune=prune,
                              progress=step, on_plan=on_plan, feeds=feeds)


def ingest_summary(report: pipeline.IngestReport) -> str:
    return (f"articles: {len(report.new)} new, {len(report.updated)} updated, "
            f"{report.unchanged} unchanged, {report.deleted} removed, "
            f"{len(report.skipped)} skipped, {len(report.failed)} failed")


def _exit_code(report: pipeline.IngestReport) -> int:
    return 1 if report.failed or report.refused else 0


_PRUNE = click.option(
    "--prune", is_flag=True,
    help="Remove the articles whose seed file is gone even when they are more than "
    "feeds.max_removal_fraction of the published ones.")


@click.command("ingest")
@click.option("--json", "as_json", is_flag=True,
              help="Print the new and updated article records and the counts as JSON.")
@_PRUNE
@pass_app
def ingest(app: App, as_json: bool, prune: bool) -> None:
    """Read new and changed seeds into the store (no feeds written).

    Exits 1 when any seed failed (the others are still stored) or removals were refused,
    2 when the seeds folder does not exist (nothing is changed).
    """
    report = _build(app, prune=prune, feeds=False).ingest
    _report_seed_problems(report)
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
            "warnings": [{"file": e.path, "reason": e.reason} for e in report.undated],
            "failed": [{"file": e.path, "reason": e.reason} for e in report.failed],
            "notes": report.notes,
        }, ensure_ascii=False, indent=2))
    else:
        click.echo(ingest_summary(report))
    sys.exit(_exit_code(report))


@click.command("build-feeds")
@_PRUNE
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@pass_app
def build_feeds(app: App, prune: bool, as_json: bool) -> None:
    """Ingest the seeds, then write every Atom, RSS and JSON feed and feeds/index.opml.

    Only feeds whose entries changed are rendered again; a file whose bytes would not change is
    not rewritten. A seed changed less than schedule.settle_seconds ago is waited for a little,
    then left for the next build. Exits 1 when any seed failed (every other seed is still
    published) or when more than feeds.max_removal_fraction of the published articles lost
    their seed file (none is removed then, unless --prune); 2 when the seeds folder does not
    exist (nothing is changed).
    """
    built = _build(app, prune=prune, feeds=True)
    report, feeds = built.ingest, built.feeds
    assert feeds is not None
    _report_seed_problems(report)
    if as_json:
        click.echo(json.dumps({
            "articles": {
                "new": len(report.new), "updated": len(report.updated),
                "unchanged": report.unchanged, "removed": report.deleted,
                "skipped": [{"file": e.path, "reason": e.reason} for e in report.skipped],
                "failed": [{"file": e.path, "reason": e.reason} for e in report.failed],
                "refused_removals": report.refused,
            },
            "feeds": {"written": feeds.written, "unchanged": feeds.unchanged,
                      "removed": feeds.removed, "folder": str(app.settings.feeds_dir)},
            "websub": [{"hub": p.hub, "ok": p.ok, "urls": p.urls, "detail": p.detail}
                       for p in feeds.pings],
        }, ensure_ascii=False, indent=2))
        sys.exit(_exit_code(report))
    click.echo(ingest_summary(report))
    click.echo(f"feeds: {len(feeds.written)} written, {feeds.unchanged} unchanged, "
               f"{len(feeds.removed)} removed, in {app.settings.feeds_dir}")
    for ping in feeds.pings:
        click.echo(ping.line() if ping.ok else f"warning: {ping.line()}", err=not ping.ok)
    sys.exit(_exit_code(report))


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
    click.echo(f'date_source: "{article.date_source}"')
