"""One normalisation of account identifiers (emails and usernames) and the email domain rule.

Every comparison of identifiers goes through `identity_key`: uniqueness (the `email_key` and
`username_key` columns carry unique constraints), lookups (login, registration, adding a member
by email) and the failed-login counters. Comparing any other way lets two spellings that render
alike reach one account through different doors: `ſales@` (long s) matched `sales@` in a
case-insensitive database lookup but had its own lockout counter, and a Kelvin sign `K` took
the address `k...@` for good under `LOWER(email)`.

This module imports only the standard library, so every layer (models included) may use it.
"""

import unicodedata

#: Letters of these scripts may share one domain label: the combinations legitimately used
#: together (Japanese, Chinese with Bopomofo, Korean), each optionally with Latin.
_COMPATIBLE_SCRIPTS = (
    frozenset({"LATIN", "CJK", "HIRAGANA", "KATAKANA"}),
    frozenset({"LATIN", "CJK", "BOPOMOFO"}),
    frozenset({"LATIN", "CJK", "HANGUL"}),
)

#: Cyrillic and Greek letters that render like Latin ones. A label written only with them
#: (`аре`, `рау`) impersonates a Latin name without mixing scripts.
_LATIN_LOOKALIKES = {
    "CYRILLIC": frozenset("аысԁеԍһіюјӏорԗԛѕԝхуъьҽпгѵѡ"),
    "GREEK": frozenset("αικνορτυχ"),
}

DOMAIN_REFUSED = "Enter an email address whose domain does not mix or imitate scripts."


def identity_key(value: str) -> str:
    """The comparable form of an identifier: NFKC, case-folded, NFKC again, trimmed.

    NFKC folds compatibility characters (long s, the Kelvin sign, ligatures, full-width forms)
    into their ordinary letters; case folding is Unicode's caseless match (`ß` = `ss`), and the
    second NFKC pass is needed because folding can produce unnormalised sequences.
    """
    folded = unicodedata.normalize("NFKC", value).casefold()
    return unicodedata.normalize("NFKC", folded).strip()


def normalise_spelling(value: str) -> str:
    """The spelling stored for an identifier: NFKC, case kept (what the user sees)."""
    return unicodedata.normalize("NFKC", value).strip()


def _script(char: str) -> str | None:
    """The script of a letter, read from its Unicode name; None for digits, hyphens, marks."""
    if not unicodedata.category(char).startswith("L"):
        return None
    name = unicodedata.name(char, "")
    return name.split(" ", 1)[0] if name else "UNKNOWN"


def _label_refused(label: str, tld_script: str | None) -> bool:
    scripts = {script for char in label if (script := _script(char)) is not None}
    if len(scripts) > 1 and not any(scripts <= allowed for allowed in _COMPATIBLE_SCRIPTS):
        return True
    if len(scripts) == 1 and tld_script != next(iter(scripts)):
        lookalikes = _LATIN_LOOKALIKES.get(next(iter(scripts)))
        letters = {char for char in label if _script(char) is not None}
        return lookalikes is not None and letters <= lookalikes
    return False


def email_domain_refused(email: str) -> bool:
    """Whether the domain of `email` mixes scripts within a label or imitates a Latin name.

    Checked per label (`пример.рф` is fine, `аcme.example` with a Cyrillic `а` is not), on the
    normalised form, so compatibility characters cannot hide a second script.
    """
    _local, _at, domain = identity_key(email).rpartition("@")
    labels = [label for label in domain.split(".") if label]
    if not labels:
        return False
    tld_scripts = {script for char in labels[-1] if (script := _script(char)) is not None}
    tld_script = next(iter(tld_scripts)) if len(tld_scripts) == 1 else None
    return any(_label_refused(label, tld_script) for label in labels)
