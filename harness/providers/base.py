"""The Provider interface, and mapping of SDK failures to the harness's errors, done once here.

Both vendor SDKs share one error shape (APIStatusError with status_code, response and body;
APIConnectionError; APITimeoutError), so one mapping serves every adapter. Adapters classify;
the scheduler decides what to do (retry, wait, give up).
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Mapping
from typing import Any, Protocol

from ..errors import (
    AuthenticationFailed,
    ConnectionFailed,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
    RequestRejected,
    ServerError,
)
from ..ratelimits import parse_duration
from ..records import Completion, Request

RATE_LIMIT_HEADER_PREFIXES = ("x-ratelimit-", "anthropic-ratelimit-", "retry-after")

# 429s that waiting will not cure: quota or spend exhausted, or a request larger than the limit.
_PERMANENT_429_CODES = frozenset({
    "insufficient_quota", "credit_balance_exhausted", "organization_spend_limit_exceeded",
    "project_spend_limit_exceeded", "organization_usage_limit_exceeded",
    "enforced_spend_limit_reached", "contract_spend_limit_reached",
})


class Provider(Protocol):
    """One endpoint. `complete` sends one request and returns the answer or raises ProviderError."""

    name: str

    async def complete(self, request: Request) -> Completion: ...

    async def aclose(self) -> None: ...


def rate_limit_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Only the headers that speak of rate limits (kept for the scheduler, small to carry)."""
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith(RATE_LIMIT_HEADER_PREFIXES)}


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds the server asks us to wait: retry-after-ms, then retry-after (seconds or HTTP date)."""
    lowered = {k.lower(): v for k, v in headers.items()}
    if "retry-after-ms" in lowered:
        try:
            return max(0.0, float(lowered["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def _retry_delay_in_body(body: Any) -> float | None:
    """Gemini puts its wait in the body: error.details[].retryDelay, like "26s"."""
    items = body if isinstance(body, list) else [body]
    for item in items:
        error = item.get("error", item) if isinstance(item, dict) else None
        details = error.get("details") if isinstance(error, dict) else None
        for detail in details if isinstance(details, list) else []:
            if isinstance(detail, dict) and isinstance(detail.get("retryDelay"), str):
                return parse_duration(detail["retryDelay"])
    return None


def _error_fields(body: Any) -> tuple[str, str, str]:
    """(message, code, text to search) from any vendor's error body."""
    if isinstance(body, list) and body:
        body = body[0]
    if not isinstance(body, dict):
        return "", "", str(body or "")
    error = body.get("error", body)
    if not isinstance(error, dict):
        return str(error), "", str(body)
    details = error.get("details")
    code = str(error.get("code") or "")
    if isinstance(details, dict) and details.get("error_code"):
        code = str(details["error_code"])
    message = str(error.get("message") or "")
    return message, code, str(body)


def error_from_status(status: int, headers: Mapping[str, str], body: Any, *, provider: str,
                      model: str, request_id: str | None) -> ProviderError:
    """Classify an HTTP error response."""
    message, code, text = _error_fields(body)
    message = message or f"HTTP {status}"
    ctx: dict[str, Any] = {"provider": provider, "model": model, "request_id": request_id, "status": status,
                           "rate_limits": rate_limit_headers(headers)}
    if status == 429:
        daily = "PerDay" in text
        too_large = message.startswith("Request too large")
        if code in _PERMANENT_429_CODES or daily or too_large:
            return RequestRejected(message, **ctx)
        retry_after = parse_retry_after(headers)
        if retry_after is None:
            retry_after = _retry_delay_in_body(body)
        return RateLimited(message, retry_after=retry_after, **ctx)
    if status in (401, 403):
        return AuthenticationFailed(message, **ctx)
    if status in (408, 409):
        return ProviderUnavailable(message, **ctx)
    if status >= 500:
        return ServerError(message, retry_after=parse_retry_after(headers), **ctx)
    return RequestRejected(message, **ctx)


def _has_connection_cause(exc: BaseException) -> bool:
    """Whether a connection (not a timeout) failed somewhere under exc.

    openai's aiohttp transport reports refused and dropped connections as timeouts; the original
    aiohttp error is still in the exception chain.
    """
    import aiohttp

    seen = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, aiohttp.ClientConnectionError) and not isinstance(current, asyncio.TimeoutError):
            return True
        current = current.__cause__ or current.__context__
    return False


def error_from_sdk(exc: Exception, sdk: Any, *, provider: str, model: str) -> ProviderError | None:
    """Map an exception from a vendor SDK module `sdk` (openai or anthropic); None if it is not one."""
    if isinstance(exc, sdk.APIStatusError):
        response = exc.response
        return error_from_status(exc.status_code, response.headers, exc.body, provider=provider,
                                 model=model, request_id=getattr(exc, "request_id", None))
    ctx = {"provider": provider, "model": model}
    if isinstance(exc, sdk.APITimeoutError):
        if _has_connection_cause(exc):
            return ConnectionFailed(f"connection failed: {_root_message(exc)}", **ctx)
        return ProviderTimeout("no answer before the request timeout", **ctx)
    if isinstance(exc, sdk.APIConnectionError):
        return ConnectionFailed(f"connection failed: {_root_message(exc)}", **ctx)
    return None


def _root_message(exc: BaseException) -> str:
    root = exc
    while root.__cause__ is not None:
        root = root.__cause__
    return str(root) or type(root).__name__
