"""The subscriber, send-digests and preview commands, run as real subprocesses."""

from __future__ import annotations

import json
from email import message_from_bytes, policy

import pytest

from test_digest_support import SECRET

ENV = {"PUBLISHER_SECRET_KEY": SECRET}


def test_add_list_remove(project):  # type: ignore[no-untyped-def]
    r = project.run("subscribers", "add", "Ana@Example.com", "--name", "Ana", "--cadence", "weekly",
                    "--category", "Labor", "--category", "Politics", "--allow-new-category",
                    check=True)
    assert "subscribed Ana@example.com (weekly; Labor, Politics)" in r.stdout
    dup = project.run("subscribers", "add", "ana@EXAMPLE.com")
    assert dup.returncode == 1 and "already subscribed" in dup.stderr
    bad = project.run("subscribers", "add", "not-an-address")
    assert bad.returncode == 1 and bad.stderr.startswith("error: invalid address")
    records = json.loads(project.run("subscribers", "list", "--json", check=True).stdout)
    assert [(s["email"], s["status"], s["cadence"], s["categories"]) for s in records] == \
        [("Ana@example.com", "active", "weekly", ["Labor", "Politics"])]
    assert project.run("subscribers", "remove", "ANA@example.com", check=True).stdout.strip() == \
        "unsubscribed Ana@example.com"
    listed = project.run("subscribers", "list", check=True).stdout
    assert "unsubscribed" in listed
    again = project.run("subscribers", "add", "ana@example.com", "--cadence", "daily", check=True)
    assert "reactivated" in again.stdout
    project.run("subscribers", "remove", "ana@example.com", "--delete", check=True)
    assert json.loads(project.run("subscribers", "list", "--json", check=True).stdout) == []
    missing = project.run("subscribers", "remove", "nobody@example.com")
    assert missing.returncode == 1 and "no subscriber" in missing.stderr


def test_import_reports_bad_rows_by_line_and_export_round_trips(project, tmp_path):  # type: ignore[no-untyped-def]
    csv_file = tmp_path / "people.csv"
    csv_file.write_text(
        "email,name,cadence,categories\n"
        "ok@example.com,Ok One,weekly,Labor;Politics\n"
        "bad-address,X,daily,\n"
        "two@example.com,,hourly,\n"
        "three@example.com,Três,,\n"
        "OK@example.com,dup,,\n", encoding="utf-8")
    r = project.run("subscribers", "import", str(csv_file), "--allow-new-category")
    assert r.returncode == 1
    errors = r.stderr.strip().splitlines()
    assert [e.split(": ", 1)[0] for e in errors] == [f"{csv_file}:3", f"{csv_file}:4", f"{csv_file}:6"]
    assert "unknown cadence 'hourly'" in errors[1] and "twice" in errors[2]
    assert "2 imported" in r.stdout
    exported = project.run("subscribers", "export", check=True).stdout
    assert exported.splitlines() == [
        "email,name,cadence,categories,status",
        "ok@example.com,Ok One,weekly,Labor;Politics,active",
        "three@example.com,Três,daily,,active",
    ]
    (tmp_path / "back.csv").write_text(exported, encoding="utf-8")
    again = project.run("subscribers", "import", str(tmp_path / "back.csv"))
    assert again.returncode == 0 and "2 already known" in again.stdout


def test_send_digests_to_outbox_and_preview(project, tmp_path):  # type: ignore[no-untyped-def]
    project.run("ingest", check=True)
    project.run("subscribers", "add", "ana@example.com", "--name", "Ana", check=True)
    # subscribed after the articles were taken in: nothing new for her yet
    r = project.run("send-digests", env=ENV, check=True)
    assert r.stdout.strip() == "digests: 0 sent, 1 skipped, 0 retried, 0 failed"
    out = tmp_path / "preview"
    p = project.run("digest", "preview", "--subscriber", "ana@example.com", "--out", str(out),
                    env=ENV, check=True)
    assert "nothing new" in p.stderr
    assert {f.name for f in out.iterdir()} == {"digest.html", "digest.txt", "digest.eml"}
    msg = message_from_bytes((out / "digest.eml").read_bytes(), policy=policy.default)
    assert msg["To"] == "Ana <ana@example.com>"
    assert "Hi Ana," in (out / "digest.txt").read_text()
    assert not project.outbox.exists() or not any(project.outbox.iterdir())
    nosecret = project.run("send-digests")
    assert nosecret.returncode == 2 and "PUBLISHER_SECRET_KEY" in nosecret.stderr
    dry = project.run("send-digests", "--dry-run", env=ENV, check=True)
    assert dry.stdout.startswith("digests (dry run): 0 would be sent")


@pytest.mark.parametrize("command", [
    ["subscribers"], ["subscribers", "add"], ["subscribers", "remove"], ["subscribers", "list"],
    ["subscribers", "import"], ["subscribers", "export"], ["send-digests"], ["digest"],
    ["digest", "preview"],
])
def test_every_command_has_help(command):  # type: ignore[no-untyped-def]
    from click.testing import CliRunner

    from publisher.cli import cli

    r = CliRunner().invoke(cli, [*command, "--help"])
    assert r.exit_code == 0 and "Usage:" in r.output
    body = r.output.split("\n\n", 2)[1].strip()
    assert len(body) > 20


def test_iterating_subscribers_skips_the_given_ids_across_batches(tmp_path, backend) -> None:  # type: ignore[no-untyped-def]
    from datetime import timedelta

    from test_digest_support import T0, add_subscriber, make_settings, open_engine

    from publisher.store import subscribers as subscriber_store

    engine = open_engine(make_settings(tmp_path, mail={"sender": "outbox"}))
    ids = [add_subscriber(engine, f"r{n}@example.org", now=T0 + timedelta(minutes=n)).id
           for n in range(10)]
    add_subscriber(engine, "weekly@example.org", cadence="weekly")
    add_subscriber(engine, "gone@example.org", status="unsubscribed")
    skip = {ids[0], ids[3], ids[4], ids[5], ids[9]}  # a whole batch (3, 4, 5) among them
    with engine.begin() as conn:
        got = [s.id for s in subscriber_store.iter_subscribers(
            conn, status="active", cadence="daily", batch=3, skip=skip)]
        everyone = [s.email for s in subscriber_store.iter_subscribers(conn, batch=3, skip=())]
    assert got == [i for i in ids if i not in skip]
    assert len(everyone) == 12
    engine.dispose()
