"""Jobs: the queue, their lifecycle and events (see docs/server.md)."""
