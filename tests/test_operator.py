"""What an operator sees: ordinary mistakes end in one line on stderr and a documented exit code.

Every case runs the real CLI as a subprocess and asserts the exact line and exit code.
"""

from __future__ import annotations

from pathlib import Path

from conftest import Project


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
