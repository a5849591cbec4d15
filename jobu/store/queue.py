"""The store's part in jobu-queued: partition leases, positions and dead letters.

Mixed into :class:`jobu.store.Store`, whose `database`, `_q`, `_time`, `_read`, `_write`,
`_insert_rows`, `_notify_runnable` and `database_now` it uses (the queries are in
``sql/<dialect>/queries.sql``, named queue_* and dead_letter_*). The partitions of a
consumer group are leased to jobu-queued processes with the workers' lease and fencing
token machinery: a batch's executions, its dead letters and the positions it reaches are
written in one transaction, and only by the holder of each partition's unexpired lease.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import math
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from jobu.db import Connection, Database
from jobu.errors import NotFoundError
from jobu.model import NewExecution

T = TypeVar("T")


class QueueMethods:
    """Store methods named queue_* and dead_letter_*: what jobu-queued keeps."""

    database: Database
    _q: dict[str, str]
    _time: Callable[[Any], datetime | None]
    _read: Callable[..., Any]
    _write: Callable[..., Any]
    _insert_rows: Callable[..., list[int | None]]
    _notify_runnable: Callable[..., None]
    database_now: Callable[[], datetime]

    def queue_partitions_ensure(self, group_id: str, partitions: Iterable[tuple[str, int]],
                                now: datetime | None = None) -> None:
        """A row (no position, no lease) for each (topic, partition) not yet known."""
        wanted = sorted(set(partitions))

        def work(conn: Connection) -> None:
            for topic, partition in wanted:
                conn.execute(self._q["queue_partition_ensure"], {
                    "group_id": group_id, "topic": topic, "partition_id": partition,
                    "now": now})
        self._write(work)

    def queue_partitions(self, group_id: str, now: datetime | None = None
                         ) -> list[QueuePartition]:
        """Every partition of a consumer group, with its position and lease."""
        found = self._read(lambda c: c.fetch_all(self._q["queue_partition_list"], {
            "group_id": group_id, "now": now}))
        return [_queue_partition(row) for row in found]

    def queue_leases_balance(self, group_id: str, owner: str, held: Mapping[tuple[str, int], str],
                             lease_seconds: float, topics: Iterable[str] | None = None,
                             now: datetime | None = None) -> dict[tuple[str, int], QueueLease]:
        """Renew the leases `owner` holds and take or give back partitions, in one transaction.

        `held` maps (topic, partition) to the token of each lease the caller believes it
        holds; one that expired is lost (another process may have it now). The partitions
        of `topics` (all of the group's when None) are shared among the live jobu-queued
        processes (`workers` rows of kind queued with a heartbeat younger than a lease):
        each holds at most ceil(partitions / processes); a process above its share gives
        back its last partitions, one below it takes free or expired ones. The caller's
        `workers` heartbeat must be fresh for it to count itself. Returns the leases held
        afterwards, with the position each partition resumes from.
        """
        wanted_topics = None if topics is None else set(topics)

        def work(conn: Connection) -> dict[tuple[str, int], QueueLease]:
            key = {"group_id": group_id, "lease_seconds": float(lease_seconds), "now": now}
            mine: dict[tuple[str, int], str] = {}
            for (topic, partition), token in sorted(held.items()):
                if conn.execute(self._q["queue_lease_renew"], {
                        **key, "topic": topic, "partition_id": partition, "lease_token": token}):
                    mine[(topic, partition)] = token
            members = max(1, int(conn.fetch_value(self._q["queue_members_live"], {
                "window_seconds": float(lease_seconds), "now": now}) or 0))
            listed = [_queue_partition(row) for row in conn.fetch_all(
                self._q["queue_partition_list"], {"group_id": group_id, "now": now})]
            listed = [p for p in listed if wanted_topics is None or p.topic in wanted_topics]
            share = math.ceil(len(listed) / members)
            for topic, partition in sorted(mine)[share:]:
                conn.execute(self._q["queue_lease_release"], {
                    **key, "topic": topic, "partition_id": partition,
                    "lease_token": mine.pop((topic, partition))})
            for found in listed:
                if len(mine) >= share:
                    break
                if found.leased or (found.topic, found.partition) in mine:
                    continue
                token = secrets.token_hex(16)
                if conn.execute(self._q["queue_lease_take"], {
                        **key, "topic": found.topic, "partition_id": found.partition,
                        "owner": owner, "lease_token": token}):
                    mine[(found.topic, found.partition)] = token
            positions = {(p.topic, p.partition): p.next_offset for p in listed}
            return {tp: QueueLease(tp[0], tp[1], token, positions.get(tp))
                    for tp, token in mine.items()}
        return self._write(work)

    def queue_leases_release(self, group_id: str, held: Mapping[tuple[str, int], str]) -> None:
        """Give back leases (a stopping jobu-queued), so others take them at once."""
        def work(conn: Connection) -> None:
            for (topic, partition), token in sorted(held.items()):
                conn.execute(self._q["queue_lease_release"], {
                    "group_id": group_id, "topic": topic, "partition_id": partition,
                    "lease_token": token})
        self._write(work)

    def queue_commit_batch(self, group_id: str, advances: Sequence[QueueAdvance],
                           executions: Sequence[NewExecution],
                           dead_letters: Sequence[NewDeadLetter],
                           now: datetime | None = None,
                           messages: Sequence[QueueMessage | None] | None = None
                           ) -> QueueBatchReport:
        """Write a batch of messages and the positions they reach, in ONE transaction.

        Fenced: each partition's position moves only for the holder of its unexpired lease
        and only from the offset the batch started at. When any partition fails that test,
        nothing is written and the report names the partitions lost; the caller drops their
        messages and writes the rest again. A row whose dedupe key (topic/partition/offset)
        is already there is counted as a duplicate, not inserted twice. `messages`, in the
        order of `executions`, are the key and headers of the message each came from (None:
        none to keep), written beside the executions inserted (table queue_messages).
        """
        advances, news, letters = list(advances), list(executions), list(dead_letters)
        origins = list(messages) if messages is not None else []

        def work(conn: Connection) -> QueueBatchReport:
            lost = []
            for advance in advances:  # first: the row locks fence out a takeover
                if not conn.execute(self._q["queue_position_advance"], {
                        "group_id": group_id, "topic": advance.topic,
                        "partition_id": advance.partition, "lease_token": advance.lease_token,
                        "expected_offset": -1 if advance.expected_offset is None
                        else advance.expected_offset,
                        "next_offset": advance.next_offset, "now": now}):
                    lost.append((advance.topic, advance.partition))
            if lost:
                raise _QueuePartitionsLostError(lost)
            ids = self._insert_unique_ticks(conn, news, now) if news else []
            self._notify_runnable(conn, news, ids)
            kept = [_queue_message_row(execution_id, origin)
                    for execution_id, origin in zip(ids, origins, strict=False)
                    if execution_id is not None and origin is not None]
            if kept:
                conn.execute(self._q["queue_message_insert_batch"],
                             {"rows": json.dumps(kept, separators=(",", ":"))})
            for letter in letters:
                conn.execute(self._q["dead_letter_insert"], {
                    **_dead_letter_params(group_id, letter), "now": now})
            inserted = sum(1 for i in ids if i is not None)
            return QueueBatchReport(inserted, len(ids) - inserted, len(letters), frozenset())
        try:
            return self._write(work)
        except _QueuePartitionsLostError as lost:
            return QueueBatchReport(0, 0, 0, frozenset(lost.partitions))

    def _insert_unique_ticks(self, conn: Connection, news: list[NewExecution],
                             now: datetime | None) -> list[int | None]:
        """Insert `news`; an event that names a cron and meets another row of that cron at
        the same scheduled time (UNIQUE(job_id, scheduled_time)) is moved a microsecond
        later until it fits, so that only a repeated dedupe key counts as a duplicate."""
        ids = self._insert_rows(conn, news, now)
        for index, new in enumerate(news):
            while ids[index] is None and new.job_id is not None and new.dedupe_key and \
                    conn.fetch_one(self._q["execution_get_by_dedupe_key"],
                                   {"dedupe_key": new.dedupe_key}) is None:
                when = new.scheduled_time or self.database_now()
                new = dataclasses.replace(new, scheduled_time=when + _MICROSECOND)
                news[index] = new
                ids[index] = self._insert_rows(conn, [new], now)[0]
        return ids

    def queue_message_get(self, execution_id: int) -> QueueMessage | None:
        """The key and headers of the message an execution came from (None: no message,
        or one with neither)."""
        row = self._read(lambda c: c.fetch_one(self._q["queue_message_get"],
                                                {"execution_id": execution_id}))
        if row is None:
            return None
        key = row["message_key"]
        return QueueMessage(
            topic=row["topic"], partition=int(row["partition_id"]),
            offset=int(row["message_offset"]),
            key=None if key is None else base64.b64decode(key),
            headers=tuple((name, base64.b64decode(value))
                          for name, value in json.loads(row["headers"])))

    def dead_letter_prune(self, days: int, *, batch_size: int = 1000,
                          now: datetime | None = None) -> int:
        """Delete up to `batch_size` dead letters received over `days` days ago; how many."""
        return self._write(lambda c: c.execute(self._q["dead_letter_prune"], {
            "days": int(days), "limit": int(batch_size), "now": now}))

    def cron_ids_existing(self, job_ids: Iterable[int]) -> set[int]:
        """Those of `job_ids` that name a cron (an event may link its execution to one)."""
        wanted = sorted(set(job_ids))

        def work(conn: Connection) -> set[int]:
            return {job_id for job_id in wanted
                    if conn.fetch_one(self._q["cron_get_by_id"], {"id": job_id}) is not None}
        return self._read(work) if wanted else set()

    def dead_letter_list(self, *, topic: str | None = None, limit: int = 50) -> list[DeadLetter]:
        """Dead letters, newest first (of one topic when given)."""
        found = self._read(lambda c: c.fetch_all(self._q["dead_letter_list"], {
            "topic": topic, "limit": int(limit)}))
        return [self._dead_letter(row) for row in found]

    def dead_letter_get(self, dead_letter_id: int) -> DeadLetter:
        row = self._read(lambda c: c.fetch_one(self._q["dead_letter_get"],
                                                {"id": dead_letter_id}))
        if row is None:
            raise NotFoundError(f"no dead letter with id {dead_letter_id}; "
                                "`jobu queue dead-letters list` shows them")
        return self._dead_letter(row)

    def dead_letter_discard(self, dead_letter_id: int) -> None:
        """Delete a dead letter (NotFoundError when there is none with that id)."""
        if not self._write(lambda c: c.execute(self._q["dead_letter_delete"],
                                               {"id": dead_letter_id})):
            raise NotFoundError(f"no dead letter with id {dead_letter_id}")

    def dead_letter_replay(self, dead_letter_id: int, new: NewExecution) -> int | None:
        """Insert the execution a dead letter now makes and delete the letter, in one
        transaction; the execution's id, None when its dedupe key already had one."""
        def work(conn: Connection) -> int | None:
            if not conn.execute(self._q["dead_letter_delete"], {"id": dead_letter_id}):
                raise NotFoundError(f"no dead letter with id {dead_letter_id}")
            ids = self._insert_unique_ticks(conn, [new], None)
            self._notify_runnable(conn, [new], ids)
            return ids[0]
        return self._write(work)

    def dead_letter_set_reason(self, dead_letter_id: int, reason: str) -> None:
        self._write(lambda c: c.execute(self._q["dead_letter_set_reason"],
                                        {"id": dead_letter_id, "reason": reason}))

    def _dead_letter(self, row: Mapping[str, Any]) -> DeadLetter:
        headers = [(name, base64.b64decode(value)) for name, value in json.loads(row["headers"])]
        key = row["message_key"]
        return DeadLetter(
            id=int(row["id"]), group_id=row["group_id"], topic=row["topic"],
            partition=int(row["partition_id"]), offset=int(row["message_offset"]),
            key=None if key is None else bytes(key), headers=headers, raw=bytes(row["raw"]),
            reason=row["reason"], received_at=self._time(row["received_at"]))


# --- jobu-queued's records ---------------------------------------------------------------

_MICROSECOND = timedelta(microseconds=1)


@dataclasses.dataclass(frozen=True)
class QueuePartition:
    """One row of queue_partitions: a partition's position and lease."""

    topic: str
    partition: int
    #: The next offset to consume; None: nothing consumed yet.
    next_offset: int | None
    owner: str | None
    #: Whether a lease is held (not expired, by the database's clock).
    leased: bool


@dataclasses.dataclass(frozen=True)
class QueueLease:
    """A partition lease a jobu-queued process holds, and where the partition resumes."""

    topic: str
    partition: int
    token: str
    next_offset: int | None


@dataclasses.dataclass(frozen=True)
class QueueAdvance:
    """A batch moves a partition's position from `expected_offset` to `next_offset`."""

    topic: str
    partition: int
    lease_token: str
    expected_offset: int | None
    next_offset: int


@dataclasses.dataclass(frozen=True)
class NewDeadLetter:
    """A message that could not become an execution, to keep with the reason."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: Sequence[tuple[str, bytes]]
    raw: bytes
    reason: str


@dataclasses.dataclass(frozen=True)
class QueueMessage:
    """Where an execution's message was, and its key and headers (kept beside it)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: Sequence[tuple[str, bytes]]


@dataclasses.dataclass(frozen=True)
class DeadLetter:
    """One row of dead_letters."""

    id: int
    group_id: str
    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: list[tuple[str, bytes]]
    raw: bytes
    reason: str
    received_at: datetime | None


@dataclasses.dataclass(frozen=True)
class QueueBatchReport:
    """What queue_commit_batch wrote; nothing at all when `lost` is not empty."""

    inserted: int
    duplicates: int
    dead_letters: int
    #: (topic, partition) whose lease the caller no longer holds.
    lost: frozenset[tuple[str, int]]


class _QueuePartitionsLostError(Exception):
    """Rolls queue_commit_batch's transaction back when a partition's lease is lost."""

    def __init__(self, partitions: list[tuple[str, int]]) -> None:
        self.partitions = partitions
        super().__init__(f"partition leases lost: {partitions}")


def _queue_partition(row: Mapping[str, Any]) -> QueuePartition:
    offset = row["next_offset"]
    return QueuePartition(row["topic"], int(row["partition_id"]),
                          None if offset is None else int(offset), row["owner"],
                          bool(row["leased"]))


def _queue_message_row(execution_id: int, message: QueueMessage) -> list[Any]:
    key = None if message.key is None else base64.b64encode(message.key).decode("ascii")
    headers = [[name, base64.b64encode(value or b"").decode("ascii")]
               for name, value in message.headers]
    return [execution_id, message.topic, message.partition, message.offset, key,
            json.dumps(headers, separators=(",", ":"))]


def _dead_letter_params(group_id: str, letter: NewDeadLetter) -> dict[str, Any]:
    headers = [[name, base64.b64encode(value or b"").decode("ascii")]
               for name, value in letter.headers]
    return {"group_id": group_id, "topic": letter.topic, "partition_id": letter.partition,
            "message_offset": letter.offset, "message_key": letter.key,
            "headers": json.dumps(headers), "raw": letter.raw, "reason": letter.reason}
