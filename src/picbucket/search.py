"""Title search: the words a title is found by, shared by both record stores.

A query matches a title when every query word starts one of the title's words,
ignoring case and accents ("bea" finds "Beach at Noon", "cafe" finds "Café").
SQLite stores the words as one space-separated column and tests each query word
with ``instr``; Firestore stores every prefix of every word in an array and asks
``array_contains`` for one query word, testing the rest here with ``matches``.
"""

from __future__ import annotations

import re
import unicodedata

# Letters and digits only: "IMG_5001" is the words "img" and "5001".
_WORD = re.compile(r"[^\W_]+")
# A title is at most 200 characters; these caps bound a hostile query's work too.
MAX_QUERY_WORDS = 8
MAX_WORD = 40


def words(text: str) -> list[str]:
    """Return the distinct search words of ``text``: case-folded, accents removed, in order."""
    folded = unicodedata.normalize("NFKD", text.casefold())
    plain = "".join(ch for ch in folded if not unicodedata.combining(ch))
    seen: dict[str, None] = {}
    for word in _WORD.findall(plain):
        seen.setdefault(word[:MAX_WORD], None)
    return list(seen)


def query_words(query: str | None) -> list[str]:
    """Return the words of a search box entry (empty: no search)."""
    return words(query or "")[:MAX_QUERY_WORDS]


def word_column(title: str) -> str:
    """Return SQLite's stored form: the words between spaces, so ``' ' + word`` finds a prefix."""
    return " " + " ".join(words(title)) + " "


def prefix_terms(title: str) -> list[str]:
    """Return Firestore's stored form: every prefix of every word of ``title``."""
    terms: dict[str, None] = {}
    for word in words(title):
        for end in range(1, len(word) + 1):
            terms.setdefault(word[:end], None)
    return list(terms)


def matches(title: str, wanted: list[str]) -> bool:
    """Return True if every wanted word starts some word of ``title``."""
    have = words(title)
    return all(any(word.startswith(w) for word in have) for w in wanted)
