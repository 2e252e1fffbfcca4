"""A stand-in proposer model for the offline optimizer example (optimize.yaml).

The `instruct` optimizer shows a proposer model the prompt, its score and its failures, and
asks for a better prompt. A real model would read the failures ("not valid JSON"); this one
knows the single fix triage.py responds to, so the example runs with no network and no key.
"""


def propose(prompt, options, context):
    """Return a rewritten prompt that asks for JSON, keeping the template's variables."""
    return (
        "You are a support agent. Triage the ticket from the customer {{ customer }}.\n"
        "Answer in JSON with the keys category, priority and reply.\n"
        "<ticket>{{ ticket }}</ticket>"
    )
