"""Small points of English that depend on the words a message is built from."""

from __future__ import annotations

__all__ = ["with_article"]

# Letters whose spoken name starts with a vowel sound: A, E, F ("ef"), H ("aitch"), I, L,
# M, N, O, R, S, X ("ex"). A word read letter by letter takes "an" after these.
_VOWEL_SOUND_LETTERS = frozenset("aefhilmnorsx")
# Written with a vowel, spoken with a consonant ("a unit", "a European"), and the reverse.
_CONSONANT_SOUND_STARTS = ("uni", "use", "usu", "uti", "ura", "eu", "one", "once")
_VOWEL_SOUND_STARTS = ("hour", "honest", "honor", "honour", "heir")


def with_article(word: str) -> str:
    """``word`` after "a" or "an", by how it sounds: "an xai", "an OpenAI", "a Google",
    "an LLM", "a URL", "a unit", "an hour"."""
    return f"{'an' if _starts_with_vowel_sound(word) else 'a'} {word}"


def _starts_with_vowel_sound(word: str) -> bool:
    letters = "".join(c for c in word if c.isalpha())
    if not letters:
        return False
    lower = letters.lower()
    if _spelled_out(letters):
        return lower[0] in _VOWEL_SOUND_LETTERS
    if lower.startswith(_VOWEL_SOUND_STARTS):
        return True
    if lower.startswith(_CONSONANT_SOUND_STARTS):
        return False
    # "x" is "ex" (xai, x-ray) except where it sounds "z" (xenon, xylophone).
    return lower[0] in "aeiou" or (lower[0] == "x" and lower[1:2] not in ("e", "y"))


def _spelled_out(letters: str) -> bool:
    """Whether the first letter is said by its name: an initialism (``LLM``, ``URL``), a
    lowercase letter before a capital (``xAI``, ``eBay``), or no vowel at all (``vllm``)."""
    initialism = len(letters) > 1 and letters[1].isupper()
    return initialism or not any(c in "aeiouy" for c in letters.lower())
