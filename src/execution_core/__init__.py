"""Execution core."""
