"""Users' money: Stripe customers, plans bought per plugin, monthly usage invoices, Stripe events."""
