"""The plugin catalog: manifests, versions, review status and marketplace search."""
