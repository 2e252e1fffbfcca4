"""Unit tests for promptyard.optimize (pure parts)."""
