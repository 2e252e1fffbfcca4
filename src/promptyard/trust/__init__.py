"""The trust boundary: what a config (and everything else that arrives over HTTP) may reach.

One `TrustPolicy`, built from settings by each composition root (strict for the server,
permissive for the CLI and library) and passed explicitly to every place that turns input
into an action. docs/security.md is its contract.
"""

from promptyard.trust.policy import TrustPolicy

__all__ = ["TrustPolicy"]
