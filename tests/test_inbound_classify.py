"""The inbound classifier on a corpus of real-shaped reports (tests/inbound/*.eml): one file
per case, placeholders filled with one delivery's return path, Message-ID and recipient."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.inbound_classify import classify

CORPUS = Path(__file__).resolve().parent / "inbound"
RETURN_PATH = "bounces+12-7-0123456789abcdef0123@www.leftvoice.org"
MESSAGE_ID = "<digest-12.7@www.leftvoice.org>"
RECIPIENT = "reader@example.org"
TOKEN = "Nw.q1w2e3r4t5y6u7i8o9p0aA"


def corpus(name: str, **values: str) -> bytes:
    data = (CORPUS / name).read_bytes()
    filled = {"RETURN_PATH": RETURN_PATH, "MESSAGE_ID": MESSAGE_ID, "RECIPIENT": RECIPIENT,
              "UNSUB_TOKEN": TOKEN, **values}
    for key, value in filled.items():
        data = data.replace(b"{" + key.encode() + b"}", value.encode())
    return data


@pytest.mark.parametrize("name,kind,status", [
    ("dsn_postfix_user_unknown.eml", "hard_bounce", "5.1.1"),
    ("dsn_exim_multipart_report.eml", "hard_bounce", "5.0.0"),
    ("dsn_gmail_no_such_user.eml", "hard_bounce", "5.1.1"),
    ("dsn_outlook_recipient_not_found.eml", "hard_bounce", "5.1.10"),
    ("dsn_postfix_mailbox_full_delayed.eml", "soft_bounce", "4.2.2"),
])
def test_dsns(name: str, kind: str, status: str) -> None:
    verdict = classify(corpus(name))
    assert (verdict.kind, verdict.status, verdict.recipients) == (kind, status, (RECIPIENT,))
    assert RETURN_PATH in verdict.delivered_to
    assert MESSAGE_ID in verdict.original_ids
    assert verdict.reason.startswith(f"DSN {status} for {RECIPIENT}")


@pytest.mark.parametrize("name", ["bounce_exim_classic_no_report.eml", "bounce_qmail.eml"])
def test_non_standard_bounces_through_flufl_bounce(name: str) -> None:
    verdict = classify(corpus(name))
    assert (verdict.kind, verdict.recipients) == ("hard_bounce", (RECIPIENT,))
    assert RETURN_PATH in verdict.delivered_to and MESSAGE_ID in verdict.original_ids


def test_yahoo_abuse_report_is_a_complaint() -> None:
    verdict = classify(corpus("arf_yahoo_abuse.eml"))
    assert (verdict.kind, verdict.recipients) == ("complaint", (RECIPIENT,))
    assert RETURN_PATH in verdict.delivered_to  # from the quoted original's Return-Path
    assert verdict.original_ids == (MESSAGE_ID,)


def test_outlook_report_with_the_recipient_redacted_still_maps_by_return_path() -> None:
    verdict = classify(corpus("arf_outlook_jmrp_abuse_redacted.eml"))
    assert verdict.kind == "complaint"
    assert RETURN_PATH in verdict.delivered_to and verdict.original_ids == (MESSAGE_ID,)


def test_not_spam_report_changes_nothing() -> None:
    verdict = classify(corpus("arf_not_spam.eml"))
    assert verdict.kind == "not_spam" and "nothing to change" in verdict.reason


@pytest.mark.parametrize("name", ["unsubscribe_mailto_subject.eml", "unsubscribe_plus_address.eml"])
def test_mailto_unsubscribes_carry_the_token(name: str) -> None:
    verdict = classify(corpus(name))
    assert (verdict.kind, verdict.token, verdict.recipients) == ("unsubscribe", TOKEN, (RECIPIENT,))


@pytest.mark.parametrize("name,why", [
    ("autoreply_vacation.eml", "Auto-Submitted: auto-replied (vacation)"),
    ("autoreply_outlook_out_of_office.eml", "vacation / out-of-office subject"),
])
def test_auto_replies_are_ignored(name: str, why: str) -> None:
    verdict = classify(corpus(name))
    assert verdict.kind == "ignored" and why in verdict.reason


@pytest.mark.parametrize("name,why", [
    ("garbage_binary.eml", "not a mail message"),
    ("human_reply.eml", "neither a bounce, a complaint nor an unsubscribe"),
])
def test_anything_else_is_unrecognised_with_one_line_why(name: str, why: str) -> None:
    verdict = classify(corpus(name))
    assert verdict.kind == "unrecognised" and why in verdict.reason
    assert "\n" not in verdict.reason


def test_empty_and_truncated_input() -> None:
    assert classify(b"").kind == "unrecognised"
    truncated = corpus("dsn_postfix_user_unknown.eml")[:900]
    assert classify(truncated).kind in ("unrecognised", "hard_bounce")
