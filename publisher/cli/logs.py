"""Log line formats: plain text for people, or one JSON object per line for log collectors."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

import click

TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
LOG_FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    """`{"time": ISO 8601 UTC, "level", "logger", "message"[, "exception"]}`, one per line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def formatter(kind: str, text_format: str = TEXT_FORMAT) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else logging.Formatter(text_format)


log_format_option = click.option(
    "--log-format", type=click.Choice(LOG_FORMATS), default="text", show_default=True,
    help="Log lines as text, or one JSON object per line (time, level, logger, message).")
