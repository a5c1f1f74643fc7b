"""Shared by the tests that run the harness itself on the smoke scenario."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SMOKE = ROOT / "scenarios" / "smoke.toml"


def fast_smoke_scenario(name: str, *, instant_simulator: bool = True) -> str:
    """The smoke scenario (2 models, 8 debates, 44 votes) with the providers' limits raised, so a
    test spends no time waiting on them; with `instant_simulator`, the in-process simulator answers
    at once too (tests that start their own simulator set its speed there)."""
    text = f"""
extends = "{SMOKE}"

[scenario]
name = "{name}"

[providers.openai]
requests_per_minute = 600000
tokens_per_minute = 600000000

[providers.anthropic]
requests_per_minute = 600000
tokens_per_minute = 600000000
"""
    if instant_simulator:
        text += """
[simulation]
time_to_first_token = 0.0
seconds_per_output_token = 0.0
"""
    return text
