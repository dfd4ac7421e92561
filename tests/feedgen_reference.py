"""The reference the fast entry writer of publisher/feeds.py is held to: the same documents
with every entry built by feedgen (as feeds.py did before writing entries itself).

Only the tests import this; they render both ways and compare the bytes.
"""

from __future__ import annotations

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.feed import FeedGenerator

from publisher import feeds
from publisher.model import FeedLinks, FeedSpec, Site

_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
_DC = "http://purl.org/dc/elements/1.1/"


class _AtomEntryLink(BaseEntryExtension):
    href = ""
    lang = ""

    def extend_atom(self, entry):  # type: ignore[no-untyped-def]
        entry.append(
            entry.makeelement("link", {"href": self.href, "rel": "alternate", "type": "text/html"})
        )
        if self.lang:
            entry.set(_XML_LANG, self.lang)
        return entry


class _DcNamespace(BaseExtension):
    def extend_ns(self):  # type: ignore[no-untyped-def]
        return {"dc": _DC}


class _RssCreator(BaseEntryExtension):
    name = ""

    def extend_rss(self, item):  # type: ignore[no-untyped-def]
        if self.name:
            creator = item.makeelement(f"{{{_DC}}}creator", {})
            creator.text = self.name
            item.append(creator)
        return item


def _document(spec: FeedSpec, site: Site, feeds_url: str, links: FeedLinks):  # type: ignore[no-untyped-def]
    fg = feeds._generator(spec, site)
    fg.register_extension("entry_link", BaseExtension, _AtomEntryLink, atom=True, rss=False)
    fg.register_extension("creator", _DcNamespace, _RssCreator, atom=False, rss=True)
    if links != feeds.LIVE:
        fg.register_extension("history", feeds._History, BaseEntryExtension)
        fg.history.archive = links.page > 0
        fg.history.links = {name: feeds.history_links(spec, feeds_url, name, links)
                            for name in ("atom.xml", "rss.xml")}
    if any(not a.authors for a in spec.articles):
        fg.author({"name": site.title or site.host})
    entries = []
    for article in spec.articles:
        fe = fg.add_entry(order="append")
        fe.id(article.guid)
        fe.title(article.title or article.url)
        fe.updated(feeds.aware(article.updated, site))
        fe.published(feeds.aware(article.published, site))
        if article.summary:
            fe.description(feeds._html_text(article.summary))
        fe.content(article.full_html, type="html")
        if article.summary:
            fe.summary(article.summary)
        if article.category:
            fe.category(term=article.category)
        fe.entry_link.href = article.url
        if article.language and article.language != site.language:
            fe.entry_link.lang = article.language
        if article.authors:
            fe.author([{"name": name} for name in article.authors])
            fe.creator.name = ", ".join(article.authors)
        entries.append(fe)
    return fg, entries


def reference_atom_and_rss(
    spec: FeedSpec, site: Site, feeds_url: str, links: FeedLinks = feeds.LIVE
) -> tuple[bytes, bytes]:
    fg, entries = _document(spec, site, feeds_url, links)
    folder = feeds.document_folder(spec, links.page)
    feeds._set_links(fg, spec, site, feeds_url, "atom.xml", feeds.ATOM_TYPE, links.page)
    atom = feeds.with_stylesheet(fg.atom_str(pretty=True), folder)
    feeds._set_links(fg, spec, site, feeds_url, "rss.xml", feeds.RSS_TYPE, links.page)
    for fe, article in zip(entries, spec.articles):
        fe.link(href=article.url, replace=True)
    rss = feeds.with_stylesheet(fg.rss_str(pretty=True), folder)
    return atom, rss
