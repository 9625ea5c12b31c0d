"""The ``trust`` table: reviews of plugins and helpful votes on them."""
from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute
from pynamodb.models import Model


class TrustTable(Model):
    class Meta:
        base_name = "trust"
        table_name = "trust"

    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
