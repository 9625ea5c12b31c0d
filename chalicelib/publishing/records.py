"""The ``publishing`` table: one item per submission of a plugin package, and one ``PENDING#<kind>``
item per submission a scheduled job must move on (checks to collect, a deployment to follow).

The pending items are a sparse "index" kept in the table itself: the job reads one partition
per minute instead of scanning every submission, and no table schema (GSI) had to change."""
from __future__ import annotations

from pynamodb.attributes import JSONAttribute, ListAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model


class ByDeveloperIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_developer"
        projection = AllProjection()

    developer_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class PublishingTable(Model):
    class Meta:
        base_name = "publishing"
        table_name = "publishing"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    by_developer = ByDeveloperIndex()


class SubmissionRecord(PublishingTable):
    submission_id = UnicodeAttribute()
    developer_id = UnicodeAttribute()
    plugin = UnicodeAttribute()
    version = UnicodeAttribute()
    # queued | checking | checks_failed | in_review | rejected | approved | deploying | live | deploy_failed
    # | superseded | undeploying | undeployed (chalicelib/publishing/states.py)
    status = UnicodeAttribute()
    manifest = JSONAttribute()
    artifact_key = UnicodeAttribute()
    artifact_sha256 = UnicodeAttribute()
    size_bytes = NumberAttribute()
    score = NumberAttribute(null=True)
    report = JSONAttribute(null=True)  # the checks' report: checks, score, reasons
    log = UnicodeAttribute(null=True)  # the checks' output, truncated
    history = JSONAttribute(default=list)  # [{status, at, note}]
    review_notes = UnicodeAttribute(null=True)
    reviewed_by = UnicodeAttribute(null=True)
    deployment = JSONAttribute(null=True)  # {target, phase, reason, attempt, updated_at}: where its code runs
    # The checks to run (None: all). Only the platform's own reference plugins, submitted by the
    # operator command, leave out "tests": their suites need the repository and run there.
    checks_only = ListAttribute(of=UnicodeAttribute, null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()

    @staticmethod
    def key(submission_id: str) -> tuple[str, str]:
        return f"SUB#{submission_id}", "META"


class PendingRecord(PublishingTable):
    """A submission waiting for the scheduled job: ``kind`` is "checks" (results to collect from the
    checks function) or "deployment" (a stack to follow). Written and deleted with the status move."""

    submission_id = UnicodeAttribute()
    since = UTCDateTimeAttribute()

    @staticmethod
    def key(kind: str, submission_id: str) -> tuple[str, str]:
        return f"PENDING#{kind}", f"SUB#{submission_id}"
