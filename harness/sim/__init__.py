"""The simulated provider: an aiohttp server on loopback speaking the OpenAI and Anthropic wire formats.

Its models are personas calibrated to the paper's Table 2 (`personas`), its rate limits behave
like providers' token buckets (`behaviour`), and faults can be scheduled to exercise retries.
`python -m harness sim` (or `python -m harness.sim`) runs it alone.
"""

from .app import SimServer, make_app, serve_forever
from .config import Fault, ModelLimits, SimConfig

__all__ = [
    "Fault",
    "ModelLimits",
    "SimConfig",
    "SimServer",
    "make_app",
    "serve_forever",
]
