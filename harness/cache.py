"""Content-addressed response cache: the same request is never paid for twice.

`cache_key()` is pure: sha256 over the canonical JSON of exactly what determines the answer
(provider kind, model, messages, sampling, which draw, simulated or live) — never an API key,
a base URL, a timeout or anything else that does not change the answer.

`CacheStore` keeps entries in one SQLite database in WAL mode: a commit is atomic, so a crash
never leaves half an entry, readers in other processes never see one, and thousands of small
entries cost one file rather than thousands. Each row also carries a checksum of its content; a
row that fails it is treated as absent, and the request is sent again.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import os
import sqlite3
import time
import zlib
from pathlib import Path

import orjson

from .errors import OutputError
from .records import Completion, Request, Usage

log = logging.getLogger(__name__)

KEY_VERSION = 1
DB_NAME = "responses.sqlite3"
WARN_CORRUPT = 5
BATCH_SIZE = 256
BATCH_DELAY = 0.01
"""Seconds an answer may wait for others to share its commit."""


def canonical_request(request: Request) -> bytes:
    """The request as canonical JSON: sorted keys, no whitespace, every field that shapes the answer."""
    return orjson.dumps(
        {
            "v": KEY_VERSION,
            "provider_kind": request.provider_kind,
            "model": request.model,
            "messages": [[m.role, m.content] for m in request.messages],
            "temperature": request.sampling.temperature,
            "top_p": request.sampling.top_p,
            "max_tokens": request.sampling.max_tokens,
            "sample": request.sample,
            "simulated": request.simulated,
        },
        option=orjson.OPT_SORT_KEYS,
    )


def cache_key(request: Request) -> str:
    """Hex sha256 of the canonical request."""
    return hashlib.sha256(canonical_request(request)).hexdigest()


def completion_to_json(completion: Completion) -> bytes:
    return orjson.dumps({
        "text": completion.text,
        "finish_reason": completion.finish_reason,
        "input_tokens": completion.usage.input_tokens,
        "output_tokens": completion.usage.output_tokens,
        "model": completion.model,
        "request_id": completion.request_id,
    })


def completion_from_json(data: bytes) -> Completion:
    d = orjson.loads(data)
    return Completion(
        text=d["text"],
        finish_reason=d["finish_reason"],
        usage=Usage(d["input_tokens"], d["output_tokens"]),
        model=d["model"],
        request_id=d["request_id"],
    )


def _checksum(key: str, response_json: bytes) -> str:
    """Guards the answer served from the cache. The stored request needs no checksum of its own:
    its key is already its hash, which `verify()` recomputes."""
    h = hashlib.sha256(key.encode())
    h.update(b"\0")
    h.update(response_json)
    return h.hexdigest()


def _pack(request_json: bytes) -> bytes:
    """Stored requests are compressed: a post-debate vote carries a whole transcript, and 46,000 of
    them uncompressed fill most of a gigabyte. Compressed requests start with zlib's 0x78 byte,
    never with the "{" a JSON object starts with, so both forms read back."""
    return zlib.compress(request_json, 1)


def _unpack(stored: object) -> bytes:
    raw = _as_bytes(stored)
    return raw if raw[:1] == b"{" else zlib.decompress(raw)


def _as_bytes(value: object) -> bytes:
    """Rows edited outside the harness may hold text where it wrote blobs."""
    return value.encode() if isinstance(value, str) else bytes(value or b"")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    provider_kind TEXT NOT NULL,
    model TEXT NOT NULL,
    simulated INTEGER NOT NULL,
    request BLOB NOT NULL,
    response BLOB NOT NULL,
    created REAL NOT NULL,
    checksum TEXT NOT NULL
)
"""


