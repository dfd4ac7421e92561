<?xml version="1.0" encoding="UTF-8"?>
<!--
  Shows one of our Atom or RSS documents (live feed or archive page) as a readable page, for
  browsers that still apply XSLT when feeds/ is served as static files. `publisher serve`
  answers browsers with its own HTML feed page instead; this page copies its look.
  Written into feeds/feed.xsl by every build; the feeds name it in <?xml-stylesheet?>.
-->
<xsl:stylesheet version="1.0"
    xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
    xmlns:a="http://www.w3.org/2005/Atom"
    xmlns:dc="http://purl.org/dc/elements/1.1/"
    xmlns:content="http://purl.org/rss/1.0/modules/content/"
    xmlns:fh="http://purl.org/syndication/history/1.0"
    exclude-result-prefixes="a dc content fh">

  <xsl:output method="html" encoding="UTF-8" doctype-system="about:legacy-compat" indent="yes"/>

  <xsl:template match="/">
    <xsl:choose>
      <xsl:when test="a:feed">
        <xsl:call-template name="page">
          <xsl:with-param name="format" select="'Atom'"/>
          <xsl:with-param name="title" select="a:feed/a:title"/>
          <xsl:with-param name="description" select="a:feed/a:subtitle"/>
          <xsl:with-param name="lang" select="a:feed/@xml:lang"/>
          <xsl:with-param name="home" select="a:feed/a:link[@rel='alternate']/@href"/>
          <xsl:with-param name="self" select="a:feed/a:link[@rel='self']/@href"/>
          <xsl:with-param name="current" select="a:feed/a:link[@rel='current']/@href"/>
          <xsl:with-param name="older" select="a:feed/a:link[@rel='prev-archive']/@href"/>
          <xsl:with-param name="newer" select="a:feed/a:link[@rel='next-archive']/@href"/>
          <xsl:with-param name="archive" select="boolean(a:feed/fh:archive)"/>
          <xsl:with-param name="count" select="count(a:feed/a:entry)"/>
        </xsl:call-template>
      </xsl:when>
      <xsl:otherwise>
        <xsl:call-template name="page">
          <xsl:with-param name="format" select="'RSS'"/>
          <xsl:with-param name="title" select="rss/channel/title"/>
          <xsl:with-param name="description" select="rss/channel/description"/>
          <xsl:with-param name="lang" select="rss/channel/language"/>
          <xsl:with-param name="home" select="rss/channel/link"/>
          <xsl:with-param name="self" select="rss/channel/a:link[@rel='self']/@href"/>
          <xsl:with-param name="current" select="rss/channel/a:link[@rel='current']/@href"/>
          <xsl:with-param name="older" select="rss/channel/a:link[@rel='prev-archive']/@href"/>
          <xsl:with-param name="newer" select="rss/channel/a:link[@rel='next-archive']/@href"/>
          <xsl:with-param name="archive" select="boolean(rss/channel/fh:archive)"/>
          <xsl:with-param name="count" select="count(rss/channel/item)"/>
        </xsl:call-template>
      </xsl:otherwise>
    </xsl:choose>
  </xsl:template>

  <xsl:template name="page">
    <xsl:param name="format"/>
    <xsl:param name="title"/>
    <xsl:param name="description"/>
    <xsl:param name="lang"/>
    <xsl:param name="home"/>
    <xsl:param name="self"/>
    <xsl:param name="current"/>
    <xsl:param name="older"/>
    <xsl:param name="newer"/>
    <xsl:param name="archive"/>
    <xsl:param name="count"/>
    <!-- An archive page is read through its live feed: that is the address to subscribe to. -->
    <xsl:variable name="subscribe">
      <xsl:choose>
        <xsl:when test="$current"><xsl:value-of select="$current"/></xsl:when>
        <xsl:otherwise><xsl:value-of select="$self"/></xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <xsl:variable name="site">
      <xsl:choose>
        <xsl:when test="contains($title, ': ')"><xsl:value-of select="substring-before($title, ': ')"/></xsl:when>
        <xsl:otherwise><xsl:value-of select="$title"/></xsl:otherwise>
      </xsl:choose>
    </xsl:variable>
    <html lang="{$lang}">
      <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <meta name="robots" content="noindex"/>
        <title><xsl:value-of select="$title"/> (<xsl:value-of select="$format"/> feed)</title>
        <style><xsl:call-template name="css"/></style>
      </head>
      <body>
        <header class="masthead">
          <div class="wrap">
            <a class="brand" href="{$home}"><xsl:value-of select="$site"/></a>
            <nav aria-label="Site"><a href="{$home}">Website</a></nav>
          </div>
        </header>
        <main id="content" class="wrap">
          <header class="section-head feed-head">
            <p class="eyebrow"><xsl:value-of select="$format"/> feed<xsl:if test="$archive"> · archive page</xsl:if></p>
            <h1><xsl:value-of select="$title"/></h1>
            <xsl:if test="$description and string($description) != string($title)">
              <p class="lede"><xsl:value-of select="$description"/></p>
            </xsl:if>
          </header>
          <section class="feed-about" aria-labelledby="feed-about-heading">
            <h2 id="feed-about-heading">This is a feed</h2>
            <p>A feed brings every new article to a <strong>feed reader</strong> app as soon as it is published: no account with us, no email, no algorithm choosing for you. Copy this address into your reader to subscribe.</p>
            <div class="copy-row">
              <label for="feed-url" class="visually-hidden">Feed address</label>
              <input id="feed-url" class="feed-url" type="url" value="{$subscribe}" readonly="readonly" onfocus="this.select()"/>
              <button type="button" class="button copy" onclick="var b=this;navigator.clipboard.writeText(document.getElementById('feed-url').value).then(function(){{b.textContent='Copied'}})">Copy address</button>
            </div>
            <p class="readers">Or subscribe in one click:
              <a class="button secondary small reader" rel="nofollow noopener" href="https://feedly.com/i/subscription/feed/{$subscribe}">Feedly</a>
              <a class="button secondary small reader" rel="nofollow noopener" href="https://www.inoreader.com/?add_feed={$subscribe}">Inoreader</a>
              <a class="button secondary small reader" rel="nofollow noopener" href="https://www.newsblur.com/?url={$subscribe}">NewsBlur</a>
              <a class="button secondary small reader" rel="nofollow noopener" href="https://theoldreader.com/feeds/subscribe?url={$subscribe}">The Old Reader</a>
            </p>
            <xsl:if test="$archive">
              <p class="hint">This page holds older articles of the feed; a reader that follows its links gets them all.</p>
            </xsl:if>
          </section>
          <section class="feed-entries" aria-labelledby="feed-entries-heading">
            <h2 id="feed-entries-heading">
              <xsl:choose>
                <xsl:when test="$count = 0">No articles on this page</xsl:when>
                <xsl:when test="$count = 1">1 article <xsl:if test="not($archive)">in this feed</xsl:if><xsl:if test="$archive">on this page</xsl:if></xsl:when>
                <xsl:otherwise><xsl:value-of select="$count"/> articles <xsl:if test="not($archive)">in this feed</xsl:if><xsl:if test="$archive">on this page</xsl:if></xsl:otherwise>
              </xsl:choose>
            </h2>
            <xsl:apply-templates select="a:feed/a:entry | rss/channel/item"/>
            <xsl:if test="$older or $newer or $current">
              <nav class="pager" aria-label="Feed pages">
                <xsl:choose>
                  <xsl:when test="$newer"><a rel="next" href="{$newer}">← Newer</a></xsl:when>
                  <xsl:when test="$current"><a href="{$current}">← Latest</a></xsl:when>
                  <xsl:otherwise><span></span></xsl:otherwise>
                </xsl:choose>
                <xsl:if test="$older"><a rel="prev" href="{$older}">Older →</a></xsl:if>
              </nav>
            </xsl:if>
          </section>
        </main>
        <footer class="wrap footer">
          <p><xsl:value-of select="$site"/><xsl:if test="$description and string($description) != string($site)"> · <xsl:value-of select="$description"/></xsl:if></p>
        </footer>
      </body>
    </html>
  </xsl:template>

  <xsl:template match="a:entry">
    <article class="teaser">
      <h3><a href="{a:link[@rel='alternate']/@href}"><xsl:value-of select="a:title"/></a></h3>
      <p class="byline">
        <xsl:for-each select="a:author/a:name">
          <xsl:value-of select="."/><xsl:if test="position() != last()">, </xsl:if>
        </xsl:for-each>
        <xsl:if test="a:author and a:published"> · </xsl:if>
        <xsl:if test="a:published">
          <time datetime="{a:published}">
            <xsl:call-template name="date">
              <xsl:with-param name="year" select="substring(a:published, 1, 4)"/>
              <xsl:with-param name="month" select="number(substring(a:published, 6, 2))"/>
              <xsl:with-param name="day" select="number(substring(a:published, 9, 2))"/>
            </xsl:call-template>
          </time>
        </xsl:if>
      </p>
      <xsl:if test="a:summary"><p class="summary"><xsl:value-of select="a:summary"/></p></xsl:if>
    </article>
  </xsl:template>

  <xsl:template match="item">
    <article class="teaser">
      <h3><a href="{link}"><xsl:value-of select="title"/></a></h3>
      <p class="byline">
        <xsl:value-of select="dc:creator"/>
        <xsl:if test="dc:creator and pubDate"> · </xsl:if>
        <xsl:if test="pubDate">
          <!-- RFC 822: "Tue, 05 Mar 2024 09:30:00 -0500" -->
          <xsl:call-template name="date">
            <xsl:with-param name="year" select="substring(pubDate, 13, 4)"/>
            <xsl:with-param name="month" select="(string-length(substring-before('JanFebMarAprMayJunJulAugSepOctNovDec', substring(pubDate, 9, 3))) div 3) + 1"/>
            <xsl:with-param name="day" select="number(substring(pubDate, 6, 2))"/>
          </xsl:call-template>
        </xsl:if>
      </p>
      <!-- The description is HTML: with content:encoded beside it, the summary escaped as
           HTML (so it is written out as it is: the browser shows the text, and any markup in
           it only as text); without, it is the full text, not shown here. Browsers that do
           not honour disable-output-escaping show the entities. -->
      <xsl:if test="content:encoded and description">
        <p class="summary"><xsl:value-of select="description" disable-output-escaping="yes"/></p>
      </xsl:if>
    </article>
  </xsl:template>

  <xsl:template name="date">
    <xsl:param name="year"/>
    <xsl:param name="month"/>
    <xsl:param name="day"/>
    <xsl:value-of select="substring-before(substring-after('|1January|2February|3March|4April|5May|6June|7July|8August|9September|10October|11November|12December|', concat('|', $month)), '|')"/>
    <xsl:text> </xsl:text><xsl:value-of select="$day"/>, <xsl:value-of select="$year"/>
  </xsl:template>

  <!-- The web pages' stylesheet (templates/web/style.css), the parts this page uses. -->
  <xsl:template name="css">
