"""Promptyard: test, tune and ship LLM prompts."""
