"""AnthropicProvider: the Messages API through the official SDK."""

from __future__ import annotations

from typing import Any

import anthropic

from ..cache import cache_key
from ..errors import ProviderError
from ..records import Completion, Message, Request, Usage
from .base import error_from_sdk, rate_limit_headers
from .openai import SAMPLE_KEY_HEADER


def messages_to_anthropic(messages: tuple[Message, ...]) -> tuple[str | None, list[dict[str, str]]]:
    """Anthropic takes system text apart from the conversation."""
    system = "\n\n".join(m.content for m in messages if m.role == "system") or None
    chat = [{"role": m.role, "content": m.content} for m in messages if m.role != "system"]
    return system, chat


def completion_from_anthropic(message: Any, headers: Any) -> Completion:
    text = "".join(block.text for block in message.content if getattr(block, "type", "") == "text")
    return Completion(
        text=text,
        finish_reason=message.stop_reason,
        usage=Usage(message.usage.input_tokens, message.usage.output_tokens),
        model=message.model or "",
        request_id=getattr(message, "_request_id", None),
        rate_limits=rate_limit_headers(headers),
    )


class AnthropicProvider:
    """Messages through the official SDK on its aiohttp transport, SDK retries off."""

    def __init__(self, name: str, kind: str, *, api_key: str, base_url: str | None, timeout: float,
                 simulated: bool = False) -> None:
        self.name = name
        self.kind = kind
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key, base_url=base_url, http_client=anthropic.DefaultAioHttpClient(),
            max_retries=0, timeout=timeout,
        )
        self._simulated = simulated

    async def complete(self, request: Request) -> Completion:
        system, chat = messages_to_anthropic(request.messages)
        params: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.sampling.max_tokens,
            "messages": chat,
        }
        if system is not None:
            params["system"] = system
        # anthropic 2.x has no sampling keywords; the HTTP API still takes them for older models.
        sampling = {k: v for k, v in (("temperature", request.sampling.temperature),
                                      ("top_p", request.sampling.top_p)) if v is not None}
        if sampling:
            params["extra_body"] = sampling
        if self._simulated:
            params["extra_headers"] = {SAMPLE_KEY_HEADER: cache_key(request)}
        try:
            raw = await self._client.messages.with_raw_response.create(**params)
            return completion_from_anthropic(await raw.parse(), raw.headers)
        except anthropic.AnthropicError as exc:
            mapped = error_from_sdk(exc, anthropic, provider=self.name, model=request.model)
            if mapped is None:
                raise ProviderError(f"{type(exc).__name__}: {exc}", provider=self.name,
                                    model=request.model) from exc
            raise mapped from exc

    async def aclose(self) -> None:
        await self._client.close()
