"""OpenAIProvider: OpenAI, Gemini's OpenAI-compatible endpoint and OpenAI-compatible servers."""

from __future__ import annotations

from typing import Any

import openai

from ..cache import cache_key
from ..errors import ProviderError
from ..records import Completion, Message, Request, Usage
from .base import error_from_sdk, rate_limit_headers

GEMINI_BASE_URL = "https://generativelanguage.googleapis.com/v1beta/openai/"
SAMPLE_KEY_HEADER = "x-harness-sample-key"


def messages_to_openai(messages: tuple[Message, ...]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]


def completion_from_openai(response: Any, headers: Any) -> Completion:
    choice = response.choices[0]
    usage = response.usage
    return Completion(
        text=choice.message.content or "",
        finish_reason=choice.finish_reason,
        usage=Usage(usage.prompt_tokens, usage.completion_tokens) if usage else Usage(),
        model=response.model or "",
        request_id=getattr(response, "_request_id", None),
        rate_limits=rate_limit_headers(headers),
    )


class OpenAIProvider:
    """Chat Completions through the official SDK on its aiohttp transport, SDK retries off."""

    def __init__(self, name: str, kind: str, *, api_key: str, base_url: str | None, timeout: float,
                 simulated: bool = False) -> None:
        self.name = name
        self.kind = kind
        if base_url is None and kind == "gemini":
            base_url = GEMINI_BASE_URL
        self._client = openai.AsyncOpenAI(
            api_key=api_key, base_url=base_url, http_client=openai.DefaultAioHttpClient(),
            max_retries=0, timeout=timeout,
        )
        # OpenAI's current field is max_completion_tokens; Gemini's endpoint and open-model
        # servers (vLLM, Ollama, llama.cpp) take the older max_tokens.
        self._max_tokens_field = "max_completion_tokens" if kind == "openai" else "max_tokens"
        self._simulated = simulated

    async def complete(self, request: Request) -> Completion:
        params: dict[str, Any] = {
            "model": request.model,
            "messages": messages_to_openai(request.messages),
            self._max_tokens_field: request.sampling.max_tokens,
        }
        if request.sampling.temperature is not None:
            params["temperature"] = request.sampling.temperature
        if request.sampling.top_p is not None:
            params["top_p"] = request.sampling.top_p
        if self._simulated:
            params["extra_headers"] = {SAMPLE_KEY_HEADER: cache_key(request)}
        try:
            raw = await self._client.chat.completions.with_raw_response.create(**params)
            return completion_from_openai(raw.parse(), raw.headers)
        except openai.OpenAIError as exc:
            mapped = error_from_sdk(exc, openai, provider=self.name, model=request.model)
            if mapped is None:
                raise ProviderError(f"{type(exc).__name__}: {exc}", provider=self.name,
                                    model=request.model) from exc
            raise mapped from exc

    async def aclose(self) -> None:
        await self._client.close()
