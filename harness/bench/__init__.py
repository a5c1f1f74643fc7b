"""Benchmarks of the harness (`python -m harness bench`): throughput at a rate limit, overhead per
request, replay from the cache and memory at scale, each against the simulated provider.

Only the catalog is imported here, so the command line can describe the benchmarks cheaply; the
code that runs them is in `harness.bench.suite` and the modules it uses.
"""

from .catalog import NAMES, QUICK, Sizes, help_text

__all__ = ["NAMES", "QUICK", "Sizes", "help_text"]
