"""Licence keys: RS256-signed JWTs stating what a user holds on a plugin, verifiable offline."""
