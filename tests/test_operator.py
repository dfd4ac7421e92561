"""What an operator sees: ordinary mistakes end in one line on stderr and a documented exit code.

Every case runs the real CLI as a subprocess and asserts the exact line and exit code.
"""

from __future__ import annotations

import hashlib
import json
import os
import pty
import re
import signal
import socket
import subprocess
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from conftest import PUBLISHER, Project, free_port

SECRET = "operator-test-secret-0123456789"


def test_every_config_problem_is_one_line_naming_file_and_key(project: Project) -> None:
    project.write_config('language = "english please"\n'
                         '[mail]\nfrom_address = "not an email"\nrate_limit = -1\n'
                         'smtp_password = "hunter2"\n'
                         '[schedule]\ndaily_at = "25:99"\n')
    result = project.run("build-feeds")
    c = project.config
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: {c}: site.language must be a BCP 47 language tag like 'en' or 'pt-BR', "
        "not 'english please'",
        f"error: {c}: mail.from_address is not an email address: 'not an email' "
        "(An email address must have an @-sign.)",
        f"error: {c}: mail.rate_limit must be at least 0, not -1.0",
        f"error: {c}: mail.smtp_password is a secret and is never read from the file: "
        "remove it and set PUBLISHER_SMTP_PASSWORD in the environment",
        f"error: {c}: schedule.daily_at must be a 24-hour time like '07:00', not '25:99'",
    ]
    assert not project.feeds.exists() and not project.database.parent.exists()


def test_config_naming_a_folder(project: Project, tmp_path: Path) -> None:
    folder = tmp_path / "conf.d"
    folder.mkdir()
    result = project.run("build-feeds", env={"PUBLISHER_CONFIG": str(folder)})
    assert (result.returncode, result.stderr) == (
        2, f"error: {folder}: is a folder, not a config file "
           f"(give the file, e.g. --config {folder / 'config.toml'})\n")


# --- the environment: folders, disks, sockets -------------------------------------------------

@pytest.fixture
def mount_tmpfs():  # type: ignore[no-untyped-def]
    """mount_tmpfs(path, size="40k", read_only=False): a real small tmpfs, unmounted after."""
    mounted: list[Path] = []

    def mount(path: Path, size: str = "40k", read_only: bool = False) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        options = f"size={size}" + (",ro" if read_only else "")
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()}): needs root")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_database_folder_under_a_file(project: Project) -> None:
    (project.root / "afile").write_text("not a folder")
    project.write_config('[paths]\ndatabase = "afile/state/publisher.db"\n')
    result = project.run("build-feeds")
    assert (result.returncode, result.stderr.splitlines()) == (2, [
        f"error: {project.config}: paths.database cannot be created: {project.root / 'afile'} is a "
        "file, not a folder (point paths.database to a folder that exists or can be created)"])
    assert not project.feeds.exists()


def test_feeds_folder_on_a_read_only_disk(project: Project, mount_tmpfs) -> None:  # type: ignore[no-untyped-def]
    disk = mount_tmpfs(project.root / "ro", read_only=True)
    project.write_config('[paths]\nfeeds = "ro/site/feeds"\n')
    result = project.run("build-feeds")
    assert (result.returncode, result.stderr.splitlines()) == (2, [
        f"error: {project.config}: paths.feeds cannot be created: {disk} is not writable "
        "(point paths.feeds to a folder that exists or can be created)"])
    assert not project.database.parent.exists()


def test_feeds_folder_that_mkdir_refuses(project: Project) -> None:
    # /proc accepts no new folders, even from root, though access() calls it writable
    project.write_config('[paths]\nfeeds = "/proc/publisher-test/feeds"\n')
    result = project.run("build-feeds")
    assert (result.returncode, result.stderr.splitlines()) == (2, [
        "error: paths.feeds: cannot create the folder /proc/publisher-test/feeds: No such file or "
        "directory (create it, or point paths.feeds to a folder that can be)"])


def test_full_disk_under_feeds(project: Project, mount_tmpfs) -> None:  # type: ignore[no-untyped-def]
    feeds = mount_tmpfs(project.feeds, size="40k")
    result = project.run("build-feeds")
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"error: {feeds}/")
    assert line.endswith(": cannot write: the disk is full "
                         "(free some space there; the previous file is unchanged)")
    assert not [p for p in feeds.rglob("*") if p.name.endswith(".tmp")]  # nothing half-written
    listed = project.run("articles", "list", check=True)
    assert len(listed.stdout.splitlines()) == 2  # every article was stored all the same


