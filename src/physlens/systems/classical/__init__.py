"""Classical systems."""
