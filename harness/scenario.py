"""TOML scenario → frozen dataclasses. All validation happens here, before any request is sent.

A scenario may start from another with `extends = "other.toml"` (a path relative to it): tables
are merged key by key, the extending file winning, arrays replaced whole. Every error names the
file, the key path and what was expected.
"""

from __future__ import annotations

import difflib
import hashlib
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from .errors import ScenarioError
from .records import STANCES

PROVIDER_KINDS = ("openai", "anthropic", "gemini", "openai_compatible")
SIDES = ("affirmative", "negative")

_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")
_MISSING = object()


@dataclass(frozen=True, slots=True)
class RateLimits:
    """A provider's client-side budget."""

    requests_per_minute: float | None
    """Requests per minute; None for no limit."""
    tokens_per_minute: float | None
    """Tokens (input + output, estimated before the call) per minute; None for no limit."""
    max_in_flight: int
    """Requests awaiting an answer at once."""


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One API endpoint and the budget the harness keeps to on it."""

    name: str
    kind: str
    """One of PROVIDER_KINDS: selects the adapter and the wire format."""
    api_key_env: str
    """Name of the environment variable holding the API key (the key itself is never stored)."""
    base_url: str | None
    """Override of the provider's default endpoint; required for openai_compatible."""
    limits: RateLimits


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """A model as the experiment names it, and how it is sampled."""

    name: str
    """Short name (the table key), used in transcript ids like gpt_claude_1."""
    label: str
    provider: str
    model: str
    """The provider's model id."""
    temperature: float | None
    top_p: float | None


@dataclass(frozen=True, slots=True)
class Resolution:
    name: str
    text: str
    """e.g. "Resolved: A highly capable AI model should be open source." """
    affirmative_stance: str
    """The stance ("open" or "closed") the affirmative debater argues for."""
    transcript_prefix: str
    """Prefix of transcript ids under this resolution ("reverse_" in the paper)."""


@dataclass(frozen=True, slots=True)
class Speech:
    name: str
    side: str
    """"affirmative" or "negative"."""
    presider: str
    """The presider's line before the speech; may be empty; may use {resolution}."""


@dataclass(frozen=True, slots=True)
class PreDebate:
    votes_per_model: int
    max_tokens: int
    prompt: str
    voters: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Debate:
    repeats: int
    max_tokens: int
    speech_prompt: str
    closing: str
    resolutions: tuple[Resolution, ...]
    speeches: tuple[Speech, ...]
    debaters: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PostDebate:
    votes_per_transcript: int
    max_tokens: int
    prompt: str
    voters: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    """Attempts per request, the first included."""
    initial_delay: float = 1.0
    """Seconds before the first retry; doubles each time, with jitter."""
    max_delay: float = 60.0
    """Longest wait between attempts, in seconds (a longer retry-after is still honoured)."""
    request_timeout: float = 120.0
    """Seconds to wait for one answer."""


@dataclass(frozen=True, slots=True)
class Simulation:
    """How the simulated provider behaves under --simulate."""

    time_to_first_token: float = 0.2
    """Seconds before any output."""
    seconds_per_output_token: float = 0.002


@dataclass(frozen=True, slots=True)
class Scenario:
    path: Path
    name: str
    description: str
    seed: int
    providers: dict[str, ProviderConfig]
    models: dict[str, ModelConfig]
    pre_debate: PreDebate
    debate: Debate
    post_debate: PostDebate
    retry: RetryPolicy
    simulation: Simulation
    text: str = field(repr=False)
    """The scenario file as written (and, after a marker line, the file it extends)."""
    sha256: str = ""
    """Hash of the effective scenario's canonical JSON: equal for equal content, whatever the layout."""

    def provider_of(self, model_name: str) -> ProviderConfig:
        return self.providers[self.models[model_name].provider]

    def participants(self) -> list[str]:
        """Models that vote or debate in some phase (a scenario may define more than it uses)."""
        used = {*self.pre_debate.voters, *self.debate.debaters, *self.post_debate.voters}
        return [name for name in self.models if name in used]

    def used_providers(self) -> list[ProviderConfig]:
        """Providers that a participating model uses, in declaration order: only their keys are needed."""
        names = {self.models[m].provider for m in self.participants()}
        return [p for p in self.providers.values() if p.name in names]