def test_outbox_that_cannot_be_created_stops_at_once(project: Project) -> None:
    project.write_config('[paths]\noutbox = "/proc/publisher-test/outbox"\n'
                         '[digest]\nbackfill = 5\n')
    env = {"PUBLISHER_SECRET_KEY": SECRET}
    for name in ("ana", "ben", "cy"):
        project.run("subscribers", "add", f"{name}@example.org", "--cadence", "immediate",
                    check=True, env=env)
    project.run("ingest", check=True)
    result = project.run("send-digests", env=env)
    assert (result.returncode, result.stderr.splitlines()) == (2, [
        "error: paths.outbox: cannot create the folder /proc/publisher-test/outbox: No such file "
        "or directory (create it, or point paths.outbox to a folder that can be)"])
    status = json.loads(project.run("status", "--json", check=True, env=env).stdout)
    assert status["deliveries"]["queued"] == 3 and status["deliveries"]["failed"] == 0


def test_outbox_under_a_file_is_refused_at_start(project: Project) -> None:
    (project.root / "afile").write_text("")
    project.write_config('[paths]\noutbox = "afile/outbox"\n')
    result = project.run("status")
    assert (result.returncode, result.stderr.splitlines()) == (2, [
        f"error: {project.config}: paths.outbox cannot be created: {project.root / 'afile'} is a "
        "file, not a folder (point paths.outbox to a folder that exists or can be created)"])


def test_serve_on_a_port_in_use(project: Project) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = project.run("serve", "--port", str(port))
    assert (result.returncode, result.stderr.splitlines()) == (2, [
        f"error: 127.0.0.1:{port}: the port is already in use by another program "
        "(stop it, or choose another port with --port or web.port)"])


def test_serve_on_an_address_the_machine_lacks(project: Project) -> None:
    result = project.run("serve", "--host", "192.0.2.1", "--port", "0")  # TEST-NET-1
    assert (result.returncode, result.stderr.splitlines()) == (2, [
        "error: 192.0.2.1: this machine has no such address (give one of its addresses with "
        "--host or web.host: 127.0.0.1, or 0.0.0.0 for all)"])


def test_no_config_and_no_seeds_creates_nothing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PUBLISHER_CONFIG"}
    for command in (["build-feeds"], ["ingest"], ["tick"], ["status"]):
        result = subprocess.run([*PUBLISHER, *command], cwd=tmp_path, env=env,
                                capture_output=True, text=True, timeout=60)
        assert (result.returncode, result.stderr.splitlines()) == (2, [
            f"error: no config.toml and no seeds/ folder in {tmp_path}: nothing to publish here, "
            "nothing was created (run this in the project folder, or give --config FILE or "
            "PUBLISHER_CONFIG)"]), command
    assert list(tmp_path.iterdir()) == []


# --- stages of a pass fail alone ---------------------------------------------------------------

def _last_pass(project: Project) -> dict:  # type: ignore[type-arg]
    status = project.run("status", "--json", check=True, env={"PUBLISHER_SECRET_KEY": SECRET})
    return json.loads(status.stdout)["last_scan"]  # type: ignore[no-any-return]


def _subscribe(project: Project, *names: str) -> None:
    for name in names:
        project.run("subscribers", "add", f"{name}@example.org", "--cadence", "immediate",
                    check=True, env={"PUBLISHER_SECRET_KEY": SECRET})


def test_tick_sends_digests_when_the_feeds_disk_is_full(project: Project, mount_tmpfs) -> None:  # type: ignore[no-untyped-def]
    project.write_config("[schedule]\nsettle_seconds = 0\n")
    _subscribe(project, "ana", "ben")
    feeds = mount_tmpfs(project.feeds, size="40k")
    result = project.run("tick", env={"PUBLISHER_SECRET_KEY": SECRET})
    assert result.returncode == 1, result.stderr
    errors = [line.split(" ", 2)[2] for line in result.stderr.splitlines() if " ERROR " in line]
    assert len(errors) == 1 and errors[0].startswith(f"ERROR   publisher.reconcile: feeds: {feeds}/")
    assert errors[0].endswith(": cannot write: the disk is full "
                              "(free some space there; the previous file is unchanged)")
    assert len(list(project.outbox.glob("*.eml"))) == 2  # the digests went out all the same
    last = _last_pass(project)
    assert (last["outcome"], last["stages"]) == ("error", {"feeds": "failed", "digests": "ok"})


