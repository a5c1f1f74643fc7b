"""The harness's exception tree.

    HarnessError                 anything the harness raises on purpose
    ├── ScenarioError            the scenario file is malformed or inconsistent; names file and key path
    │   └── PlanChanged          resuming a run whose plan the scenario no longer matches
    ├── ConfigurationError       the environment is not ready (e.g. an API key variable is unset)
    ├── ProviderError            a call to a provider failed; carries provider, model, request id
    │   ├── RateLimited          HTTP 429 worth retrying; carries retry_after (seconds or None)
    │   ├── ProviderUnavailable  transient: worth retrying after a backoff
    │   │   ├── ServerError      HTTP 5xx (500, 502, 503, 504, 529 overloaded)
    │   │   ├── ProviderTimeout  no answer in time
    │   │   └── ConnectionFailed refused, reset or dropped connection
    │   └── RequestRejected      any other 4xx, or a 429 that retrying cannot cure; not retried
    │       └── AuthenticationFailed  401/403: every request to this provider will fail; fatal
    └── OutputError              results cannot be written to the output directory

A refusal, a length cut-off or an unparseable vote is not an exception: it is an outcome,
recorded as a row with its status.
"""

from __future__ import annotations


class HarnessError(Exception):
    """Base class of every error the harness raises on purpose."""


class ScenarioError(HarnessError):
    """The scenario is invalid; the message names the file, the key path and what was expected."""


class PlanChanged(ScenarioError):
    """The run directory holds a run of a different plan; the message says what differs."""


class ConfigurationError(HarnessError):
    """The environment cannot run the scenario as asked (missing API key, unusable directory)."""


class OutputError(HarnessError):
    """Results cannot be written."""


class ProviderError(HarnessError):
    """A provider call failed. `status` is the HTTP status when there was one."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        model: str = "",
        request_id: str | None = None,
        status: int | None = None,
        rate_limits: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model
        self.request_id = request_id
        self.status = status
        self.rate_limits = rate_limits
        """The error response's rate-limit headers, for the scheduler to learn the server's budget."""

    @property
    def kind(self) -> str:
        """Short name of the failure class, as recorded in output rows."""
        return type(self).__name__

    def describe(self) -> str:
        """One line for output rows and logs: class, status, message, request id."""
        parts = [self.kind]
        if self.status is not None:
            parts.append(str(self.status))
        text = f"{' '.join(parts)}: {self}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text


class RateLimited(ProviderError):
    """HTTP 429 that will clear with time; `retry_after` is the server's requested wait in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """A transient failure: retry after a backoff."""


class ServerError(ProviderUnavailable):
    """HTTP 5xx, including Anthropic's 529 overloaded."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw) -> None:
        super().__init__(message, **kw)
        self.retry_after = retry_after


class ProviderTimeout(ProviderUnavailable):
    """The provider did not answer in time."""


class ConnectionFailed(ProviderUnavailable):
    """The connection was refused, reset or dropped."""


class RequestRejected(ProviderError):
    """A request the provider will never accept as it is (4xx other than a retryable 429)."""


class AuthenticationFailed(RequestRejected):
    """The API key was refused (401/403): every further request to this provider would fail."""


def is_retryable(error: BaseException) -> bool:
    """Whether trying the same request again later may succeed."""
    return isinstance(error, (RateLimited, ProviderUnavailable))
