"""Publishing: a developer submits a plugin package; automated checks run in isolation and score it;
an admin reviews it; approval deploys the package and publishes the version in the catalog."""