def test_tick_writes_feeds_when_the_digests_fail(project: Project) -> None:
    project.write_config('[schedule]\nsettle_seconds = 0\n'
                         '[paths]\noutbox = "/proc/publisher-test/outbox"\n')
    _subscribe(project, "ana")
    result = project.run("tick", env={"PUBLISHER_SECRET_KEY": SECRET})
    assert result.returncode == 1, result.stderr
    errors = [line.split(" ", 2)[2] for line in result.stderr.splitlines() if " ERROR " in line]
    assert errors == [
        "ERROR   publisher.reconcile: digests immediate: 0 sent, 0 failed, interrupted; "
        "paths.outbox: cannot create the folder /proc/publisher-test/outbox: No such file or "
        "directory (create it, or point paths.outbox to a folder that can be)"]
    assert (project.feeds / "atom.xml").is_file() and (project.feeds / "rss.xml").is_file()
    last = _last_pass(project)
    assert (last["outcome"], last["stages"]) == ("error", {"feeds": "ok", "digests": "failed"})


# --- `run` refuses to start without what it needs; warns about the public url ----------------

def test_run_refuses_to_start_without_the_secret_key(project: Project) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PUBLISHER_SECRET_KEY"}
    env["PUBLISHER_CONFIG"] = str(project.config)
    result = subprocess.run([*PUBLISHER, "run"], cwd=project.root, env=env, capture_output=True,
                            text=True, timeout=60)
    assert (result.returncode, result.stderr.splitlines()) == (2, [
        "error: PUBLISHER_SECRET_KEY is not set (or shorter than 16 characters) (export "
        "PUBLISHER_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_hex(32))'))"])
    assert not project.database.exists()


def test_run_refuses_to_start_with_a_read_only_feeds_folder(project: Project, mount_tmpfs) -> None:  # type: ignore[no-untyped-def]
    feeds = mount_tmpfs(project.feeds, read_only=True)
    result = project.run("run", env={"PUBLISHER_SECRET_KEY": SECRET})
    assert (result.returncode, result.stderr.splitlines()) == (2, [
        f"error: paths.feeds: cannot write in the folder {feeds}: Read-only file system "
        "(make it writable, or point paths.feeds elsewhere)"])


def test_run_refuses_to_start_when_the_database_cannot_be_opened(project: Project) -> None:
    project.database.mkdir(parents=True)  # a folder where the database file should be
    result = project.run("run", env={"PUBLISHER_SECRET_KEY": SECRET})
    assert (result.returncode, result.stderr.splitlines()) == (2, [
        f"error: {project.database}: cannot open the state database: unable to open database "
        "file"])


