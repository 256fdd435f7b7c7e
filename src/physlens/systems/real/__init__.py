"""Real systems."""
