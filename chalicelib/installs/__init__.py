"""Installs: which user has which plugin, at which major version, configured how."""
