"""One HTTP client for every tracker: timeouts, retries with backoff that honour `Retry-After` on 429 and
503, a request-rate limit (Bitrix24: about 2 requests a second per portal), and errors that name the
client and the ticket but never the token (nor a webhook URL, which holds one)."""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx

from bxops.errors import BxopsError

RETRY_STATUSES = (429, 502, 503, 504)


class TrackerError(BxopsError):
    """A tracker refused or failed a request; the message names the client, tracker and ticket."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class NotFound(TrackerError):
    """The ticket or the worklog does not exist (or the token may not see it)."""


@dataclass
class RateLimit:
    """At most `per_second` requests a second, spaced evenly (a leaky bucket drained at that rate)."""

    per_second: float
    _next: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, sleep: Callable[[float], None] = time.sleep) -> None:
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + 1.0 / self.per_second
        if start > now:
            sleep(start - now)


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    current = datetime.now(UTC).timestamp() if now is None else now
    return max(0.0, when.timestamp() - current)


@dataclass
class Stats:
    requests: int = 0
    retries: int = 0
    waited_seconds: float = 0.0


class TrackerHttp:
    """`request()` with the policies above; `what` names the client and tracker in every error."""

    def __init__(
        self,
        base_url: str,
        what: str,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        timeout: float = 20.0,
        attempts: int = 5,
        backoff: float = 0.5,
        max_wait: float = 60.0,
        rate: RateLimit | None = None,
        secrets: tuple[str, ...] = (),
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.what = what
        self.attempts = attempts
        self.backoff = backoff
        self.max_wait = max_wait
        self.rate = rate
        self.secrets = tuple(secret for secret in secrets if secret)
        self.sleep = sleep
        self.stats = Stats()
        self.client = httpx.Client(
            base_url=base_url,
            headers={"Accept": "application/json", **(headers or {})},
            auth=auth,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            follow_redirects=False,
        )

    def close(self) -> None:
        self.client.close()

    def _clean(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def request(
        self,
        method: str,
        path: str,
        ticket: str | None = None,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        describe: Callable[[httpx.Response], str] | None = None,
    ) -> httpx.Response:
        """Send; retry 429/502/503/504 and connection errors with backoff (Retry-After wins); raise
        TrackerError (NotFound on 404) for any other non-2xx answer."""
        where = f"{self.what}" + (f" ticket {ticket}" if ticket else "")
        last: str = ""
        for attempt in range(1, self.attempts + 1):
            if self.rate is not None:
                self.rate.wait(self.sleep)
            self.stats.requests += 1
            try:
                response = self.client.request(method, path, json=json, params=params)
            except httpx.TimeoutException:
                last = "timed out"
                response = None
            except httpx.TransportError as error:
                last = self._clean(f"cannot connect: {type(error).__name__}")
                response = None
            if response is not None and response.status_code not in RETRY_STATUSES:
                if response.is_success:
                    return response
                detail = self._clean(describe(response) if describe else response.text[:200])
                status = response.status_code
                message = f"{where}: {_reason(status)} (HTTP {status})" + (f": {detail}" if detail else "")
                if status == 404:
                    raise NotFound(message, status)
                raise TrackerError(message, status)
            if attempt == self.attempts:
                break
            wait = self.backoff * 2 ** (attempt - 1)
            if response is not None:
                last = f"HTTP {response.status_code}"
                advised = retry_after(response.headers.get("Retry-After"))
                if advised is not None:
                    wait = advised
            wait = min(wait, self.max_wait)
            self.stats.retries += 1
            self.stats.waited_seconds += wait
            self.sleep(wait)
        raise TrackerError(f"{where}: gave up after {self.attempts} attempts ({last})")


def _reason(status: int) -> str:
    return {
        400: "request refused",
        401: "wrong or expired token",
        403: "no permission",
        404: "not found",
        409: "conflict",
    }.get(status, "tracker error")
