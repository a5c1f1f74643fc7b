"""Where result rows go during a run: buffered, then written as Parquet parts off the event loop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from .output import (
    TRANSCRIPT_ORDER,
    TRANSCRIPT_SCHEMA,
    VOTE_ORDER,
    VOTE_SCHEMA,
    PartWriter,
    merge_parts,
)

VOTES_FILE = "votes.parquet"
TRANSCRIPTS_FILE = "transcripts.parquet"
PARTS_DIR = "parts"


class ResultSink:
    """Collects vote and speech rows for one run directory and streams them to Parquet parts."""

    def __init__(self, run_dir: Path, metadata: dict[str, str], *, flush_every: float = 2.0,
                 rows_per_part: int = 5000) -> None:
        self.run_dir = run_dir
        self.metadata = metadata
        parts = run_dir / PARTS_DIR
        self.votes = PartWriter(parts / "votes", VOTE_SCHEMA, metadata, rows_per_part)
        self.speeches = PartWriter(parts / "transcripts", TRANSCRIPT_SCHEMA, metadata, rows_per_part)
        self.flush_every = flush_every
        self._wake = asyncio.Event()
        self._stopping = False

    def add_vote(self, row: dict[str, Any]) -> None:
        if self.votes.add(row):
            self._wake.set()

    def add_speech(self, row: dict[str, Any]) -> None:
        if self.speeches.add(row):
            self._wake.set()

    async def run_flusher(self) -> None:
        """Write buffered rows every `flush_every` seconds, or sooner when a buffer fills."""
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self.flush_every)
            except TimeoutError:
                pass
            self._wake.clear()
            await self.flush()
            if self._stopping:
                return

    async def flush(self) -> None:
        for writer in (self.votes, self.speeches):
            batch = writer.take_batch()
            if batch is not None:
                await asyncio.to_thread(writer.write_part, *batch)

    def stop(self) -> None:
        """Ask the flusher to write what is left and return."""
        self._stopping = True
        self._wake.set()

    def flush_now(self) -> None:
        """Write what is buffered, synchronously (used when a run is ending abnormally)."""
        self.votes.flush()
        self.speeches.flush()

    def finalize(self) -> tuple[int, int]:
        """Merge the parts into votes.parquet and transcripts.parquet; returns their row counts."""
        self.flush_now()
        parts = self.run_dir / PARTS_DIR
        votes = merge_parts(parts / "votes", self.run_dir / VOTES_FILE, VOTE_SCHEMA, self.metadata, VOTE_ORDER,
                            group_keys=2)
        speeches = merge_parts(parts / "transcripts", self.run_dir / TRANSCRIPTS_FILE, TRANSCRIPT_SCHEMA,
                               self.metadata, TRANSCRIPT_ORDER)
        try:
            parts.rmdir()
        except OSError:
            pass
        return votes, speeches
