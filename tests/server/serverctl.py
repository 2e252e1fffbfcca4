"""Moved to bench/serverctl.py (shared with bench/); kept for imports in flight."""

from bench.serverctl import ServerProcess, free_port, running_server, start_server

__all__ = ["ServerProcess", "free_port", "running_server", "start_server"]
