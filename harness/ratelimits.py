"""Pure reading of providers' rate-limit headers: what budget does the server say this key has?

OpenAI and OpenAI-compatible servers (Together, vLLM behind a gateway) send `x-ratelimit-limit-requests`,
`x-ratelimit-limit-tokens`, `x-ratelimit-remaining-*` and `x-ratelimit-reset-*` (a Go duration such as
"6m0s"). Anthropic sends `anthropic-ratelimit-requests-*` and `anthropic-ratelimit-tokens-*` (the
most restrictive token limit in effect) with an RFC 3339 reset time. Gemini sends none. The limits are
per model (OpenAI) or per model class (Anthropic) and per minute for the dimensions the harness paces.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass

_GO_DURATION = re.compile(
    r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?$")


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """The budget a response's headers state; None where a header is absent or unreadable."""

    requests_per_minute: float | None = None
    tokens_per_minute: float | None = None
    requests_remaining: float | None = None
    tokens_remaining: float | None = None
    requests_reset_s: float | None = None
    """Seconds until the request budget is full again."""
    tokens_reset_s: float | None = None

    @property
    def states_a_limit(self) -> bool:
        return self.requests_per_minute is not None or self.tokens_per_minute is not None


def parse_duration(text: str) -> float | None:
    """Seconds in a Go-style duration ("1s", "6m0s", "12ms", "2m59.56s"); None if it is not one."""
    match = _GO_DURATION.match(text.strip())
    if not match or not any(match.groups()):
        return None
    h, m, s, ms = (float(g) if g else 0.0 for g in match.groups())
    return h * 3600 + m * 60 + s + ms / 1000


def server_limits(headers: Mapping[str, str], now: dt.datetime | None = None) -> ServerLimits:
    """Read either vendor's rate-limit headers (names in any case)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if any(k.startswith("anthropic-ratelimit-") for k in lowered):
        moment = now or dt.datetime.now(dt.UTC)
        return ServerLimits(
            requests_per_minute=_number(lowered.get("anthropic-ratelimit-requests-limit")),
            tokens_per_minute=_number(lowered.get("anthropic-ratelimit-tokens-limit")),
            requests_remaining=_number(lowered.get("anthropic-ratelimit-requests-remaining")),
            tokens_remaining=_number(lowered.get("anthropic-ratelimit-tokens-remaining")),
            requests_reset_s=_until(lowered.get("anthropic-ratelimit-requests-reset"), moment),
            tokens_reset_s=_until(lowered.get("anthropic-ratelimit-tokens-reset"), moment),
        )
    return ServerLimits(
        requests_per_minute=_number(lowered.get("x-ratelimit-limit-requests")),
        tokens_per_minute=_number(lowered.get("x-ratelimit-limit-tokens")),
        requests_remaining=_number(lowered.get("x-ratelimit-remaining-requests")),
        tokens_remaining=_number(lowered.get("x-ratelimit-remaining-tokens")),
        requests_reset_s=_duration(lowered.get("x-ratelimit-reset-requests")),
        tokens_reset_s=_duration(lowered.get("x-ratelimit-reset-tokens")),
    )


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if number >= 0 else None


def _duration(value: str | None) -> float | None:
    return None if value is None else parse_duration(value)


def _until(value: str | None, now: dt.datetime) -> float | None:
    """Seconds from `now` to an RFC 3339 time ("2025-08-21T12:40:59Z"); 0 if it has passed."""
    if value is None:
        return None
    try:
        when = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return max(0.0, (when - now).total_seconds())