:root { --ink: #1b1b1b; --muted: #5c5c5c; --rule: #e3e0da; --paper: #fffdf9; --accent: #b3261e; --accent-ink: #fff; --measure: 40rem; color-scheme: light; }
*, *::before, *::after { box-sizing: border-box; }
body { margin: 0; background: var(--paper); color: var(--ink); font: 1.0625rem/1.6 Georgia, "Times New Roman", serif; overflow-wrap: break-word; }
a { color: var(--accent); text-underline-offset: 0.15em; }
.wrap { max-width: var(--measure); margin: 0 auto; padding-left: 1.1rem; padding-right: 1.1rem; }
.masthead { border-bottom: 3px solid var(--ink); background: #fff; }
.masthead .wrap { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: 0.4rem 1rem; padding-top: 0.8rem; padding-bottom: 0.8rem; }
.brand { font: 700 1.5rem/1.1 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; letter-spacing: -0.02em; color: var(--ink); text-decoration: none; text-transform: uppercase; }
nav { display: flex; flex-wrap: wrap; align-items: center; gap: 0.3rem 1rem; font: 0.95rem/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
nav a { color: var(--ink); text-decoration: none; }
main { padding-top: 2rem; padding-bottom: 2rem; }
h1, h2, h3 { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; line-height: 1.2; letter-spacing: -0.01em; }
h1 { font-size: clamp(1.7rem, 5vw, 2.4rem); margin: 0.2rem 0 0.6rem; }
.eyebrow { margin: 0; font: 700 0.8rem/1.4 system-ui, sans-serif; text-transform: uppercase; letter-spacing: 0.08em; color: var(--muted); }
.lede { font-size: 1.15rem; color: #333; margin-top: 0; }
.byline { color: var(--muted); font: 0.9rem/1.5 system-ui, sans-serif; margin: 0.2rem 0 0.6rem; }
.hint { color: var(--muted); font-size: 0.92rem; }
.section-head { border-bottom: 1px solid var(--rule); margin-bottom: 0.5rem; padding-bottom: 0.5rem; }
.teaser { padding: 1rem 0; border-bottom: 1px solid var(--rule); }
.teaser .summary { margin: 0.3rem 0 0; }
.pager { display: flex; justify-content: space-between; align-items: center; gap: 0.5rem; padding: 1.2rem 0; font-family: system-ui, sans-serif; }
.button { display: inline-block; border: 0; border-radius: 4px; cursor: pointer; background: var(--accent); color: var(--accent-ink); text-decoration: none; font: 600 1rem/1.2 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; padding: 0.7rem 1.2rem; min-height: 44px; }
.button:hover, .button:focus-visible { background: #8c1d17; color: var(--accent-ink); }
.button.small { padding: 0.35rem 0.8rem; min-height: 0; font-size: 0.9rem; }
.button.secondary { background: transparent; color: var(--accent); border: 1px solid var(--accent); }
.button.secondary:hover { background: #fbeceb; color: var(--accent); }
:focus-visible { outline: 3px solid #1d4ed8; outline-offset: 2px; }
.visually-hidden { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; }
.feed-about { margin: 1rem 0 1.5rem; padding: 1rem 1.2rem; background: #f4f0e8; border-radius: 6px; font-family: system-ui, sans-serif; }
.feed-about h2 { font-size: 1.15rem; margin: 0 0 0.4rem; }
.feed-about p { margin: 0.4rem 0; }
.copy-row { display: flex; flex-wrap: wrap; gap: 0.5rem; margin: 0.6rem 0 0.2rem; }
.feed-url { flex: 1; min-width: 0; font: 0.9rem ui-monospace, Menlo, Consolas, monospace; padding: 0.6rem; border: 1px solid #8a8a8a; border-radius: 4px; background: #fff; }
.readers { display: flex; flex-wrap: wrap; align-items: center; gap: 0.4rem 0.5rem; }
.feed-entries h2 { font-size: 1rem; text-transform: uppercase; letter-spacing: 0.08em; margin: 1rem 0 0; }
.feed-entries .teaser h3 { font-size: 1.2rem; margin: 0 0 0.2rem; }
.feed-entries .teaser h3 a { color: var(--ink); text-decoration: none; }
.feed-entries .teaser h3 a:hover { color: var(--accent); }
.footer { padding-bottom: 2rem; color: var(--muted); font: 0.88rem/1.5 system-ui, sans-serif; }
.footer > p:first-child { border-top: 1px solid var(--rule); padding-top: 1rem; margin-top: 0; }
@media (max-width: 30rem) { body { font-size: 1rem; } .brand { font-size: 1.25rem; } }
  </xsl:template>
</xsl:stylesheet>
