"""The ``publishing`` table: one item per submission of a plugin package."""
from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
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
    status = UnicodeAttribute()  # queued | checking | checks_failed | in_review | approved | rejected
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
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()

    @staticmethod
    def key(submission_id: str) -> tuple[str, str]:
        return f"SUB#{submission_id}", "META"
