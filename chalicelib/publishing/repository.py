"""DynamoDB persistence of submissions. Every status move is conditional on the status read, and
adds or deletes the submission's ``PENDING#<kind>`` item in the same transaction, so the
scheduled job's list of work is exactly the submissions that wait for it."""
from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pynamodb.exceptions import TransactWriteError
from pynamodb.expressions.update import Action
from pynamodb.transactions import TransactWrite

from chalicelib.core.dynamo import find, run_transaction
from chalicelib.core.errors import ConflictError, NotFoundError
from chalicelib.publishing.records import PendingRecord, PublishingTable, SubmissionRecord

CHECKS, DEPLOYMENT = "checks", "deployment"  # the kinds of pending work


class SubmissionRepository:
    def load(self, submission_id: str) -> SubmissionRecord:
        record = find(SubmissionRecord, SubmissionRecord.key(submission_id))
        if record is None:
            raise NotFoundError("no such submission", code="submission_not_found")
        return record

    @staticmethod
    def by_developer(developer_id: str, limit: int = 200) -> list[SubmissionRecord]:
        return list(SubmissionRecord.by_developer.query(developer_id, scan_index_forward=False, limit=limit))

    @staticmethod
    def add(record: SubmissionRecord) -> None:
        record.save(condition=SubmissionRecord.pk.does_not_exist())

    @staticmethod
    def pending(kind: str, limit: int = 100) -> Iterator[PendingRecord]:
        yield from PendingRecord.query(PendingRecord.key(kind, "")[0], limit=limit)

    @staticmethod
    def move(record: SubmissionRecord, status: str, actions: list[Action], *, now: datetime,
             pending_add: str | None = None, pending_remove: tuple[str, ...] = ()) -> None:
        """``record`` (as read) to ``status`` with ``actions``, provided nobody moved it meanwhile."""
        def build(tx: TransactWrite) -> None:
            tx.update(record, actions=actions, condition=SubmissionRecord.status == record.status)
            for kind in pending_remove:
                if kind != pending_add:
                    tx.delete(PendingRecord(*PendingRecord.key(kind, record.submission_id)))
            if pending_add:
                tx.save(PendingRecord(*PendingRecord.key(pending_add, record.submission_id),
                                      submission_id=record.submission_id, since=now))

        try:
            run_transaction(PublishingTable, build)
        except TransactWriteError as exc:
            raise ConflictError(f"submission {record.submission_id} changed meanwhile; try again",
                                code="submission_changed") from exc
        record.refresh(consistent_read=True)

    @staticmethod
    def forget(kind: str, submission_id: str) -> None:
        """A pending item whose submission has moved on (written before a crash, or a lost race)."""
        PendingRecord(*PendingRecord.key(kind, submission_id)).delete()
