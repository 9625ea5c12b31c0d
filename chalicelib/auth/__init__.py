"""Identity: users, passwords, access tokens (JWT) and marketplace API keys."""
