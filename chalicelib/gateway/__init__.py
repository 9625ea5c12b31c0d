"""The plugin gateway: /plugins/{name}/v{major}/{proxy+} -> identity, entitlement, limits,
plugin runtime, metering, response (DESIGN.md, "How a call flows")."""
