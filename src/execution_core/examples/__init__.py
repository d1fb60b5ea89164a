"""Runnable examples (pure: the domain only)."""
