"""Small words that depend on the word after them."""

from __future__ import annotations


def article(label) -> str:
    """Return the indefinite article for label as it is read aloud: "a" (7), "an" (8, Ankle boot)."""
    text = str(label)
    # eight, eleven and eighteen start with a vowel sound; so do class names such as Ankle boot
    vowel_sound = text[:1].lower() in tuple("aeiou") or text.startswith("8") or text in ("11", "18")
    return "an" if vowel_sound else "a"


def with_article(label) -> str:
    """Return label after its indefinite article: "a 7", "an 8"."""
    return f"{article(label)} {label}"
