"""FakeProvider: scripted answers and failures, in-process, for tests of everything above adapters."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..errors import ProviderError
from ..records import Completion, Request, Usage

Script = Callable[[Request], Completion]


def echo_completion(request: Request) -> Completion:
    """Answer with the last message's first 20 characters."""
    return Completion(request.messages[-1].content[:20], "stop", Usage(10, 5), request.model, "fake-req")


class FakeProvider:
    """Raises the queued failures first, then answers with `script`; records every request."""

    def __init__(self, name: str = "fake", script: Script = echo_completion,
                 failures: Iterable[ProviderError] = ()) -> None:
        self.name = name
        self.kind = "openai_compatible"
        self._script = script
        self._failures = list(failures)
        self.requests: list[Request] = []
        self.closed = False

    async def complete(self, request: Request) -> Completion:
        self.requests.append(request)
        if self._failures:
            raise self._failures.pop(0)
        return self._script(request)

    async def aclose(self) -> None:
        self.closed = True
