"""The subscriptions module: one address rule, suppression, confirmation links used once,
canonical tokens, one table of links, and imports of real export files (one per format)."""

from __future__ import annotations

import base64
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from publisher import subscriptions, tokens
from publisher.store import open_database
from publisher.store import subscribers as subscriber_store

EXPORTS = Path(__file__).resolve().parent / "exports"
SECRET = "test-secret-key-0123456789abcdef"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)


@pytest.fixture
def db(tmp_path, backend):  # type: ignore[no-untyped-def]
    """The store of the test's backend (a SQLite file, or its own PostgreSQL database)."""
    database = open_database(backend.url or tmp_path / "state.db")
    assert database.backend == backend.name
    yield database
    database.dispose()


def links() -> subscriptions.Links:
    return subscriptions.Links("https://news.example.org", SECRET, "example.org",
                               bounce_address="bounces@example.org")


def status_of(db, address: str) -> str:  # type: ignore[no-untyped-def]
    with db.begin() as conn:
        found = subscriptions.find(conn, address)
    return found.status if found else "missing"


# --- the address ----------------------------------------------------------------------------

@pytest.mark.parametrize("raw,stored", [
    ("  Ana@EXAMPLE.com ", "Ana@example.com"),
    ("reader@Bücher.example", "reader@xn--bcher-kva.example"),
])
def test_one_normalisation(raw: str, stored: str) -> None:
    assert subscriptions.normalise_address(raw) == stored


@pytest.mark.parametrize("raw", ["", "not-an-address", "a@b", "x" * 250 + "@example.org",
                                 "<script>@example.org", "jürgen@example.org"])
def test_invalid_addresses_are_refused_with_the_address_named(raw: str) -> None:
    with pytest.raises(subscriptions.BadAddress) as caught:
        subscriptions.normalise_address(raw)
    assert "address" in str(caught.value)


def test_cli_and_web_share_the_validator() -> None:
    """No second validator left in the CLI or the web: both go through subscriptions, which
    uses the one importer of email-validator."""
    root = Path(subscriptions.__file__).parent
    for path in [root / "cli" / "digests.py", root / "web" / "subscribe.py",
                 root / "store" / "subscribers.py"]:
        assert "email_validator" not in path.read_text(encoding="utf-8"), path
    users = [p.name for p in root.rglob("*.py") if "email_validator" in p.read_text("utf-8")]
    assert users == ["addresses.py"]
    assert "subscriber_address" in Path(subscriptions.__file__).read_text(encoding="utf-8")


# --- suppression and reactivation --------------------------------------------------------------

@pytest.mark.parametrize("suppressed", ["bouncing", "complained"])
def test_suppressed_addresses_are_not_reactivated_by_add_or_import(db, suppressed: str) -> None:  # type: ignore[no-untyped-def]
    with db.begin() as conn:
        _, sub = subscriptions.add(conn, "gone@example.org", name="", cadence="daily",
                                   categories=(), now=NOW)
        subscriber_store.set_status(conn, sub.id, suppressed, NOW)
    with db.begin() as conn, pytest.raises(subscriptions.Suppressed) as caught:
        subscriptions.add(conn, "GONE@example.org", name="", cadence="daily", categories=(),
                          now=NOW)
    assert f"gone@example.org is {suppressed}" in str(caught.value)
    with db.begin() as conn:
        report = subscriptions.import_export(conn, "email,status\ngone@example.org,active\n", NOW)
    assert (report.known, report.imported) == (1, 0)
    with db.begin() as conn:
        sub = subscriptions.get(conn, sub.id)
        assert sub is not None and not subscriptions.resubscribe(conn, sub, NOW)
    assert status_of(db, "gone@example.org") == suppressed
    # A fresh double opt-in does it: a link mailed now, then used.
    with db.begin() as conn:
        asked = subscriptions.request(conn, "gone@example.org", cadence="weekly", categories=(),
                                      now=NOW)
    assert asked is not None and asked.status == suppressed  # no mail until confirmed
    token = links().confirm_token(asked, NOW)
    with db.begin() as conn:
        checked = subscriptions.check_confirmation(conn, links(), token, NOW, 3600)
        assert checked is not None and checked.state == "ok"
        assert subscriptions.confirm(conn, checked, NOW)
    assert status_of(db, "gone@example.org") == "active"


