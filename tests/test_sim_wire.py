"""The simulator's wire formats: request validation, bodies, error shapes and headers."""

import datetime as dt

import orjson
import pytest

from harness.sim.behaviour import DimensionState, LimitState
from harness.sim.wire import (
    ANTHROPIC,
    GEMINI,
    OPENAI,
    BadRequest,
    ChatRequest,
    completion_body,
    error_body,
    go_duration,
    limit_headers,
    parse_request,
    rate_limit_message,
    retry_headers,
    rfc3339,
)


def body(**fields) -> bytes:
    return orjson.dumps(fields)


class TestParseRequest:
    def test_openai_accepts_either_max_tokens_field_and_content_parts(self):
        """max_completion_tokens wins over max_tokens; text parts are joined."""
        request = parse_request(OPENAI, body(model="m", max_completion_tokens=5, max_tokens=9, n=2, messages=[
            {"role": "system", "content": "s"},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]))
        assert request == ChatRequest(OPENAI, "m", (("system", "s"), ("user", "a\nb")), 5, 2, n_given=True)
        assert parse_request(GEMINI, body(model="m", max_tokens=9, messages=[{"role": "user", "content": "x"}])).max_tokens == 9

    def test_anthropic_system_as_string_or_blocks(self):
        """`system` becomes the first message, whether a string or text blocks."""
        for system in ("sys", [{"type": "text", "text": "sys"}]):
            request = parse_request(ANTHROPIC, body(model="c", max_tokens=10, system=system, temperature=0.5,
                                                    top_p=0.7, messages=[{"role": "user", "content": "hi"}]))
            assert request.messages == (("system", "sys"), ("user", "hi"))

    @pytest.mark.parametrize("api,raw,param", [
        (OPENAI, b"{not json", None),
        (OPENAI, b"[1, 2]", None),
        (OPENAI, body(messages=[{"role": "user", "content": "x"}]), "model"),
        (OPENAI, body(model="m"), "messages"),
        (OPENAI, body(model="m", messages=[]), "messages"),
        (OPENAI, body(model="m", messages=[{"role": "robot", "content": "x"}]), "messages[0]"),
        (OPENAI, body(model="m", messages=[{"role": "user", "content": "x"}], n=0), "n"),
        (OPENAI, body(model="m", messages=[{"role": "user", "content": "x"}], max_tokens="9"), "max_tokens"),
        (OPENAI, body(model="m", messages=[{"role": "user", "content": "x"}], temperature="hot"), "temperature"),
        (OPENAI, body(model="m", messages=[{"role": "user", "content": "x"}], stream=True), "stream"),
        (ANTHROPIC, body(model="c", messages=[{"role": "user", "content": "x"}]), "max_tokens"),
        (ANTHROPIC, body(model="c", max_tokens=5, messages=[{"role": "system", "content": "x"}]), "messages[0]"),
    ])
    def test_malformed_requests(self, api, raw, param):
        """Bad JSON, missing model/messages/max_tokens, bad values and streaming are 400s."""
        with pytest.raises(BadRequest) as info:
            parse_request(api, raw)
        assert info.value.param == param

    def test_streaming_message(self):
        """Streaming is refused with a message saying so."""
        with pytest.raises(BadRequest, match="streaming is not supported by the simulated provider"):
            parse_request(ANTHROPIC, body(model="c", max_tokens=5, stream=True, messages=[]))


class TestBodies:
    def test_openai_completion(self):
        """One choice per answer; a cut answer finishes with "length"; usage totals."""
        request = ChatRequest(OPENAI, "m", (("user", "x"),), 5, 2)
        payload = completion_body(request, [("a", False), ("b", True)], 10, 7, response_id="chatcmpl-1", created=1)
        assert payload["object"] == "chat.completion"
        assert [c["finish_reason"] for c in payload["choices"]] == ["stop", "length"]
        assert payload["usage"]["total_tokens"] == 17

    def test_anthropic_message(self):
        """A text block, end_turn or max_tokens, input/output usage."""
        request = ChatRequest(ANTHROPIC, "c", (("user", "x"),), 5)
        payload = completion_body(request, [("a", True)], 10, 5, response_id="msg_1", created=1)
        assert payload["content"] == [{"type": "text", "text": "a"}]
        assert payload["stop_reason"] == "max_tokens"
        assert payload["usage"]["input_tokens"] == 10 and payload["usage"]["output_tokens"] == 5

    def test_error_shapes(self):
        """OpenAI {"error": {...}}, Anthropic {"type": "error", ...}, Gemini's 429 a list with retryDelay."""
        assert error_body(OPENAI, 400, "bad", param="model")["error"] == {
            "message": "bad", "type": "invalid_request_error", "param": "model", "code": None}
        assert error_body(OPENAI, 503)["error"]["type"] == "server_error"
        assert error_body(ANTHROPIC, 529, request_id="req_1") == {
            "type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}, "request_id": "req_1"}
        assert error_body(ANTHROPIC, 429, "slow down")["error"]["type"] == "rate_limit_error"
        gemini = error_body(GEMINI, 429, "exhausted", retry_after=2.5)
        assert gemini[0]["error"]["status"] == "RESOURCE_EXHAUSTED"
        assert gemini[0]["error"]["details"][0]["retryDelay"] == "3s"

    def test_rate_limit_messages(self):
        """A wait reads "Rate limit reached"; an impossible request reads "Request too large"."""
        dim = DimensionState(1000, 0, 1.0)
        assert rate_limit_message("m", "tokens", dim, 5, 0.25).startswith("Rate limit reached for m")
        assert rate_limit_message("m", "tokens", dim, 5000, None).startswith("Request too large for m")


class TestHeaders:
    @pytest.mark.parametrize("seconds,text", [(0, "0s"), (0.006, "6ms"), (0.9994, "999ms"), (1.2, "1.2s"),
                                              (30, "30s"), (360, "6m0s"), (179.56, "2m59.56s"),
                                              (3723, "1h2m3s")])
    def test_go_durations(self, seconds, text):
        """Reset times in Go's duration syntax, as OpenAI sends them."""
        assert go_duration(seconds) == text

    def test_rfc3339_rounds_up_to_the_second(self):
        """Anthropic's reset is an instant in whole seconds, UTC, never earlier than the true reset."""
        epoch = dt.datetime(2025, 8, 21, 12, 40, 58, tzinfo=dt.UTC).timestamp() + 0.2
        assert rfc3339(epoch) == "2025-08-21T12:40:59Z"

    def test_retry_headers(self):
        """Whole seconds rounded up, at least 1; milliseconds precise."""
        assert retry_headers(0.2) == {"retry-after": "1", "retry-after-ms": "200"}
        assert retry_headers(29.9931) == {"retry-after": "30", "retry-after-ms": "29994"}

    def test_limit_headers_per_route(self):
        """OpenAI style x-ratelimit-*, Anthropic style anthropic-ratelimit-*; unlimited dimensions omitted."""
        state = LimitState(requests=DimensionState(60, 0, 1.0))
        assert limit_headers(OPENAI, state, 0.0) == {
            "x-ratelimit-limit-requests": "60", "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "1s"}
        assert limit_headers(ANTHROPIC, state, 0.0) == {
            "anthropic-ratelimit-requests-limit": "60", "anthropic-ratelimit-requests-remaining": "0",
            "anthropic-ratelimit-requests-reset": "1970-01-01T00:00:01Z"}
        assert limit_headers(OPENAI, LimitState(), 0.0) == {}
