"""The audit log: every admin action (and the platform's own automatic ones): who, what, when, why."""
