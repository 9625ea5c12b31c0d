"""Revenue: the double-entry ledger of every money movement (the one owner of the ``revenue`` table)."""
