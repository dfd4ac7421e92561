"""WebSub publishing: tell each hub which feeds changed, so subscribers hear of a new article at
once instead of at their next poll.

The ping is the de facto publish request every hub takes (PubSubHubbub 0.4 and the hubs that
implement it): a form POST of `hub.mode=publish` and one `hub.url` per changed feed, repeated
(up to `BATCH` urls a request). Each hub is tried in its own thread, every request with a
timeout and a few retries, and the caller waits for no hub longer than the bound those give:
a hub that is down or stalls costs a few seconds and a log line, never the build.
"""

from __future__ import annotations

import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass

BATCH = 100  # hub.url values per request
ATTEMPTS = 3  # tries per request (connection errors, timeouts, 5xx, 429)
RETRY_DELAYS = (0.5, 1.5)  # seconds before the 2nd and 3rd try
USER_AGENT = "publisher (WebSub publisher)"


@dataclass(frozen=True)
class PingResult:
    hub: str
    urls: int  # feed urls announced
    ok: bool
    attempts: int  # requests made, retries included
    detail: str  # "HTTP 204", or what went wrong

    def line(self) -> str:
        """The one log line for this hub."""
        if self.ok:
            return (f"websub: {self.hub} told of {self.urls} changed feed"
                    f"{'' if self.urls == 1 else 's'} ({self.detail})")
        return (f"websub: {self.hub} not reached after {self.attempts} "
                f"attempt{'' if self.attempts == 1 else 's'}: {self.detail}; its subscribers "
                "will see the changes when they next poll")


def ping_hubs(hubs: Sequence[str], urls: Sequence[str], *, timeout: float) -> list[PingResult]:
    """Announce `urls` to every hub, all hubs at once; one result per hub, in `hubs` order.

    Waits at most about ATTEMPTS * (timeout + max(RETRY_DELAYS)) seconds per batch whatever the
    hubs do: a thread still stuck after that is left behind (a daemon thread, it cannot keep
    the process alive) and its hub is reported as not answering.
    """
    if not hubs or not urls:
        return []
    batches = [list(urls[k:k + BATCH]) for k in range(0, len(urls), BATCH)]
    results: dict[int, PingResult] = {}
    threads = []
    for n, hub in enumerate(hubs):
        thread = threading.Thread(target=_ping_one, args=(hub, batches, timeout, results, n),
                                  name=f"websub-{n}", daemon=True)
        thread.start()
        threads.append(thread)
    bound = len(batches) * ATTEMPTS * (timeout + max(RETRY_DELAYS)) + 1.0
    deadline = time.monotonic() + bound
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    return [results.get(n) or PingResult(hub, len(urls), False, ATTEMPTS,
                                         f"no answer within {bound:.0f} s")
            for n, hub in enumerate(hubs)]


def _ping_one(hub: str, batches: list[list[str]], timeout: float,
              results: dict[int, PingResult], n: int) -> None:
    attempts, detail = 0, ""
    for batch in batches:
        ok, tries, detail = _post(hub, batch, timeout)
        attempts += tries
        if not ok:
            results[n] = PingResult(hub, sum(map(len, batches)), False, attempts, detail)
            return
    results[n] = PingResult(hub, sum(map(len, batches)), True, attempts, detail)


def _post(hub: str, urls: list[str], timeout: float) -> tuple[bool, int, str]:
    """(accepted, requests made, last status or error) for one publish request, retried."""
    body = urllib.parse.urlencode([("hub.mode", "publish")] + [("hub.url", u) for u in urls])
    detail = ""
    for attempt in range(1, ATTEMPTS + 1):
        request = urllib.request.Request(
            hub, data=body.encode("ascii"), method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "User-Agent": USER_AGENT})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return True, attempt, f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            detail = f"HTTP {exc.code}"
            if exc.code < 500 and exc.code != 429:
                return False, attempt, detail  # the hub refused: trying again will not help
        except (OSError, ValueError) as exc:  # refused, reset, DNS, timeout, bad url
            reason = getattr(exc, "reason", exc)
            detail = f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__
        if attempt < ATTEMPTS:
            time.sleep(RETRY_DELAYS[min(attempt - 1, len(RETRY_DELAYS) - 1)])
    return False, ATTEMPTS, detail
