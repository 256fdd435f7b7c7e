"""Laws systems."""