def test_run_warns_once_about_the_public_url(project: Project) -> None:
    project.write_config('[mail]\nsender = "smtp"\n[web]\npublic_url = "http://127.0.0.1:8090"\n'
                         "[schedule]\nscan_interval = 0.3\n")
    env = {**os.environ, "PUBLISHER_CONFIG": str(project.config), "PUBLISHER_SECRET_KEY": SECRET}
    log = project.root / "run.log"
    with log.open("w") as out:
        proc = subprocess.Popen([*PUBLISHER, "run"], cwd=project.root, env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    try:
        _wait_for(lambda: log.read_text().count("scan: ") >= 1 and "next runs" in log.read_text())
        time.sleep(1.0)  # a few more passes: the warnings must not come back
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    warnings = [line.split(" ", 2)[2] for line in log.read_text().splitlines() if " WARNING " in line]
    assert warnings == [
        "WARNING publisher.run: web.public_url http://127.0.0.1:8090 does not match where the web "
        "server listens, http://127.0.0.1:8080: links in pages and mails lead elsewhere (correct "
        "it, or remove it to follow --host/--port)",
        "WARNING publisher.run: web.public_url http://127.0.0.1:8090 is not https: with "
        "mail.sender = 'smtp', Gmail and Yahoo ignore the one-click unsubscribe of these mails "
        "(set an https web.public_url)"]
    assert proc.returncode == 0


def _serve_banner(project: Project, *args: str) -> list[str]:
    """The lines `serve` prints before it serves, then stop it."""
    env = {**os.environ, "PUBLISHER_CONFIG": str(project.config), "PUBLISHER_SECRET_KEY": SECRET}
    proc = subprocess.Popen([*PUBLISHER, "serve", *args], cwd=project.root, env=env,
                            stderr=subprocess.PIPE, text=True)
    lines = []
    try:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.append(line.rstrip("\n"))
            if line.startswith("serving "):
                break
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
    return lines


def test_serve_port_is_the_public_url_unless_one_is_set(project: Project) -> None:
    port = free_port()
    banner = _serve_banner(project, "--port", str(port))
    assert banner == [f"serving Left Voice on http://127.0.0.1:{port} (public url "
                      f"http://127.0.0.1:{port}); feeds from {project.feeds}"]
    project.write_config('[web]\npublic_url = "http://127.0.0.1:8080"\n')
    banner = _serve_banner(project, "--port", str(port))
    assert banner == [
        "warning: web.public_url http://127.0.0.1:8080 does not match where the web server "
        f"listens, http://127.0.0.1:{port}: links in pages and mails lead elsewhere (correct it, "
        "or remove it to follow --host/--port)",
        f"serving Left Voice on http://127.0.0.1:{port} (public url http://127.0.0.1:8080); "
        f"feeds from {project.feeds}"]


def _wait_for(check, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.1)


# --- progress, --json, a time budget for SMTP runs --------------------------------------------

def _subscriber_csv(project: Project, count: int) -> Path:
    path = project.root / "subscribers.csv"
    rows = [f"reader{n}@example.org,Reader {n},immediate,,active" for n in range(count)]
    path.write_text("email,name,cadence,categories,status\n" + "\n".join(rows) + "\n")
    return path


_PROGRESS = re.compile(r"^(send-digests|subscribers import): (\d+)/(\d+) \((\d+)%\)(, \d+/s)?$")


def _progress_lines(stderr: str) -> list[tuple[str, int, int]]:
    found = []
    for line in stderr.splitlines():
        m = _PROGRESS.match(line)
        if m:
            found.append((m.group(1), int(m.group(2)), int(m.group(3))))
    return found


def test_progress_lines_and_json_summaries_without_a_terminal(project: Project) -> None:
    project.write_config("[digest]\nbackfill = 5\n")
    env = {"PUBLISHER_SECRET_KEY": SECRET}
    project.run("ingest", check=True)
    imported = project.run("subscribers", "import", str(_subscriber_csv(project, 60)), "--json",
                           env=env)
    assert imported.returncode == 0, imported.stderr
    assert _progress_lines(imported.stderr) == [
        ("subscribers import", n, 60) for n in range(6, 61, 6)]
    assert json.loads(imported.stdout) == {
        "file": str(project.root / "subscribers.csv"), "format": "publisher", "imported": 60,
        "added": {"active": 60}, "known": 0, "suppressed": 0, "problems": []}
    sent = project.run("send-digests", "--json", env=env)
    assert sent.returncode == 0, sent.stderr
    assert _progress_lines(sent.stderr) == [("send-digests", n, 60) for n in range(6, 61, 6)]
    summary = json.loads(sent.stdout)
    assert {k: summary[k] for k in ("sent", "failed", "retried", "planned", "errors", "fatal")} == {
        "sent": 60, "failed": 0, "retried": 0, "planned": 60, "errors": [], "fatal": None}
    assert len(list(project.outbox.glob("*.eml"))) == 60


def _run_on_a_terminal(project: Project, *args: str) -> tuple[int, str, str]:
    """Run the CLI with stderr on a pseudo-terminal: (exit code, stdout, what the terminal got)."""
    master, slave = pty.openpty()
    env = {**os.environ, "PUBLISHER_CONFIG": str(project.config), "PUBLISHER_SECRET_KEY": SECRET}
    proc = subprocess.Popen([*PUBLISHER, *args], cwd=project.root, env=env, stdout=subprocess.PIPE,
                            stderr=slave, text=True)
    os.close(slave)
    screen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the other end closed
            break
        if not chunk:
            break
        screen += chunk
    out, _ = proc.communicate(timeout=120)
    os.close(master)
    return proc.returncode, out, screen.decode("utf-8", "replace")


def test_progress_bars_on_a_terminal(project: Project) -> None:
    project.write_config("[digest]\nbackfill = 5\n")
    project.run("ingest", check=True)
    code, out, screen = _run_on_a_terminal(project, "subscribers", "import",
                                           str(_subscriber_csv(project, 60)))
    assert code == 0 and "60 imported" in out
    assert "Importing" in screen and "60/60" in screen and "100%" in screen
    assert _progress_lines(screen.replace("\r", "\n")) == []  # a bar, not log lines
    code, out, screen = _run_on_a_terminal(project, "send-digests")
    assert (code, out) == (0, "digests: 60 sent, 0 skipped, 0 retried, 0 failed\n")
    assert "Sending digests" in screen and "60/60" in screen and "100%" in screen


def test_a_silent_smtp_server_ends_the_run_within_mail_run_timeout(
        project: Project, silent_smtp_server: tuple[str, int]) -> None:  # accepts, never answers
    # Without the budget these settings keep trying for 5 x 1 s + 4 x 5 s = 25 s.
    port = silent_smtp_server[1]
    project.write_config(f'[mail]\nsender = "smtp"\nsmtp_port = {port}\nsmtp_timeout = 1\n'
                         "retry_delays = [5]\nrun_timeout = 2\n[digest]\nbackfill = 5\n")
    env = {"PUBLISHER_SECRET_KEY": SECRET}
    project.run("ingest", check=True)
    project.run("subscribers", "import", str(_subscriber_csv(project, 3)), check=True, env=env)
    started = time.monotonic()
    result = project.run("send-digests", env=env)
    took = time.monotonic() - started
    assert (result.returncode, result.stderr.splitlines()) == (1, [
        "error: sending stopped: mail.run_timeout (2 s) is spent; the undelivered digests stay "
        "queued for the next run"])
    assert took < 15, took  # the budget, one SMTP timeout, and the start-up of the command
    status = json.loads(project.run("status", "--json", check=True, env=env).stdout)
    assert status["deliveries"]["sent"] == 0 and status["deliveries"]["failed"] == 0
    assert status["deliveries"]["queued"] == 3


def test_log_lines_as_json(project: Project) -> None:
    project.write_config("[schedule]\nsettle_seconds = 0\n")
    result = project.run("tick", "--log-format", "json", env={"PUBLISHER_SECRET_KEY": SECRET})
    assert result.returncode == 0, result.stderr
    entries = [json.loads(line) for line in result.stderr.splitlines()]
    assert entries and all(set(e) == {"time", "level", "logger", "message"} for e in entries)
    assert datetime.fromisoformat(entries[0]["time"]).utcoffset() == timedelta(0)
    done = [e for e in entries if e["logger"] == "publisher.tick"]
    assert len(done) == 1 and done[0]["level"] == "INFO"
    assert done[0]["message"].startswith("done: scan: 2 seeds: 2 new")


def test_build_feeds_json_summary(project: Project) -> None:
    project.write_config("[schedule]\nsettle_seconds = 0\n")
    (project.seeds / "empty.txt").write_text("")
    result = project.run("build-feeds", "--json")
    assert result.returncode == 1  # one seed failed, the others are published
    assert result.stderr.splitlines() == [f"error: {project.seeds / 'empty.txt'}: empty file"]
    summary = json.loads(result.stdout)
    assert summary["articles"] == {
        "new": 2, "updated": 0, "unchanged": 0, "removed": 0, "skipped": [],
        "failed": [{"file": str(project.seeds / "empty.txt"), "reason": "empty file"}],
        "refused_removals": 0}
    written = summary["feeds"]["written"]
    assert "atom.xml" in written and "index.opml" in written
    assert (summary["feeds"]["unchanged"], summary["feeds"]["removed"]) == (0, [])
    assert summary["feeds"]["folder"] == str(project.feeds) and summary["websub"] == []
    again = json.loads(project.run("build-feeds", "--json").stdout)
    assert (again["articles"]["new"], again["feeds"]["written"]) == (0, [])


def test_an_over_long_category_name_neither_breaks_the_feeds_nor_the_digests(
        project: Project) -> None:
    project.write_config("[schedule]\nsettle_seconds = 0\n")
    category = "Labor " + "x" * 150  # a name within bounds, its slug too long for one
    (project.seeds / "long.md").write_text(
        f'+++\ntitle = "Long"\ndate = 2026-11-20\nauthors = ["A Writer"]\n'
        f'category = "{category}"\n+++\n\nThe picket held all day.\n', encoding="utf-8")
    (project.seeds / "longer.md").write_text(  # a name past NAME_MAX: that seed fails alone
        f'+++\ntitle = "Longer"\ndate = 2026-11-20\nauthors = ["A Writer"]\n'
        f'category = "{"y" * 305}"\n+++\n\nThe picket held all night.\n', encoding="utf-8")
    _subscribe(project, "ana")
    result = project.run("tick", env={"PUBLISHER_SECRET_KEY": SECRET})
    assert result.returncode == 1, result.stderr  # one seed failed; every other one is published
    assert (f"{project.seeds / 'longer.md'}: the category name is 305 characters long "
            f"(at most 200): {'y' * 40}…") in result.stderr
    slug = "labor-" + "x" * 65 + "-" + hashlib.sha256(("labor-" + "x" * 150).encode()).hexdigest()[:8]
    assert len(slug) == 80
    folder = project.feeds / "categories" / slug  # cut to 80 characters, ending in a hash
    assert (folder / "atom.xml").is_file()
    assert not any(len(p.name) > 80 for p in (project.feeds / "categories").iterdir())
    assert len(list(project.outbox.glob("*.eml"))) == 1
    assert _last_pass(project)["stages"] == {"feeds": "ok", "digests": "ok"}
