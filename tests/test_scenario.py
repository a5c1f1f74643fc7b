"""Scenario loading: the shipped files are valid, and every kind of mistake is named precisely."""

from pathlib import Path

import pytest

from harness.errors import ScenarioError
from harness.plan import planned_counts
from harness.scenario import load_scenario

FULL = Path("scenarios/ld_open_closed.toml")

MINIMAL = """
[scenario]
name = "mini"
seed = 1

[providers.p]
kind = "openai"
api_key_env = "OPENAI_API_KEY"
requests_per_minute = 100

[models.a]
provider = "p"
model = "gpt-x"
temperature = 1.0
top_p = 0.7

[pre_debate]
votes_per_model = 2
prompt = "pick {first} or {second}"

[debate]
repeats = 1
speech_prompt = "You are {side}. {transcript}"

[debate.resolutions.open]
text = "Resolved: open."
affirmative_stance = "open"

[[debate.speeches]]
name = "Only"
side = "affirmative"
presider = "Go."

[post_debate]
votes_per_transcript = 2
prompt = "{transcript} pick {first} or {second}"
"""


def load_text(tmp_path: Path, text: str, name: str = "s.toml"):
    path = tmp_path / name
    path.write_text(text)
    return load_scenario(path)


def error_for(tmp_path: Path, text: str) -> str:
    with pytest.raises(ScenarioError) as info:
        load_text(tmp_path, text)
    return str(info.value)


class TestShippedScenarios:
    def test_full_scenario_matches_the_paper(self):
        """The paper scenario plans 500 pre-debate votes, 100 debates and up to 50,000 post-debate votes."""
        s = load_scenario(FULL)
        assert planned_counts(s) == {"pre": 500, "debate": 100, "post": 50_000}
        assert planned_counts(s, usable_transcripts=90)["post"] == 45_000
        assert [m.model for m in s.models.values()] == [
            "gpt-4-1106-preview", "claude-2.1", "gemini-pro", "codellama/CodeLlama-34b-Instruct-hf",
            "mistralai/Mixtral-8x7B-Instruct-v0.1"]

    def test_sampling_is_the_papers(self):
        """Temperature 1 and top-p 0.7 for all, except GPT-4 with top-p 1."""
        s = load_scenario(FULL)
        assert {(m.name, m.temperature, m.top_p) for m in s.models.values()} == {
            ("gpt", 1.0, 1.0), ("claude", 1.0, 0.7), ("gemini", 1.0, 0.7), ("codellama", 1.0, 0.7),
            ("mixtral", 1.0, 0.7)}

    def test_provider_kinds(self):
        """openai, anthropic, gemini and an OpenAI-compatible server with its base_url."""
        s = load_scenario(FULL)
        assert {p.name: p.kind for p in s.providers.values()} == {
            "openai": "openai", "anthropic": "anthropic", "gemini": "gemini", "together": "openai_compatible"}
        assert s.providers["together"].base_url.startswith("https://")

    def test_smoke_extends_the_full_scenario(self):
        """The quick scenario inherits the paper's prompts and overrides only counts."""
        full, smoke = load_scenario(FULL), load_scenario("scenarios/smoke.toml")
        assert smoke.name == "smoke"
        assert smoke.post_debate.prompt == full.post_debate.prompt
        assert smoke.debate.debaters == ("gpt", "claude")
        assert planned_counts(smoke) == {"pre": 8, "debate": 8, "post": 48}

    def test_hash_ignores_layout_but_not_content(self, tmp_path):
        """Reformatting keeps the scenario hash; changing a value changes it."""
        a = load_text(tmp_path, MINIMAL, "a.toml")
        b = load_text(tmp_path, "# comment\n" + MINIMAL, "b.toml")
        c = load_text(tmp_path, MINIMAL.replace("seed = 1", "seed = 2"), "c.toml")
        assert a.sha256 == b.sha256 != c.sha256