class _Table:
    """Reads one TOML table, checking types and remembering which keys were used."""

    def __init__(self, data: Any, path: str, file: str) -> None:
        self._path = path
        self._file = file
        if not isinstance(data, dict):
            self.fail("", f"expected a table, got {_describe(data)}")
        self._data: dict[str, Any] = data
        self._used: set[str] = set()

    def fail(self, key: str, message: str) -> None:
        where = ".".join(p for p in (self._path, key) if p) or "(top level)"
        raise ScenarioError(f"{self._file}: {where}: {message}")

    def keys(self) -> list[str]:
        return list(self._data)

    def has(self, key: str) -> bool:
        return key in self._data

    def get(self, key: str, kind: str, default: Any = _MISSING) -> Any:
        """The value at key, checked against kind; a missing key without default is an error."""
        self._used.add(key)
        if key not in self._data:
            if default is _MISSING:
                self.fail(key, f"missing: expected {_KIND_TEXT[kind]}{self._typo_hint(key)}")
            return default
        value = self._data[key]
        if not _KIND_CHECK[kind](value):
            self.fail(key, f"expected {_KIND_TEXT[kind]}, got {_describe(value)}")
        return float(value) if kind in ("number", "positive", "non_negative") else value

    def _typo_hint(self, key: str) -> str:
        close = difflib.get_close_matches(key, [k for k in self._data if k not in self._used], n=1)
        return f" (is {close[0]!r} a misspelling of it?)" if close else ""

    def table(self, key: str, default_empty: bool = False) -> _Table:
        self._used.add(key)
        if key not in self._data:
            if default_empty:
                return _Table({}, self._sub(key), self._file)
            self.fail(key, "missing: expected a table")
        return _Table(self._data[key], self._sub(key), self._file)

    def tables(self, key: str) -> list[_Table]:
        """An array of tables ([[key]])."""
        value = self.get(key, "list")
        return [_Table(item, f"{self._sub(key)}[{i}]", self._file) for i, item in enumerate(value)]

    def done(self) -> None:
        """Reject keys nobody asked for: a typo must not silently fall back to a default."""
        unknown = [k for k in self._data if k not in self._used]
        if unknown:
            self.fail(unknown[0], f"unknown key (known keys here: {', '.join(sorted(self._used))})")

    def _sub(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


_KIND_CHECK = {
    "str": lambda v: isinstance(v, str),
    "nonempty_str": lambda v: isinstance(v, str) and v.strip() != "",
    "int": _is_int,
    "count": lambda v: _is_int(v) and v >= 0,
    "positive_int": lambda v: _is_int(v) and v > 0,
    "number": _is_number,
    "positive": lambda v: _is_number(v) and v > 0,
    "non_negative": lambda v: _is_number(v) and v >= 0,
    "list": lambda v: isinstance(v, list),
    "str_list": lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    "bool": lambda v: isinstance(v, bool),
}
_KIND_TEXT = {
    "str": "a string",
    "nonempty_str": "a non-empty string",
    "int": "an integer",
    "count": "a whole number ≥ 0",
    "positive_int": "a whole number ≥ 1",
    "number": "a number",
    "positive": "a number > 0",
    "non_negative": "a number ≥ 0",
    "list": "an array",
    "str_list": "an array of strings",
    "bool": "true or false",
}


def _describe(value: Any) -> str:
    shown = repr(value)
    if len(shown) > 40:
        shown = shown[:37] + "..."
    return f"{shown} ({type(value).__name__})"


def load_scenario(path: str | Path) -> Scenario:
    """Read, merge and validate a scenario file; raises ScenarioError naming what is wrong."""
    path = Path(path)
    data, text = _read_merged(path, seen=())
    return _build(data, path, text)


def _read_toml(path: Path) -> tuple[dict[str, Any], str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ScenarioError(f"{path}: no such scenario file") from None
    except OSError as exc:
        raise ScenarioError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return tomllib.loads(text), text
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None


def _read_merged(path: Path, seen: tuple[Path, ...]) -> tuple[dict[str, Any], str]:
    data, text = _read_toml(path)
    base_name = data.pop("extends", None)
    if base_name is None:
        return data, text
    if not isinstance(base_name, str):
        raise ScenarioError(f"{path}: extends: expected a file name, got {_describe(base_name)}")
    base_path = (path.parent / base_name).resolve()
    if base_path in seen or base_path == path.resolve():
        raise ScenarioError(f"{path}: extends: {base_name} extends itself in a cycle")
    base, base_text = _read_merged(base_path, seen + (path.resolve(),))
    merged_text = f"{text}\n# ---- extends {base_name} ----\n{base_text}"
    return _merge(base, data), merged_text


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _build(data: dict[str, Any], path: Path, text: str) -> Scenario:
    file = str(path)
    top = _Table(data, "", file)
    head = top.table("scenario")
    name = head.get("name", "nonempty_str")
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        head.fail("name", "expected letters, digits, '_', '-' or '.' only (it names the output folder)")
    description = head.get("description", "str", "")
    seed = head.get("seed", "int")
    head.done()

    providers = _providers(top.table("providers"))
    models = _models(top.table("models"), providers)
    pre = _pre_debate(top.table("pre_debate"), models)
    debate = _debate(top.table("debate"), models)
    post = _post_debate(top.table("post_debate"), models)
    retry = _retry(top.table("retry", default_empty=True))
    simulation = _simulation(top.table("simulation", default_empty=True))
    top.done()
    if not (pre.voters or debate.debaters or post.voters):
        raise ScenarioError(f"{file}: nothing to run: pre_debate.voters, debate.debaters and "
                            "post_debate.voters are all empty")
    if post.voters and not debate.debaters:
        raise ScenarioError(f"{file}: post_debate.voters: there are no debates to vote on "
                            "(debate.debaters is empty); set post_debate.voters = [] for a survey only")
    digest = hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return Scenario(
        path=path, name=name, description=description, seed=seed, providers=providers,
        models=models, pre_debate=pre, debate=debate, post_debate=post, retry=retry,
        simulation=simulation, text=text, sha256=digest,
    )


def _providers(table: _Table) -> dict[str, ProviderConfig]:
    providers = {}
    for name in table.keys():
        t = table.table(name)
        kind = t.get("kind", "str")
        if kind not in PROVIDER_KINDS:
            t.fail("kind", f"expected one of {', '.join(PROVIDER_KINDS)}, got {kind!r}")
        base_url = t.get("base_url", "nonempty_str", None)
        if kind == "openai_compatible" and base_url is None:
            t.fail("base_url", "missing: an openai_compatible provider needs the server's URL")
        if base_url is not None and not base_url.startswith(("http://", "https://")):
            t.fail("base_url", f"expected an http:// or https:// URL, got {base_url!r}")
        limits = RateLimits(
            requests_per_minute=t.get("requests_per_minute", "positive", None),
            tokens_per_minute=t.get("tokens_per_minute", "positive", None),
            max_in_flight=t.get("max_in_flight", "positive_int", 50),
        )
        api_key_env = t.get("api_key_env", "nonempty_str")
        t.done()
        providers[name] = ProviderConfig(name, kind, api_key_env, base_url, limits)
    if not providers:
        table.fail("", "expected at least one provider")
    return providers


def _models(table: _Table, providers: dict[str, ProviderConfig]) -> dict[str, ModelConfig]:
    models = {}
    for name in table.keys():
        t = table.table(name)
        if not re.fullmatch(r"[a-z0-9]+", name):
            t.fail("", "a model's short name must be lowercase letters and digits (it names transcripts)")
        provider = t.get("provider", "nonempty_str")
        if provider not in providers:
            t.fail("provider", f"names provider {provider!r}, which is not defined under [providers] "
                               f"(defined: {', '.join(providers)})")
        temperature = t.get("temperature", "non_negative", None)
        top_p = t.get("top_p", "non_negative", None)
        if top_p is not None and top_p > 1:
            t.fail("top_p", f"expected a number from 0 to 1, got {top_p}")
        models[name] = ModelConfig(
            name=name, label=t.get("label", "nonempty_str", name), provider=provider,
            model=t.get("model", "nonempty_str"), temperature=temperature, top_p=top_p,
        )
        t.done()
    if not models:
        table.fail("", "expected at least one model")
    return models


def _model_list(t: _Table, key: str, models: dict[str, ModelConfig], minimum: int = 1) -> tuple[str, ...]:
    names = t.get(key, "str_list", list(models))
    for name in names:
        if name not in models:
            t.fail(key, f"names model {name!r}, which is not defined under [models]")
    if len(names) < minimum:
        t.fail(key, f"expected at least {minimum} model(s)")
    if len(set(names)) != len(names):
        t.fail(key, "names a model twice")
    return tuple(names)


def _template(t: _Table, key: str, allowed: set[str], required: set[str]) -> str:
    text = t.get(key, "nonempty_str")
    used = set(_PLACEHOLDER.findall(text))
    unknown = used - allowed
    if unknown:
        t.fail(key, f"unknown placeholder {{{sorted(unknown)[0]}}} (allowed: "
                    f"{', '.join('{' + a + '}' for a in sorted(allowed))})")
    missing = required - used
    if missing:
        t.fail(key, f"missing placeholder {{{sorted(missing)[0]}}}")
    return text


def _pre_debate(t: _Table, models: dict[str, ModelConfig]) -> PreDebate:
    pre = PreDebate(
        votes_per_model=t.get("votes_per_model", "count"),
        max_tokens=t.get("max_tokens", "positive_int", 400),
        prompt=_template(t, "prompt", {"first", "second"}, {"first", "second"}),
        voters=_model_list(t, "voters", models, minimum=0),
    )
    t.done()
    return pre


def _post_debate(t: _Table, models: dict[str, ModelConfig]) -> PostDebate:
    fields = {"first", "second", "resolution", "transcript"}
    post = PostDebate(
        votes_per_transcript=t.get("votes_per_transcript", "count"),
        max_tokens=t.get("max_tokens", "positive_int", 400),
        prompt=_template(t, "prompt", fields, {"first", "second", "transcript"}),
        voters=_model_list(t, "voters", models, minimum=0),
    )
    t.done()
    return post


def _debate(t: _Table, models: dict[str, ModelConfig]) -> Debate:
    resolutions = []
    res_table = t.table("resolutions")
    for name in res_table.keys():
        r = res_table.table(name)
        stance = r.get("affirmative_stance", "str")
        if stance not in STANCES:
            r.fail("affirmative_stance", f"expected \"open\" or \"closed\", got {stance!r}")
        resolutions.append(Resolution(name, r.get("text", "nonempty_str"), stance,
                                      r.get("transcript_prefix", "str", "")))
        r.done()
    if not resolutions:
        res_table.fail("", "expected at least one resolution")
    if len({r.transcript_prefix for r in resolutions}) != len(resolutions):
        res_table.fail("", "each resolution needs its own transcript_prefix, or transcript ids collide")
    speeches = []
    for s in t.tables("speeches"):
        side = s.get("side", "str")
        if side not in SIDES:
            s.fail("side", f"expected \"affirmative\" or \"negative\", got {side!r}")
        presider = s.get("presider", "str", "")
        unknown = set(_PLACEHOLDER.findall(presider)) - {"resolution"}
        if unknown:
            s.fail("presider", f"unknown placeholder {{{sorted(unknown)[0]}}} (allowed: {{resolution}})")
        speeches.append(Speech(s.get("name", "nonempty_str"), side, presider))
        s.done()
    if not speeches:
        t.fail("speeches", "expected at least one speech")
    debate = Debate(
        repeats=t.get("repeats", "count"),
        max_tokens=t.get("max_tokens", "positive_int", 1200),
        speech_prompt=_template(t, "speech_prompt",
                                {"side", "side_title", "duty", "resolution", "transcript", "speech_name"},
                                {"transcript"}),
        closing=t.get("closing", "str", ""),
        resolutions=tuple(resolutions),
        speeches=tuple(speeches),
        debaters=_model_list(t, "debaters", models, minimum=0),
    )
    t.done()
    return debate


def _retry(t: _Table) -> RetryPolicy:
    d = RetryPolicy()
    policy = RetryPolicy(
        max_attempts=t.get("max_attempts", "positive_int", d.max_attempts),
        initial_delay=t.get("initial_delay", "non_negative", d.initial_delay),
        max_delay=t.get("max_delay", "non_negative", d.max_delay),
        request_timeout=t.get("request_timeout", "positive", d.request_timeout),
    )
    t.done()
    return policy


def _simulation(t: _Table) -> Simulation:
    d = Simulation()
    sim = Simulation(
        time_to_first_token=t.get("time_to_first_token", "non_negative", d.time_to_first_token),
        seconds_per_output_token=t.get("seconds_per_output_token", "non_negative",
                                       d.seconds_per_output_token),
    )
    t.done()
    return sim
