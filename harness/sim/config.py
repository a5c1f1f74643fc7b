"""How the simulated provider behaves: limits, latency, seeds and scheduled faults, as frozen data."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class ModelLimits:
    """One model's rate limits, as a provider advertises them; None leaves a dimension unlimited."""

    requests_per_minute: float | None = None
    """Requests per minute (RPM). Enforced as a bucket holding one second of it, at least 1 request."""

    tokens_per_minute: float | None = None
    """Tokens per minute (TPM), charged as prompt + max tokens × n on admission, settled to actual output."""

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ValueError(f"{name} must be positive or None, got {value!r}")


@dataclass(frozen=True)
class Fault:
    """Answer the next `count` matching requests with HTTP `status` instead of a completion.

    Matching requests are those that passed validation, for `model` only when it is given. A 429
    carries `retry-after` (default 1 s); other statuses carry it only when `retry_after` is set.
    The body is the route's error shape (529 on the Anthropic route is `overloaded_error`).
    """

    status: int
    """HTTP status, 400-599: typically 429, 500, 503 or 529."""

    count: int = 1
    """How many requests this fault answers before it is used up."""

    model: str | None = None
    """Model id as sent in the request; None matches every model."""

    retry_after: float | None = None
    """Seconds sent as `retry-after` (ceil) and `retry-after-ms`; None: 1 s for a 429, absent otherwise."""

    message: str | None = None
    """Error message in the body; None picks the provider's usual wording for the status."""

    def __post_init__(self) -> None:
        if not 400 <= self.status <= 599:
            raise ValueError(f"fault status must be 400-599, got {self.status!r}")
        if self.count < 1:
            raise ValueError(f"fault count must be at least 1, got {self.count!r}")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError(f"retry_after must not be negative, got {self.retry_after!r}")


@dataclass(frozen=True)
class SimConfig:
    """Everything the simulated provider needs; the defaults are an unlimited, slightly slow server."""

    seed: int = 0
    """Seeds every simulated answer (with the request's sample key) and the random failures."""

    host: str = "127.0.0.1"
    """Interface to listen on. Loopback only: the simulator checks no keys."""

    port: int = 0
    """TCP port; 0 picks a free one (read it back from `SimServer.url`)."""

    time_to_first_token: float = 0.2
    """Seconds before any answer is ready."""

    seconds_per_output_token: float = 0.002
    """Seconds per generated token (the longest choice when n > 1), on top of the first-token time."""

    limits: dict[str, ModelLimits] = field(default_factory=dict)
    """Limits per model id, exactly as the request's `model` field spells it."""

    default: ModelLimits | None = None
    """Limits for models not in `limits`; None leaves them unlimited."""

    faults: tuple[Fault, ...] = ()
    """Faults scheduled from the start, used in order (more can be added while running)."""

    failure_rate: float = 0.0
    """Fraction of admitted requests answered with a transient 5xx (500 or 503; 500 or 529 on the
    Anthropic route), drawn from an RNG seeded by `seed`. For soak tests of retry logic."""

    reject_explicit_n: tuple[str, ...] = ()
    """Model ids that answer 400 to any explicit `n`, even n=1, as OpenAI's newer models do."""

    def __post_init__(self) -> None:
        if self.time_to_first_token < 0 or self.seconds_per_output_token < 0:
            raise ValueError("latencies must not be negative")
        if not 0.0 <= self.failure_rate <= 1.0:
            raise ValueError(f"failure_rate must be within 0-1, got {self.failure_rate!r}")

    def limits_for(self, model: str) -> ModelLimits | None:
        """The limits that apply to `model`, or None when it is unlimited."""
        return self.limits.get(model, self.default)