class TestValidationMessages:
    def test_minimal_is_valid(self, tmp_path):
        """The minimal scenario used below loads, with defaults filled in."""
        s = load_text(tmp_path, MINIMAL)
        assert s.models["a"].provider == "p" and s.providers["p"].limits.max_in_flight == 50

    def test_unknown_key(self, tmp_path):
        """A misspelt optional key is rejected with its path, not ignored."""
        message = error_for(tmp_path, MINIMAL.replace("requests_per_minute = 100", "request_per_minute = 100"))
        assert "s.toml: providers.p.request_per_minute: unknown key" in message

    def test_misspelt_required_key(self, tmp_path):
        """A misspelt required key is reported missing, with the likely typo named."""
        message = error_for(tmp_path, MINIMAL.replace("votes_per_model = 2", "votes_per_modle = 2"))
        assert ("pre_debate.votes_per_model: missing: expected a whole number ≥ 0 "
                "(is 'votes_per_modle' a misspelling of it?)") in message

    def test_missing_field(self, tmp_path):
        """A missing required field names its key path and expected type."""
        message = error_for(tmp_path, MINIMAL.replace('model = "gpt-x"\n', ""))
        assert "models.a.model: missing: expected a non-empty string" in message

    def test_wrong_type(self, tmp_path):
        """A value of the wrong type says what was expected and what was found."""
        message = error_for(tmp_path, MINIMAL.replace("votes_per_model = 2", 'votes_per_model = "2"'))
        assert "pre_debate.votes_per_model: expected a whole number ≥ 0, got '2' (str)" in message

    def test_negative_count(self, tmp_path):
        """Negative counts are refused."""
        message = error_for(tmp_path, MINIMAL.replace("repeats = 1", "repeats = -1"))
        assert "debate.repeats: expected a whole number ≥ 0, got -1 (int)" in message

    def test_undefined_provider(self, tmp_path):
        """A model naming an undefined provider lists the defined ones."""
        message = error_for(tmp_path, MINIMAL.replace('provider = "p"', 'provider = "q"'))
        assert "models.a.provider: names provider 'q', which is not defined under [providers] (defined: p)" in message

    def test_unknown_provider_kind(self, tmp_path):
        """Only known provider kinds are accepted."""
        message = error_for(tmp_path, MINIMAL.replace('kind = "openai"', 'kind = "bard"'))
        assert "providers.p.kind: expected one of openai, anthropic, gemini, openai_compatible, got 'bard'" in message

    def test_openai_compatible_needs_base_url(self, tmp_path):
        """An OpenAI-compatible server without a URL cannot be reached."""
        message = error_for(tmp_path, MINIMAL.replace('kind = "openai"', 'kind = "openai_compatible"'))
        assert "providers.p.base_url: missing" in message

    def test_unknown_placeholder(self, tmp_path):
        """A template placeholder the harness does not fill is an error, not silent text."""
        message = error_for(tmp_path, MINIMAL.replace("pick {first} or {second}\"", "pick {frist} or {second}\"", 1))
        assert "pre_debate.prompt: unknown placeholder {frist}" in message

    def test_voter_not_a_model(self, tmp_path):
        """Voter lists may only name defined models."""
        message = error_for(tmp_path, MINIMAL.replace("votes_per_transcript = 2",
                                                      'votes_per_transcript = 2\nvoters = ["a", "zz"]'))
        assert "post_debate.voters: names model 'zz'" in message

    def test_bad_toml(self, tmp_path):
        """A syntax error names the file and the position."""
        message = error_for(tmp_path, MINIMAL + "\nthis is not toml\n")
        assert "s.toml: not valid TOML" in message and "line" in message

    def test_missing_file(self, tmp_path):
        """A path that does not exist is reported as such."""
        with pytest.raises(ScenarioError, match="no such scenario file"):
            load_scenario(tmp_path / "nope.toml")

    def test_missing_section(self, tmp_path):
        """A whole missing table is named."""
        text = MINIMAL.split("[post_debate]")[0]
        assert "post_debate: missing: expected a table" in error_for(tmp_path, text)

    def test_extends_errors_name_the_extending_file(self, tmp_path):
        """An override file's mistakes are reported against that file."""
        (tmp_path / "base.toml").write_text(MINIMAL)
        (tmp_path / "over.toml").write_text('extends = "base.toml"\n[pre_debate]\nvotes_per_model = -3\n')
        with pytest.raises(ScenarioError, match=r"over.toml: pre_debate.votes_per_model: expected a whole number"):
            load_scenario(tmp_path / "over.toml")


class TestPhaseSelection:
    """A scenario may run only some phases (a survey alone), but not none, and not votes on nothing."""

    def _write(self, tmp_path, body: str):
        path = tmp_path / "part.toml"
        path.write_text(f'extends = "{FULL.resolve()}"\n{body}')
        return path

    def test_survey_only_is_valid(self, tmp_path):
        path = self._write(tmp_path, '[pre_debate]\nvoters = ["gpt"]\n[debate]\ndebaters = []\n'
                                     '[post_debate]\nvoters = []\n')
        scenario = load_scenario(path)
        assert scenario.participants() == ["gpt"] and [p.name for p in scenario.used_providers()] == ["openai"]

    def test_nothing_to_run_is_refused(self, tmp_path):
        path = self._write(tmp_path, '[pre_debate]\nvoters = []\n[debate]\ndebaters = []\n[post_debate]\nvoters = []\n')
        with pytest.raises(ScenarioError, match="nothing to run"):
            load_scenario(path)

    def test_post_debate_votes_without_debates_are_refused(self, tmp_path):
        path = self._write(tmp_path, '[debate]\ndebaters = []\n')
        with pytest.raises(ScenarioError, match=r"post_debate\.voters: there are no debates"):
            load_scenario(path)
