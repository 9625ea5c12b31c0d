"""Deployment tooling: generated per-plugin Chalice configs (plugin_config) and IAM policies."""
