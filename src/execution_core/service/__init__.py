"""The async orchestration over the ports."""
