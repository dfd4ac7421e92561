"""What an operator sees: ordinary mistakes end in one line on stderr and a documented exit code.

Every case runs the real CLI as a subprocess and asserts the exact line and exit code.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
from pathlib import Path

import pytest

from conftest import PUBLISHER, Project

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
