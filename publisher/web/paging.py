"""Page numbers of the archive listings: `?page=N` parsing and the numbered pager."""

from __future__ import annotations

from dataclasses import dataclass

from flask import abort, request

MAX_PAGE = 10_000


def page_number() -> int:
    """The request's `?page=` (1 when absent); 404 for anything but 1..MAX_PAGE."""
    raw = request.args.get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_PAGE:
        abort(404)
    return int(raw)


def page_count(total: int, size: int) -> int:
    """How many pages `total` items fill (at least one: an empty listing is one empty page)."""
    return max(1, -(-total // size))


@dataclass(frozen=True)
class Pager:
    """The pager under a listing: where we are, and which numbers to show (None: a gap)."""

    number: int
    pages: int
    slots: tuple[int | None, ...]

    @property
    def has_prev(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


def pager(number: int, pages: int, around: int = 2) -> Pager:
    """First, last and `around` pages either side of the current one; gaps of one page are
    filled in rather than shown as a gap (`1 2 3`, never `1 … 3`)."""
    shown = {1, pages, *range(number - around, number + around + 1)}
    numbers = sorted(n for n in shown if 1 <= n <= pages)
    slots: list[int | None] = []
    for n in numbers:
        if slots and n - slots[-1] == 2:  # type: ignore[operator]
            slots.append(n - 1)
        elif slots and n - slots[-1] > 2:  # type: ignore[operator]
            slots.append(None)
        slots.append(n)
    return Pager(number, pages, tuple(slots))
