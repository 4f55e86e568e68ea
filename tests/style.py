"""The one style of the words a person reads in a result: a hint ("how to fix it") and
an impact ("why it matters on Day 1") are sentences that start in lower case (or with an
identifier or acronym: ``pwdReset``, ``SPF``) and end without a full stop, so that
reports can join them into lines."""

from __future__ import annotations


def sentence_problem(text: str) -> str:
    """What is wrong with ``text`` under the style ("" = nothing)."""
    if not text:
        return ""
    if text != text.strip():
        return "leading or trailing blanks"
    if text.endswith("."):
        return "ends with a full stop"
    first = text.split()[0].rstrip(",:;")
    if first[0].isupper() and (len(first) == 1 or first[1:].islower()):
        return f"starts with the capitalised word {first!r}"
    return ""


def assert_sentence(text: str) -> None:
    problem = sentence_problem(text)
    assert not problem, f"{problem}: {text!r}"