def test_cli_add_refuses_a_complained_address(project) -> None:  # type: ignore[no-untyped-def]
    project.run("subscribers", "add", "angry@example.org", check=True)
    database = project.open_store()
    with database.begin() as conn:
        found = subscriptions.find(conn, "angry@example.org")
        assert found is not None
        subscriptions.complain(conn, found.id, NOW, digest_id=None, detail="abuse report")
    database.dispose()
    again = project.run("subscribers", "add", "angry@example.org")
    assert again.returncode == 1
    assert again.stderr.splitlines() == [
        "error: angry@example.org is complained: it is not made active again without a fresh "
        "confirmation (the reader can subscribe again on the web and confirm by mail)"]
    listed = project.run("subscribers", "list", check=True).stdout
    assert listed.split("\t")[:2] == ["angry@example.org", "complained"]


def test_a_used_confirmation_link_cannot_undo_a_later_unsubscribe(db) -> None:  # type: ignore[no-untyped-def]
    with db.begin() as conn:
        pending = subscriptions.request(conn, "new@example.org", cadence="daily", categories=(),
                                        now=NOW)
    assert pending is not None and pending.status == "pending"
    token = links().confirm_token(pending, NOW)
    with db.begin() as conn:
        checked = subscriptions.check_confirmation(conn, links(), token, NOW, 3600)
        assert checked is not None and subscriptions.confirm(conn, checked, NOW)
    with db.begin() as conn:
        again = subscriptions.check_confirmation(conn, links(), token, NOW, 3600)
        assert again is not None and again.state == "done"  # active: nothing to do
        sub = subscriptions.get(conn, pending.id)
        assert sub is not None and subscriptions.unsubscribe(conn, sub, NOW)
    with db.begin() as conn:
        late = subscriptions.check_confirmation(conn, links(), token, NOW + timedelta(1), 7 * 86400)
        assert late is not None and late.state == "used"
        assert not subscriptions.confirm(conn, late, NOW)
    assert status_of(db, "new@example.org") == "unsubscribed"


# --- tokens and links -------------------------------------------------------------------------

def test_tokens_are_accepted_only_in_their_canonical_encoding() -> None:
    good = tokens.sign(SECRET, "unsubscribe", "42")
    assert tokens.unsign(SECRET, "unsubscribe", good) == "42"
    body, mac = good.split(".")
    raw_mac = base64.urlsafe_b64decode(mac + "=" * (-len(mac) % 4))
    # The same bytes spelled differently: padded, a stray character, other trailing bits.
    last = base64.urlsafe_b64encode(raw_mac).decode().rstrip("=")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    other_bits = last[:-1] + alphabet[alphabet.index(last[-1]) ^ 1]
    assert base64.urlsafe_b64decode(other_bits + "==") == raw_mac
    for variant in [f"{body}.{mac}==", f"{body}=.{mac}", f"{body}.{mac[:5]}!{mac[5:]}",
                    f"{body}.{other_bits}", f" {good}"]:
        with pytest.raises(tokens.BadToken):
            tokens.unsign(SECRET, "unsubscribe", variant)


def test_keyed_digests_stay_what_links_already_sent_carry() -> None:
    """Tokens, VERP return paths and rate-limit client keys are HMAC-SHA256 of `purpose`, NUL,
    value: recomputed here with hmac.new, so a change of how they are computed (links in
    mail already delivered would stop working) fails."""
    import hashlib
    import hmac

    key = SECRET.encode()
    token = tokens.sign(SECRET, "unsubscribe", "42")
    body = token.split(".")[0]
    expected = hmac.new(key, b"unsubscribe\0" + body.encode(), hashlib.sha256).digest()[:16]
    assert token == f"{body}.{base64.urlsafe_b64encode(expected).decode().rstrip('=')}"
    verp = hmac.new(key, b"verp\x0012-7", hashlib.sha256).hexdigest()[:20]
    assert links().return_path(12, 7) == f"bounces+12-7-{verp}@example.org"
    assert tokens.purpose_mac(b"k" * 32, "subscribe", "203.0.113.9") == hmac.new(
        b"k" * 32, b"subscribe\x00203.0.113.9", hashlib.sha256).digest()


