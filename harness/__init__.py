"""harness: an async, high-throughput evaluation harness for large language models."""

from .errors import HarnessError, ScenarioError
from .records import Completion, Message, ParsedVote, Request, Sampling, Usage
from .scenario import Scenario, load_scenario

__version__ = "0.1.0"

__all__ = [
    "Completion",
    "HarnessError",
    "Message",
    "ParsedVote",
    "Request",
    "Sampling",
    "Scenario",
    "ScenarioError",
    "Usage",
    "__version__",
    "load_scenario",
]
