"""Pure wire formats: request bodies in, response bodies, error bodies and headers out.

Three routes share one model of a request (`ChatRequest`): OpenAI Chat Completions, Gemini's
OpenAI-compatible path (the same format, but its 429 body is a JSON array, as Gemini's is) and
Anthropic Messages. Shapes follow shared/reference/provider-apis.md, sections 1-3.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

import orjson

from .behaviour import DimensionState, LimitState

OPENAI = "openai"
GEMINI = "gemini"
ANTHROPIC = "anthropic"
MAX_N = 128

_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error", 401: "authentication_error", 402: "billing_error",
    403: "permission_error", 404: "not_found_error", 409: "conflict_error", 413: "request_too_large",
    429: "rate_limit_error", 500: "api_error", 504: "timeout_error", 529: "overloaded_error",
}
_DEFAULT_MESSAGES = {
    429: "Rate limit reached for {model} (simulated). Please try again later.",
    500: "The server had an error while processing your request. Sorry about that!",
    503: "The engine is currently overloaded, please try again later.",
    529: "Overloaded",
}


class BadRequest(ValueError):
    """A request the provider would answer with 400; `param` names the offending field."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


@dataclass(frozen=True)
class ChatRequest:
    """What the simulator needs from a request, whatever its wire format."""

    api: str
    model: str
    messages: tuple[tuple[str, str], ...]
    """(role, text) pairs, a system prompt first; the text of content parts is joined."""

    max_tokens: int | None
    n: int = 1
    n_given: bool = False


def parse_request(api: str, body: bytes) -> ChatRequest:
    """Validate a completion request body the way the provider would, or raise BadRequest."""
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"We could not parse the JSON body of your request. ({exc})") from None
    if not isinstance(data, dict):
        raise BadRequest("The request body must be a JSON object.")
    if data.get("stream"):
        raise BadRequest("streaming is not supported by the simulated provider", "stream")
    model = data.get("model")
    if not isinstance(model, str) or not model:
        raise BadRequest("you must provide a model parameter", "model")
    for name in ("temperature", "top_p"):
        value = data.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise BadRequest(f"{name}: expected a number", name)
    if api == ANTHROPIC:
        return _parse_anthropic(data, model)
    return _parse_openai(data, model, api)


def _parse_openai(data: dict[str, Any], model: str, api: str) -> ChatRequest:
    messages = _messages(data.get("messages"), {"system", "developer", "user", "assistant", "tool", "function"})
    max_tokens = _count(data, "max_completion_tokens", minimum=1)
    if max_tokens is None:
        max_tokens = _count(data, "max_tokens", minimum=1)
    n = _count(data, "n", minimum=1)
    if n is not None and n > MAX_N:
        raise BadRequest(f"n: must be at most {MAX_N}", "n")
    return ChatRequest(api, model, messages, max_tokens, n or 1, n_given=n is not None)


def _parse_anthropic(data: dict[str, Any], model: str) -> ChatRequest:
    max_tokens = _count(data, "max_tokens", minimum=0)
    if max_tokens is None:
        raise BadRequest("max_tokens: Field required", "max_tokens")
    messages = _messages(data.get("messages"), {"user", "assistant"})
    system = data.get("system")
    if system is not None:
        text = _text(system, "system")
        messages = (("system", text), *messages)
    return ChatRequest(ANTHROPIC, model, messages, max_tokens)


def _count(data: dict[str, Any], name: str, *, minimum: int) -> int | None:
    value = data.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise BadRequest(f"{name}: expected an integer of at least {minimum}, got {value!r}", name)
    return value


def _messages(value: Any, roles: set[str]) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, list) or not value:
        raise BadRequest("messages: a non-empty list of messages is required", "messages")
    out = []
    for i, message in enumerate(value):
        where = f"messages[{i}]"
        if not isinstance(message, dict) or message.get("role") not in roles:
            raise BadRequest(f"{where}: each message needs a role among {sorted(roles)}", where)
        out.append((message["role"], _text(message.get("content"), f"{where}.content")))
    return tuple(out)


