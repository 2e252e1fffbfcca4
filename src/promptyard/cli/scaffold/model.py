"""A stand-in for a model: replace it with a real provider in promptyard.yaml."""


def call_api(prompt, options, context):
    topic = context["vars"]["topic"]
    audience = context["vars"]["audience"]
    return f"Good news for {audience}: {topic} makes every day a little brighter!"
