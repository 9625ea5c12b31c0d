"""Publishing: a developer submits a plugin package; automated checks run in isolation and score it;
an admin reviews it; approval deploys the package (its own function in AWS) and the catalog publishes
the version once that function is live."""