def _text(content: Any, where: str) -> str:
    """Text of a string or of a list of content parts / blocks (non-text parts are skipped)."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list) and all(isinstance(part, dict) for part in content):
        return "\n".join(part["text"] for part in content if isinstance(part.get("text"), str))
    raise BadRequest(f"{where}: expected a string or a list of content blocks", where)


def completion_body(request: ChatRequest, answers: list[tuple[str, bool]], prompt_tokens: int,
                    completion_tokens: int, *, response_id: str, created: int) -> dict[str, Any]:
    """The 200 body for `answers` [(text, cut at max tokens)]: one per choice (Anthropic: one)."""
    if request.api == ANTHROPIC:
        text, cut = answers[0]
        return {
            "id": response_id, "type": "message", "role": "assistant", "model": request.model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "max_tokens" if cut else "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": prompt_tokens, "output_tokens": completion_tokens,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
        }
    return {
        "id": response_id, "object": "chat.completion", "created": created, "model": request.model,
        "choices": [
            {"index": i, "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
             "logprobs": None, "finish_reason": "length" if cut else "stop"}
            for i, (text, cut) in enumerate(answers)
        ],
        "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                  "total_tokens": prompt_tokens + completion_tokens,
                  "prompt_tokens_details": {"cached_tokens": 0},
                  "completion_tokens_details": {"reasoning_tokens": 0}},
        "service_tier": "default", "system_fingerprint": "fp_simulated",
    }


def error_body(api: str, status: int, message: str | None = None, *, model: str = "",
               kind: str | None = None, param: str | None = None, code: str | None = None,
               request_id: str | None = None, retry_after: float | None = None) -> Any:
    """The provider's error body for `status`; `kind` is the OpenAI error type when it matters."""
    message = message or _DEFAULT_MESSAGES.get(status, f"HTTP {status}").format(model=model)
    if api == ANTHROPIC:
        error_type = _ANTHROPIC_ERROR_TYPES.get(status, "api_error" if status >= 500 else "invalid_request_error")
        return {"type": "error", "error": {"type": error_type, "message": message}, "request_id": request_id}
    if api == GEMINI and status == 429:
        error: dict[str, Any] = {"code": 429, "message": message, "status": "RESOURCE_EXHAUSTED"}
        if retry_after is not None:
            error["details"] = [{"@type": "type.googleapis.com/google.rpc.RetryInfo",
                                 "retryDelay": f"{math.ceil(retry_after)}s"}]
        return [{"error": error}]
    if kind is None:
        kind = "server_error" if status >= 500 else "invalid_request_error"
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def rate_limit_message(model: str, limited_by: str, state: DimensionState | None, requested: int,
                       retry_after: float | None) -> str:
    """OpenAI's wording for a 429 from the limiter ("Rate limit reached …" / "Request too large …")."""
    unit = "requests per min (RPM)" if limited_by == "requests" else "tokens per min (TPM)"
    limit = _number(state.limit) if state else "?"
    if retry_after is None:
        return (f"Request too large for {model} in organization org-simulated on {unit}: "
                f"Limit {limit}, Requested {requested}. The input or output tokens must be reduced.")
    return (f"Rate limit reached for {model} in organization org-simulated on {unit}: Limit {limit}, "
            f"Requested {requested}. Please try again in {go_duration(retry_after)}.")


def limit_headers(api: str, state: LimitState, now_epoch: float) -> dict[str, str]:
    """Rate-limit headers for the route's provider; a dimension without a limit sends none."""
    headers: dict[str, str] = {}
    for name, dim in (("requests", state.requests), ("tokens", state.tokens)):
        if dim is None:
            continue
        if api == ANTHROPIC:
            prefix = f"anthropic-ratelimit-{name}"
            headers[f"{prefix}-limit"] = _number(dim.limit)
            headers[f"{prefix}-remaining"] = str(dim.remaining)
            headers[f"{prefix}-reset"] = rfc3339(now_epoch + dim.reset)
        else:
            headers[f"x-ratelimit-limit-{name}"] = _number(dim.limit)
            headers[f"x-ratelimit-remaining-{name}"] = str(dim.remaining)
            headers[f"x-ratelimit-reset-{name}"] = go_duration(dim.reset)
    return headers


def retry_headers(seconds: float) -> dict[str, str]:
    """`retry-after` in whole seconds (at least 1) and the precise `retry-after-ms`."""
    return {"retry-after": str(max(1, math.ceil(seconds))),
            "retry-after-ms": str(max(1, math.ceil(seconds * 1000)))}


def go_duration(seconds: float) -> str:
    """A Go-style duration as OpenAI's reset headers use: "6ms", "1.2s", "6m0s", "1h2m3s"."""
    ms = max(0, round(seconds * 1000))
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


def rfc3339(epoch: float) -> str:
    """Anthropic's reset time: an RFC 3339 UTC instant in whole seconds, rounded up."""
    moment = dt.datetime.fromtimestamp(math.ceil(epoch), dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"
