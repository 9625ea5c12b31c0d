"""Webhook deliveries from plugins' outboxes: signed, retried, logged for the user."""
