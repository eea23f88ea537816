"""Append-only audit log, chained by keyed hashes (HMAC-SHA256 with the project secret).

Each event carries the hash of its predecessor; the head row keeps the count and last hash under
a MAC. Editing an event breaks its hash, inserting or deleting one breaks the sequence or the
chain, cutting the tail breaks the head's MAC. Someone with database access but without the
project secret cannot re-forge the chain.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from dermset.registry.keys import Keyring
from dermset.registry.tables import AuditEvent, AuditHead

GENESIS = "0" * 64


def _canonical_time(at: datetime) -> str:
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat(timespec="microseconds")


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return _canonical_time(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _changes_text(changes: dict[str, Any]) -> str:
    return json.dumps(
        {k: [_jsonable(v[0]), _jsonable(v[1])] for k, v in sorted(changes.items())},
        ensure_ascii=False,
        separators=(",", ":"),
        sort_keys=True,
    )


def _payload(
    seq: int, at: datetime, actor: str, entity: str, key: str, action: str, changes: str
) -> str:
    return json.dumps(
        [seq, _canonical_time(at), actor, entity, key, action, changes],
        separators=(",", ":"),
        ensure_ascii=False,
    )


class AuditLog:
    def __init__(self, keys: Keyring):
        self.keys = keys

    def _hash(self, prev: str, payload: str) -> str:
        return self.keys.mac("audit-chain", prev + payload)

    def _head_mac(self, seq: int, last: str) -> str:
        return self.keys.mac("audit-head", f"{seq}:{last}")

    def record(
        self,
        session: Session,
        *,
        actor: str,
        entity: str,
        key: str,
        action: str,
        changes: dict[str, tuple[Any, Any] | list[Any]],
    ) -> AuditEvent:
        """Append one event in the caller's transaction (so it commits with the change)."""
        head = self._locked_head(session)
        text = json.dumps(
            {k: [_jsonable(v[0]), _jsonable(v[1])] for k, v in sorted(changes.items())},
            ensure_ascii=False,
            separators=(",", ":"),
            sort_keys=True,
        )
        seq = head.seq + 1
        at = datetime.now(UTC)
        digest = self._hash(head.hash, _payload(seq, at, actor, entity, key, action, text))
        event = AuditEvent(
            seq=seq,
            at=at,
            actor=actor,
            entity=entity,
            entity_key=key,
            action=action,
            changes=text,
            prev_hash=head.hash,
            hash=digest,
        )
        session.add(event)
        head.seq, head.hash, head.mac = seq, digest, self._head_mac(seq, digest)
        return event

    def record_many(self, session: Session, events: list[dict[str, Any]]) -> None:
        """Append many events at once (bulk imports): one round trip instead of one per event.

        Each item has the keyword arguments of :meth:`record`.
        """
        if not events:
            return
        head = self._locked_head(session)
        rows = []
        for ev in events:
            text = _changes_text(ev["changes"])
            seq = head.seq + 1
            at = datetime.now(UTC)
            digest = self._hash(
                head.hash,
                _payload(seq, at, ev["actor"], ev["entity"], ev["key"], ev["action"], text),
            )
            rows.append(
                {
                    "seq": seq,
                    "at": at,
                    "actor": ev["actor"],
                    "entity": ev["entity"],
                    "entity_key": ev["key"],
                    "action": ev["action"],
                    "changes": text,
                    "prev_hash": head.hash,
                    "hash": digest,
                }
            )
            head.seq, head.hash = seq, digest
        head.mac = self._head_mac(head.seq, head.hash)
        session.execute(insert(AuditEvent), rows)

    def _locked_head(self, session: Session) -> AuditHead:
        """The chain head, locked for this transaction (loaded once per transaction).

        Locking the head row serialises writers on PostgreSQL; SQLite's BEGIN IMMEDIATE already
        does. Caching it per transaction keeps a 100,000-row import from re-reading it per row.
        """
        tx = session.get_transaction()
        cached = session.info.get("audit_head")
        if cached is not None and cached[0] is tx:
            return cached[1]
        head = session.execute(
            select(AuditHead).where(AuditHead.id == 1).with_for_update()
        ).scalar_one_or_none()
        if head is None:
            head = AuditHead(id=1, seq=0, hash=GENESIS, mac=self._head_mac(0, GENESIS))
            session.add(head)
        session.info["audit_head"] = (tx, head)
        return head

    def verify(self, session: Session) -> list[str]:
        """Every inconsistency in the chain, in order (empty: intact)."""
        problems: list[str] = []
        prev_hash, expected_seq = GENESIS, 1
        for ev in _events(session):
            if ev.seq != expected_seq:
                problems.append(
                    f"event {ev.seq}: expected event {expected_seq} here "
                    f"({'events deleted' if ev.seq > expected_seq else 'sequence broken'})"
                )
            if ev.prev_hash != prev_hash:
                problems.append(
                    f"event {ev.seq}: does not follow its predecessor "
                    "(an event was inserted or deleted before it)"
                )
            payload = _payload(
                ev.seq, ev.at, ev.actor, ev.entity, ev.entity_key, ev.action, ev.changes
            )
            if self._hash(ev.prev_hash, payload) != ev.hash:
                problems.append(
                    f"event {ev.seq}: content was altered "
                    f"({ev.entity} {ev.entity_key}, {ev.action})"
                )
            prev_hash, expected_seq = ev.hash, ev.seq + 1
        head = session.get(AuditHead, 1)
        last_seq = expected_seq - 1
        if head is None:
            if last_seq:
                problems.append("the chain head is missing")
        else:
            if head.mac != self._head_mac(head.seq, head.hash):
                problems.append("the chain head was altered")
            if head.seq != last_seq or head.hash != prev_hash:
                problems.append(
                    f"the log ends at event {last_seq} but the head records {head.seq} events "
                    "(events were deleted or added at the end)"
                )
        return problems

    def count(self, session: Session) -> int:
        head = session.get(AuditHead, 1)
        return head.seq if head else 0


def _events(session: Session) -> Iterator[AuditEvent]:
    yield from session.execute(
        select(AuditEvent).order_by(AuditEvent.seq).execution_options(yield_per=2000)
    ).scalars()


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The fields whose values differ, as {field: (before, after)}."""
    return {
        k: (before.get(k), after.get(k))
        for k in sorted(set(before) | set(after))
        if before.get(k) != after.get(k)
    }


@dataclass(frozen=True)
class Actor:
    """Who makes a change: a person's user name, or a command acting for them."""

    name: str

    def __str__(self) -> str:
        return self.name
