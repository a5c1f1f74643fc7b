"""Provider registry: a scenario's provider kind → its adapter, imported only when used."""

from __future__ import annotations

import importlib

from .base import Provider

_ADAPTERS = {
    "openai": ("openai", "OpenAIProvider"),
    "gemini": ("openai", "OpenAIProvider"),
    "openai_compatible": ("openai", "OpenAIProvider"),
    "anthropic": ("anthropic", "AnthropicProvider"),
}

WIRE_FORMATS = {"openai": "openai", "gemini": "openai", "openai_compatible": "openai", "anthropic": "anthropic"}


def create_provider(name: str, kind: str, *, api_key: str, base_url: str | None, timeout: float,
                    simulated: bool = False) -> Provider:
    """Build the adapter for `kind`, importing its vendor SDK only now."""
    module_name, class_name = _ADAPTERS[kind]
    module = importlib.import_module(f"{__name__}.{module_name}")
    cls = getattr(module, class_name)
    return cls(name, kind, api_key=api_key, base_url=base_url, timeout=timeout, simulated=simulated)


__all__ = ["Provider", "WIRE_FORMATS", "create_provider"]