def test_one_table_of_links_and_message_ids() -> None:
    made = links()
    personal = made.personal(7)
    assert urlsplit(personal.unsubscribe_url).path == \
        subscriptions.path_for("unsubscribe", token=personal.unsubscribe_token)
    assert personal.unsubscribe_mailto == \
        f"mailto:unsubscribe@example.org?subject=unsubscribe-{personal.unsubscribe_token}"
    assert made.subscriber_id_from("manage", urlsplit(personal.manage_url).path.split("/")[-1]) == 7
    assert made.subscriber_id_from("unsubscribe", urlsplit(personal.manage_url).path.split("/")[-1]) is None
    assert made.view_url(12) == "https://news.example.org/digests/12/"
    assert made.message_id(12, 7) == "<digest-12.7@example.org>"
    assert subscriptions.parse_message_id("<digest-12.7@example.org>", "example.org") == (12, 7)
    assert subscriptions.parse_message_id("<digest-12.7@elsewhere.net>", "example.org") is None


def test_web_routes_are_declared_from_the_table(make_web_site) -> None:  # type: ignore[no-untyped-def]
    site = make_web_site()
    rules = {rule.rule for rule in site.app.url_map.iter_rules()}
    assert set(subscriptions.ROUTES.values()) <= rules


def test_verp_return_path_round_trips_and_rejects_forgery() -> None:
    made = links()
    address = made.return_path(12, 7)
    local, domain = address.split("@")
    assert domain == "example.org" and local.startswith("bounces+12-7-") and local == local.lower()
    assert made.parse_return_path(address) == (12, 7)
    assert made.parse_return_path(address.upper()) == (12, 7)  # a server that changed the case
    assert made.parse_return_path(address.replace("+12-7-", "+12-8-")) is None
    assert made.parse_return_path("bounces@example.org") is None
    other = subscriptions.Links("https://x", "another-secret-0123456789", "example.org",
                                bounce_address="bounces@example.org")
    assert other.parse_return_path(address) is None


# --- imports of real exports ----------------------------------------------------------------

def imported(db, name: str) -> tuple[subscriptions.ImportReport, dict[str, str]]:  # type: ignore[no-untyped-def]
    text = (EXPORTS / name).read_text(encoding="utf-8-sig")
    with db.begin() as conn:
        report = subscriptions.import_export(conn, text, NOW)
        statuses = {s.email: s.status for s in subscriber_store.iter_subscribers(conn)}
    return report, statuses


def test_import_mailchimp_exports(db) -> None:  # type: ignore[no-untyped-def]
    report, _ = imported(db, "mailchimp_subscribed_members_export.csv")
    assert report.format == "mailchimp" and report.added == {"active": 2}
    report, _ = imported(db, "mailchimp_unsubscribed_members_export.csv")
    assert report.added == {"unsubscribed": 1, "complained": 1}
    report, statuses = imported(db, "mailchimp_cleaned_members_export.csv")
    assert report.added == {"bouncing": 1}
    assert statuses == {"rosa@example.org": "active", "KARL.MARX@example.org": "active",
                        "leon@example.org": "unsubscribed",
                        "spam.reporter@example.net": "complained",
                        "gone@old-isp.example": "bouncing"}
    with db.begin() as conn:
        rosa = subscriptions.find(conn, "rosa@example.org")
    assert rosa is not None and rosa.name == "Rosa Luxemburg"


def test_import_substack_export(db) -> None:  # type: ignore[no-untyped-def]
    report, statuses = imported(db, "substack_subscribers.csv")
    assert report.format == "substack" and not report.problems
    assert statuses == {"clara@example.org": "active", "antonio@example.org": "active",
                        "quiet@example.org": "unsubscribed"}


def test_import_ghost_export(db) -> None:  # type: ignore[no-untyped-def]
    report, statuses = imported(db, "ghost_members.csv")
    assert report.format == "ghost" and not report.problems
    assert statuses == {"alexandra@example.org": "active", "nadezhda@example.org": "unsubscribed",
                        "paid.member@example.org": "active"}


