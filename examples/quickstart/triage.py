"""The program under test: a small, rule-based support-ticket triager.

Promptyard calls `triage` through the python provider with the rendered prompt, exactly as it
would call a model, so the quickstart runs offline. Swap the provider for a real model (see the
README) and the same tests judge the model instead.
"""

import json
import re

CATEGORIES = {
    "billing": ("invoice", "charged", "refund", "payment", "price", "factura"),
    "outage": ("down", "outage", "error 500", "cannot log in", "can't log in", "not loading"),
    "feature": ("would be great", "feature", "could you add", "wish"),
}
URGENT = ("asap", "urgent", "immediately", "production", "all users")


def triage(prompt, options, context):
    """Return {"category", "priority", "reply"} as JSON text, like a model asked for JSON."""
    ticket = _ticket_from(prompt).lower()
    category = next(
        (name for name, words in CATEGORIES.items() if any(w in ticket for w in words)),
        "other",
    )
    priority = "high" if any(w in ticket for w in URGENT) or category == "outage" else "normal"
    name = context["vars"].get("customer", "there")
    reply = {
        "billing": f"Hi {name}, we have passed your billing question to our finance team.",
        "outage": f"Hi {name}, we are investigating the problem and will update you shortly.",
        "feature": f"Hi {name}, thanks for the idea! We have shared it with the product team.",
        "other": f"Hi {name}, thanks for reaching out. An agent will reply within a day.",
    }[category]
    if "json" not in prompt.lower():  # the older prompt does not ask for JSON
        return reply
    return {
        "output": json.dumps({"category": category, "priority": priority, "reply": reply}),
        "tokenUsage": {"prompt": len(prompt.split()), "completion": len(reply.split())},
    }


def _ticket_from(prompt):
    match = re.search(r"<ticket>(.*?)</ticket>", prompt, re.S)
    return match.group(1) if match else prompt
