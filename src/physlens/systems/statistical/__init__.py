"""Statistical systems."""
