"""Trust: ratings and reviews from real users, and certification tiers (listed, verified, premier)."""