def test_import_listmonk_export(db) -> None:  # type: ignore[no-untyped-def]
    report, statuses = imported(db, "listmonk_subscribers.csv")
    assert report.format == "listmonk"
    assert statuses == {"emma@example.org": "active", "lucy@example.org": "unsubscribed"}
    assert len(report.problems) == 1 and report.problems[0].startswith("4: invalid address")


def test_an_export_suppresses_a_known_address_but_never_activates_one(db) -> None:  # type: ignore[no-untyped-def]
    with db.begin() as conn:
        subscriptions.add(conn, "leon@example.org", name="", cadence="daily", categories=(),
                          now=NOW)
        subscriptions.import_export(conn, "email,status\nrosa@example.org,unsubscribed\n", NOW)
    report, statuses = imported(db, "mailchimp_unsubscribed_members_export.csv")
    assert (report.suppressed, report.added) == (1, {"complained": 1})
    assert statuses["leon@example.org"] == "unsubscribed"
    report, statuses = imported(db, "mailchimp_subscribed_members_export.csv")
    assert statuses["rosa@example.org"] == "unsubscribed" and report.known == 1


def test_cli_import_summary_counts_each_status(project) -> None:  # type: ignore[no-untyped-def]
    result = project.run("subscribers", "import", str(EXPORTS / "listmonk_subscribers.csv"))
    assert result.returncode == 1
    assert result.stdout.strip() == (
        "subscribers (listmonk export): 2 imported (1 active, 1 unsubscribed), 0 already known, "
        "0 known and now suppressed, 1 bad rows")
    assert result.stderr.startswith(f"{EXPORTS / 'listmonk_subscribers.csv'}:4: invalid address")


def test_add_and_import_reject_a_category_no_article_has(project, tmp_path) -> None:  # type: ignore[no-untyped-def]
    project.run("build-feeds", check=True)
    database = project.open_store()
    with database.begin() as conn:
        from publisher.store import web as web_store

        known = web_store.categories(conn)
    database.dispose()
    assert known
    bad = project.run("subscribers", "add", "a@example.org", "--category", "Gardening")
    assert bad.returncode == 1
    assert bad.stderr.splitlines() == [
        f"error: unknown category 'Gardening' (known: {', '.join(known)}) "
        "(--allow-new-category accepts one before any article has it)"]
    good = project.run("subscribers", "add", "a@example.org", "--category", known[0].upper(),
                       check=True)
    assert good.stdout.strip() == f"subscribed a@example.org (daily; {known[0]})"
    ahead = project.run("subscribers", "add", "b@example.org", "--category", "Gardening",
                        "--allow-new-category", check=True)
    assert "Gardening" in ahead.stdout
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(f"email,categories\nc@example.org,{known[0]}\nd@example.org,Gardening\n",
                        encoding="utf-8")
    result = project.run("subscribers", "import", str(csv_file))
    assert result.returncode == 1
    assert result.stderr.startswith(f"{csv_file}:3: unknown category 'Gardening'")
    assert "1 imported (1 active)" in result.stdout


def test_preview_says_when_no_article_matches_and_its_view_link_is_a_real_page(project, tmp_path) -> None:  # type: ignore[no-untyped-def]
    env = {"PUBLISHER_SECRET_KEY": SECRET}
    project.run("ingest", check=True)
    project.run("subscribers", "add", "picky@example.org", "--category", "Gardening",
                "--allow-new-category", check=True)
    result = project.run("digest", "preview", "--subscriber", "picky@example.org", "--out",
                         str(tmp_path / "p"), env=env)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: no article matches the categories of picky@example.org (Gardening) (change "
        "them with the manage link, or wait for an article in them)"]
    assert "ingest" not in result.stderr
    project.run("subscribers", "add", "all@example.org", check=True)
    project.run("digest", "preview", "--subscriber", "all@example.org", "--out",
                str(tmp_path / "q"), env=env, check=True)
    html = (tmp_path / "q" / "digest.html").read_text(encoding="utf-8")
    links = set(re.findall(r'href="([^"]*/digests/[^"]*)"', html))
    assert links == {"http://127.0.0.1:8080/digests/"}  # no digest archived yet: the archive
