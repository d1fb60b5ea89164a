"""Adapters that plug into execution_core ports."""
