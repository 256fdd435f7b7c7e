"""Quantum systems."""
