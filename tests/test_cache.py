"""The cache key covers exactly what shapes an answer; the store survives corruption."""

import sqlite3

import pytest
from dataclasses import replace

from harness.errors import OutputError
from harness.cache import CacheStore, cache_key, canonical_request
from harness.records import Completion, Message, Request, Sampling, Usage

BASE = Request("openai", "gpt-x", (Message("user", "Vote!"),), Sampling(1.0, 0.7, 400), "3")


class TestCacheKey:
    def test_same_request_same_key(self):
        """Equal requests built separately hash alike."""
        twin = Request("openai", "gpt-x", (Message("user", "Vote!"),), Sampling(1.0, 0.7, 400), "3")
        assert cache_key(twin) == cache_key(BASE)

    def test_every_field_changes_the_key(self):
        """Provider kind, model, messages, each sampling parameter, the draw and simulated all count."""
        variants = [
            replace(BASE, provider_kind="anthropic"),
            replace(BASE, model="gpt-y"),
            replace(BASE, messages=(Message("user", "Vote?"),)),
            replace(BASE, messages=(Message("system", "Vote!"),)),
            replace(BASE, sampling=Sampling(0.9, 0.7, 400)),
            replace(BASE, sampling=Sampling(1.0, 1.0, 400)),
            replace(BASE, sampling=Sampling(1.0, 0.7, 401)),
            replace(BASE, sampling=Sampling(None, 0.7, 400)),
            replace(BASE, sample="4"),
            replace(BASE, simulated=True),
        ]
        keys = {cache_key(v) for v in variants}
        assert len(keys) == len(variants) and cache_key(BASE) not in keys

    def test_key_holds_no_secret_or_transport_detail(self):
        """The canonical request has only answer-shaping fields: no API key, URL or timeout."""
        assert set(__import__("orjson").loads(canonical_request(BASE))) == {
            "v", "provider_kind", "model", "messages", "temperature", "top_p", "max_tokens", "sample",
            "simulated"}


class TestCacheStore:
    def test_round_trip(self, tmp_path):
        """What is put is what is got, in another store on the same directory too."""
        store = CacheStore(tmp_path)
        completion = Completion("hi", "stop", Usage(3, 1), "gpt-x", "req-1")
        store.put(cache_key(BASE), BASE, completion)
        store.close()
        again = CacheStore(tmp_path)
        assert again.get(cache_key(BASE)) == completion
        assert again.get("0" * 64) is None
        assert len(again) == 1

    def test_tampered_entry_is_a_miss(self, tmp_path):
        """An entry whose content no longer matches its checksum is treated as absent."""
        store = CacheStore(tmp_path)
        key = cache_key(BASE)
        store.put(key, BASE, Completion("open source", "stop", Usage(3, 1)))
        db = sqlite3.connect(tmp_path / "responses.sqlite3")
        db.execute("UPDATE responses SET response = replace(response, 'open', 'shut')")
        db.commit()
        assert store.get(key) is None and store.corrupt_entries == 1


class TestGroupCommit:
    @pytest.mark.asyncio
    async def test_answers_arriving_together_share_a_commit_and_are_durable_on_return(self, tmp_path):
        """store() returns only once its answer is committed: another connection already sees it."""
        import asyncio

        store = CacheStore(tmp_path)
        answer = Completion("open", "stop", Usage(3, 1), "gpt-x", "r")
        requests = [replace(BASE, sample=str(i)) for i in range(300)]
        commits = []
        original = store.put_many
        store.put_many = lambda entries: (commits.append(len(entries)), original(entries))[1]
        await asyncio.gather(*(store.store(cache_key(r), r, answer) for r in requests))
        assert sum(commits) == 300 and len(commits) <= 3
        with sqlite3.connect(tmp_path / "responses.sqlite3") as other:
            assert other.execute("select count(*) from responses").fetchone()[0] == 300
        store.close()

    @pytest.mark.asyncio
    async def test_a_failed_commit_reaches_every_waiter(self, tmp_path):
        """If the batch cannot be written, no caller is told its answer is stored."""
        import asyncio

        store = CacheStore(tmp_path)
        answer = Completion("open", "stop", Usage(3, 1), "gpt-x", "r")

        def refuse(entries):
            raise sqlite3.OperationalError("disk I/O error")

        store.put_many = refuse
        results = await asyncio.gather(*(store.store(str(i), BASE, answer) for i in range(3)),
                                       return_exceptions=True)
        assert all(isinstance(r, OutputError) and "disk I/O error" in str(r) for r in results)


