"""What the platform tells a user or developer: plugin auto-disabled, payout held or paid, payment failed."""
