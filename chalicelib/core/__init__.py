"""Shared kernel: settings, errors, HTTP glue, DynamoDB binding. No business rules."""