class TestVerify:
    def test_verify_finds_each_kind_of_damage_and_removes_it(self, tmp_path):
        """A stored request that no longer hashes to its key, a flipped answer byte, a truncated
        answer: each is reported; with remove=True they are gone and the good entry stays."""
        store = CacheStore(tmp_path)
        answer = Completion("open", "stop", Usage(3, 1), "gpt-x", "r")
        requests = [replace(BASE, sample=str(i)) for i in range(4)]
        keys = [cache_key(r) for r in requests]
        for key, r in zip(keys, requests):
            store.put(key, r, answer)
        db = store._db
        db.execute("UPDATE responses SET request = ? WHERE key = ?", (b'{"edited": true}', keys[0]))
        (response,) = db.execute("SELECT response FROM responses WHERE key = ?", (keys[1],)).fetchone()
        flipped = bytes([response[0] ^ 0x20]) + response[1:]
        db.execute("UPDATE responses SET response = ? WHERE key = ?", (flipped, keys[1]))
        db.execute("UPDATE responses SET response = ? WHERE key = ?", (response[: len(response) // 2], keys[2]))
        assert store.get(keys[1]) is None and store.get(keys[2]) is None
        bad = dict(store.verify())
        assert bad == {keys[0]: "key is not the hash of the stored request",
                       keys[1]: "answer fails its checksum", keys[2]: "answer fails its checksum"}
        store.verify(remove=True)
        assert len(store) == 1 and store.get(keys[3]) == answer and store.verify() == []


class TestPortable:
    def test_export_import_round_trip_keeps_answers_and_rejects_tampering(self, tmp_path):
        """A collaborator's import serves the same answers; an edited line is refused, not stored."""
        import gzip

        import orjson

        source = CacheStore(tmp_path / "mine")
        answer = Completion("open", "stop", Usage(3, 1), "gpt-x", "r")
        requests = [replace(BASE, sample=str(i)) for i in range(5)]
        for r in requests:
            source.put(cache_key(r), r, answer)
        exported = tmp_path / "cache.jsonl.gz"
        assert source.export_to(exported) == 5
        lines = gzip.decompress(exported.read_bytes()).splitlines()
        entry = orjson.loads(lines[0])
        entry["response"]["text"] = "closed"  # an edited answer no longer matches its checksum
        lines[0] = orjson.dumps(entry)
        lines.append(b"not json")
        exported.write_bytes(gzip.compress(b"\n".join(lines) + b"\n"))
        theirs = CacheStore(tmp_path / "theirs")
        assert theirs.import_from(exported) == {"added": 4, "present": 0, "rejected": 2}
        assert theirs.import_from(exported) == {"added": 0, "present": 4, "rejected": 2}
        served = [theirs.get(cache_key(r)) for r in requests]
        assert served.count(answer) == 4 and served.count(None) == 1
        assert theirs.verify() == []
        stats = theirs.stats()
        assert stats["entries"] == 4 and stats["groups"][0]["model"] == "gpt-x"


def test_a_badly_damaged_cache_logs_a_few_warnings_not_one_per_entry(tmp_path, caplog):
    """Every damaged entry is counted and fetched again; only the first few are logged."""
    import logging

    store = CacheStore(tmp_path)
    answer = Completion("open", "stop", Usage(3, 1), "gpt-x", "r")
    requests = [replace(BASE, sample=str(i)) for i in range(8)]
    for r in requests:
        store.put(cache_key(r), r, answer)
    store._db.execute("UPDATE responses SET checksum = 'x'")
    with caplog.at_level(logging.WARNING, logger="harness.cache"):
        assert all(store.get(cache_key(r)) is None for r in requests)
    assert store.corrupt_entries == 8 and len(caplog.records) == 5


def test_requests_are_stored_compressed_and_read_back(tmp_path):
    """A transcript-sized request takes a fraction of its size on disk; verify and export read it."""
    store = CacheStore(tmp_path)
    big = replace(BASE, messages=(Message("user", "The affirmative argues that open models help. " * 300),))
    store.put(cache_key(big), big, Completion("open", "stop", Usage(3, 1), "gpt-x", "r"))
    (stored,) = store._db.execute("SELECT request FROM responses").fetchone()
    assert len(stored) < len(canonical_request(big)) / 5
    assert store.verify() == []
