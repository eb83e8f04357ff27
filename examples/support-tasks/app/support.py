"""A tiny offline stand-in for a support LLM app with two jobs: classify a customer message's intent, and
summarise a support thread. Deterministic, no network: it lets the example run anywhere (`evalgate check`)."""

from __future__ import annotations

INTENTS = {  # checked in this order: the first intent with a word in the message wins
    "refund": ("refund", "money back", "return"),
    "billing": ("invoice", "charge", "charged", "bill", "payment", "price"),
    "account": ("password", "login", "log in", "locked", "email"),
    "bug": ("crash", "error", "broken", "bug", "fails"),
}


def classify(message: str) -> str:
    """The intent of a message, answered the way the new prompt does: "Intent: NAME"."""
    text = message.lower()
    for intent, words in INTENTS.items():
        if any(word in text for word in words):
            return f"Intent: {intent}"
    return "Intent: other"


def summarise(thread: str) -> str:
    """A one-sentence summary of a thread: its first message's first sentence."""
    first = thread.split("\n")[0]
    return first.split(". ")[0].rstrip(".") + "."