class CacheStore:
    """The response cache in `directory`; safe to share between runs and processes."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / DB_NAME
        self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL is durable against a killed process (only power loss can undo the
        # last commits), and avoids an fsync per response.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.execute(_SCHEMA)
        self.corrupt_entries = 0
        self._pending: list[tuple[str, Request, Completion, asyncio.Future[None]]] = []
        self._timer: asyncio.TimerHandle | None = None

    def get(self, key: str) -> Completion | None:
        """The cached answer for key, or None; an entry that fails its checksum counts as absent."""
        row = self._db.execute("SELECT key, response, checksum FROM responses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        stored_key, response_json, checksum = row
        if not isinstance(response_json, bytes):
            response_json = _as_bytes(response_json)
        if stored_key != key or _checksum(key, response_json) != checksum:
            self._note_corrupt(key, "failed its checksum")
            return None
        try:
            return completion_from_json(response_json)
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self._note_corrupt(key, "does not decode")
            return None

    def _note_corrupt(self, key: str, what: str) -> None:
        """Count a damaged entry; log the first few (a damaged cache would otherwise flood the log)."""
        self.corrupt_entries += 1
        if self.corrupt_entries <= WARN_CORRUPT:
            more = " (further damaged entries are counted, not logged)" if self.corrupt_entries == WARN_CORRUPT else ""
            log.warning("cache entry %s %s; it will be fetched again%s", key[:12], what, more)

    def put(self, key: str, request: Request, completion: Completion) -> None:
        """Store an answer durably (committed before this returns)."""
        self.put_many([(key, request, completion)])

    def put_many(self, entries: list[tuple[str, Request, Completion]]) -> None:
        """Store answers in one transaction: all of them are committed when this returns, or none."""
        now = time.time()
        rows = []
        for key, request, completion in entries:
            request_json = canonical_request(request)
            response_json = completion_to_json(completion)
            rows.append((key, request.provider_kind, request.model, int(request.simulated), _pack(request_json),
                         response_json, now, _checksum(key, response_json)))
        db = self._db
        db.execute("BEGIN")
        try:
            db.executemany("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("COMMIT")

    async def store(self, key: str, request: Request, completion: Completion) -> None:
        """Store an answer, returning once it is committed; answers arriving together share a commit.

        A commit per answer costs more CPU than the rest of the harness's bookkeeping for that
        answer; answers are instead gathered for up to `BATCH_DELAY` seconds (or `BATCH_SIZE` of
        them) and committed in one transaction. Callers still count nothing before it returns.
        """
        loop = asyncio.get_running_loop()
        done = loop.create_future()
        self._pending.append((key, request, completion, done))
        if len(self._pending) >= BATCH_SIZE:
            self._commit_pending()
        elif self._timer is None:
            self._timer = loop.call_later(BATCH_DELAY, self._commit_pending)
        await done

    def _commit_pending(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        pending, self._pending = self._pending, []
        if not pending:
            return
        try:
            self.put_many([(key, request, completion) for key, request, completion, _ in pending])
        except sqlite3.Error as exc:  # every waiter learns its answer was not stored
            error = OutputError(f"cannot write to the response cache {self.path}: {exc}")
            for *_, done in pending:
                if not done.done():
                    done.set_exception(error)
            return
        for *_, done in pending:
            if not done.done():
                done.set_result(None)

    def verify(self, *, remove: bool = False) -> list[tuple[str, str]]:
        """Check every entry: (key, what is wrong) for each bad one; with `remove`, delete them.

        An entry is bad when its key is not the hash of its stored request, its answer fails its
        checksum, or its answer does not decode.
        """
        self._commit_pending()
        bad: list[tuple[str, str]] = []
        for key, request_json, response_json, checksum in self._db.execute(
                "SELECT key, request, response, checksum FROM responses"):
            try:
                request_json = _unpack(request_json)
            except zlib.error:
                request_json = b""
            response_json = _as_bytes(response_json)
            if hashlib.sha256(request_json).hexdigest() != key:
                bad.append((key, "key is not the hash of the stored request"))
            elif _checksum(key, response_json) != checksum:
                bad.append((key, "answer fails its checksum"))
            else:
                try:
                    completion_from_json(response_json)
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    bad.append((key, "answer does not decode"))
        if remove and bad:
            self._db.execute("BEGIN")
            self._db.executemany("DELETE FROM responses WHERE key = ?", [(k,) for k, _ in bad])
            self._db.execute("COMMIT")
        return bad

    def stats(self) -> dict[str, object]:
        """Entries and bytes, in all and per (provider kind, model, simulated)."""
        self._commit_pending()
        rows = self._db.execute(
            "SELECT provider_kind, model, simulated, COUNT(*), SUM(LENGTH(request) + LENGTH(response)) "
            "FROM responses GROUP BY provider_kind, model, simulated ORDER BY provider_kind, model, simulated"
        ).fetchall()
        groups = [{"provider_kind": kind, "model": model, "simulated": bool(simulated), "entries": n,
                   "bytes": size or 0} for kind, model, simulated, n, size in rows]
        files = [self.path, self.path.with_name(self.path.name + "-wal")]
        return {"path": str(self.path), "entries": sum(g["entries"] for g in groups),
                "file_bytes": sum(f.stat().st_size for f in files if f.exists()), "groups": groups}

    def export_to(self, target: Path) -> int:
        """Write every entry to a portable gzipped JSON-lines file; returns how many."""
        self._commit_pending()
        count = 0
        tmp = target.with_name(target.name + ".tmp")
        with gzip.open(tmp, "wb") as out:
            for key, kind, model, simulated, request_json, response_json, created, checksum in self._db.execute(
                    "SELECT key, provider_kind, model, simulated, request, response, created, checksum "
                    "FROM responses ORDER BY key"):
                out.write(orjson.dumps({
                    "key": key, "provider_kind": kind, "model": model, "simulated": bool(simulated),
                    "request": orjson.loads(_unpack(request_json)),
                    "response": orjson.loads(_as_bytes(response_json)), "created": created, "checksum": checksum,
                }) + b"\n")
                count += 1
        os.replace(tmp, target)
        return count

    def import_from(self, source: Path) -> dict[str, int]:
        """Add the entries of an exported file that pass their checks; existing entries are kept.

        Returns counts: added, already present, rejected (a line that does not parse, a key that is
        not its request's hash, or an answer failing its checksum).
        """
        counts = {"added": 0, "present": 0, "rejected": 0}
        batch = []
        with gzip.open(source, "rb") as lines:
            for line in lines:
                try:
                    entry = orjson.loads(line)
                    request_json = orjson.dumps(entry["request"])
                    response_json = orjson.dumps(entry["response"])
                    key = entry["key"]
                    valid = (hashlib.sha256(request_json).hexdigest() == key
                             and _checksum(key, response_json) == entry["checksum"])
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    valid = False
                if not valid:
                    counts["rejected"] += 1
                    continue
                batch.append((key, entry["provider_kind"], entry["model"], int(bool(entry["simulated"])),
                              _pack(request_json), response_json, entry.get("created", time.time()), entry["checksum"]))
        before = len(self)
        self._db.execute("BEGIN")
        self._db.executemany("INSERT OR IGNORE INTO responses VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch)
        self._db.execute("COMMIT")
        counts["added"] = len(self) - before
        counts["present"] = len(batch) - counts["added"]
        return counts

    def __len__(self) -> int:
        return self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]

    def close(self) -> None:
        self._commit_pending()
        self._db.close()
