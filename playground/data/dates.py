"""Human-written dates and their ISO form: the ``dates`` sequence-to-sequence task.

Each example is one calendar day between 1950-01-01 and 2049-12-31 written by a person in
one of :data:`FORMATS` ("3 March 1998", "03/03/98", "March 3rd, 1998", "Tue 3 Mar 1998",
...), and the same day in ISO 8601, "1998-03-03". The neural-machine-translation toy of
Bahdanau et al. 2015 ("Neural Machine Translation by Jointly Learning to Align and
Translate") made small: an encoder reads the human string, an attentive decoder writes the
ISO one, and the attention's alignment shows the year digits looking at the year, the month
at the month name.

Conventions a model must learn (and a reader must know):

* Numeric dates are day first (British): "03/04/98" is 3 April 1998, never 4 March.
* A two-digit year ``yy`` is 19yy for yy >= 50 and 20yy below (so "03/03/49" is 2049).
* Train and held-out days are disjoint: a day whose ordinal
  (:meth:`datetime.date.toordinal`) is divisible by :data:`VAL_EVERY` is held out, so
  held-out exact match measures generalisation to unseen days, not recall.

Token layout (every sequence has a fixed length; int64 throughout):

* **Source** ``x`` (N, S) with S = :data:`SOURCE_LENGTH` = 32: the human string, one
  token per character, ``SOURCE_VOCAB[i]`` being the character of token ``i``; token 0 is
  ``SOURCE_PAD`` (``"<pad>"``), which fills the row after the last character (right
  padding). The Dataset's ``input_vocab`` is :data:`SOURCE_VOCAB` (an Embedding on ``x``
  needs ``num_embeddings = len(SOURCE_VOCAB)``). The source has no bos/eos.
* **Target** ``target`` (N, T) with T = :data:`TARGET_LENGTH` = 11: the 10 ISO characters
  then ``TARGET_EOS``. Classes (``num_classes = 12``, ``class_names`` =
  :data:`TARGET_VOCAB`): tokens 0-9 are the digits "0"-"9", 10 is "-", 11 is
  ``TARGET_EOS`` (``"<eos>"``). Every target has the same length, so no target padding.
* **Decoder input** for teacher forcing: the target shifted right behind
  ``TARGET_BOS = 12`` (one past the classes), e.g. a ShiftRight node with ``bos=12``
  feeding an Embedding with ``num_embeddings = 13``; a greedy or beam decoder starts from
  ``TARGET_BOS`` and stops at ``TARGET_EOS`` (or after T tokens).

:func:`decode_source` / :func:`decode_target` turn token rows back into strings.
"""

from __future__ import annotations

import datetime as _dt

import numpy as np

__all__ = ["FORMATS", "SOURCE_VOCAB", "SOURCE_PAD", "SOURCE_LENGTH", "TARGET_VOCAB",
           "TARGET_EOS", "TARGET_BOS", "TARGET_LENGTH", "VAL_EVERY", "FIRST_DAY", "LAST_DAY",
           "format_date", "make_dates", "encode_source", "decode_source", "decode_target"]

FIRST_DAY = _dt.date(1950, 1, 1)
LAST_DAY = _dt.date(2049, 12, 31)
#: every VAL_EVERY-th day (by ordinal) is held out; the others are training days
VAL_EVERY = 10

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _ordinal(n: int) -> str:
    """1 -> "1st", 2 -> "2nd", 3 -> "3rd", 11 -> "11th", 22 -> "22nd"."""
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _fields(d: _dt.date) -> dict[str, str]:
    month, day = _MONTHS[d.month - 1], _DAYS[d.weekday()]
    return {"d": str(d.day), "dd": f"{d.day:02d}", "do": _ordinal(d.day), "m": str(d.month),
            "mm": f"{d.month:02d}", "yyyy": f"{d.year:04d}", "yy": f"{d.year % 100:02d}",
            "MMMM": month, "MMM": month[:3], "DDDD": day, "DDD": day[:3]}


#: The human formats, as ``str.format`` templates over the fields of :func:`format_date`:
#: d/dd day (3, 03), do ordinal day (3rd), m/mm month (3, 03), MMMM/MMM month name (March,
#: Mar), DDDD/DDD weekday (Tuesday, Tue), yyyy/yy year (1998, 98). ``.lower()`` and
#: ``.upper()`` variants mark formats written all in lower or upper case.
FORMATS: tuple[str, ...] = (
    "{d} {MMMM} {yyyy}",            # 3 March 1998
    "{dd}/{mm}/{yy}",               # 03/03/98
    "{MMMM} {do}, {yyyy}",          # March 3rd, 1998
    "{DDD} {d} {MMM} {yyyy}",       # Tue 3 Mar 1998
    "{d} {MMM} {yyyy}",             # 3 Mar 1998
    "{d}/{m}/{yyyy}",               # 3/3/1998
    "{dd}.{mm}.{yyyy}",             # 03.03.1998
    "{DDDD}, {MMMM} {d}, {yyyy}",   # Tuesday, March 3, 1998
    "{MMM} {d} {yyyy}.lower",       # mar 3 1998
    "the {do} of {MMMM} {yyyy}",    # the 3rd of March 1998
    "{d} {MMMM} {yyyy}.upper",      # 3 MARCH 1998
    "{MMMM} {d}, {yy}",             # March 3, 98
)


def format_date(d: _dt.date, fmt: int) -> str:
    """Day ``d`` written in ``FORMATS[fmt]``, e.g. ``format_date(date(1998, 3, 3), 2)`` is
    ``"March 3rd, 1998"``. Raises IndexError for a format number outside the table."""
    template = FORMATS[fmt]
    case = None
    for suffix in (".lower", ".upper"):
        if template.endswith(suffix):
            template, case = template[: -len(suffix)], suffix[1:]
    text = template.format(**_fields(d))
    return getattr(text, case)() if case else text


SOURCE_PAD = 0
#: Source token -> character; token 0 is the padding. Every character any format writes.
SOURCE_VOCAB: tuple[str, ...] = ("<pad>", *sorted(
    set(" ,./0123456789") | set("".join(_MONTHS + _DAYS + ("the", "of", "st", "nd", "rd", "th")))
    | set("".join(_MONTHS + _DAYS).lower()) | set("".join(_MONTHS + _DAYS).upper())))
SOURCE_LENGTH = 32  # S: the longest string, "Wednesday, September 23, 1998" is 29 characters
_SOURCE_INDEX = {c: i for i, c in enumerate(SOURCE_VOCAB)}

#: Target class -> string: the digits, "-", then the end-of-sequence token.
TARGET_VOCAB: tuple[str, ...] = (*"0123456789", "-", "<eos>")
TARGET_EOS = 11
TARGET_BOS = 12  # the decoder's start token, one past the classes
TARGET_LENGTH = 11  # T: "YYYY-MM-DD" and <eos>


def encode_source(texts) -> np.ndarray:
    """Human date strings -> int64 (N, S) source tokens, right-padded with ``SOURCE_PAD``.

    Raises:
        ValueError: a string longer than ``SOURCE_LENGTH`` characters or with a character
            outside ``SOURCE_VOCAB`` (the message names the string and the character).
    """
    texts = list(texts)
    out = np.full((len(texts), SOURCE_LENGTH), SOURCE_PAD, dtype=np.int64)
    for row, text in enumerate(texts):
        if len(text) > SOURCE_LENGTH:
            raise ValueError(f"date {text!r} has {len(text)} characters; at most "
                             f"{SOURCE_LENGTH} fit the source")
        for col, ch in enumerate(text):
            try:
                out[row, col] = _SOURCE_INDEX[ch]
            except KeyError:
                raise ValueError(f"date {text!r} has the character {ch!r}, which is not in "
                                 "the source vocabulary (letters of month and weekday names, "
                                 "digits, space and ,./)") from None
    return out


def _encode_target(days) -> np.ndarray:
    out = np.empty((len(days), TARGET_LENGTH), dtype=np.int64)
    for row, d in enumerate(days):
        out[row, :10] = [10 if c == "-" else int(c) for c in d.isoformat()]
    out[:, 10] = TARGET_EOS
    return out


def decode_source(tokens) -> list[str]:
    """int64 (N, S) source tokens -> the strings (padding dropped)."""
    return ["".join(SOURCE_VOCAB[t] for t in row if t != SOURCE_PAD)
            for row in np.asarray(tokens)]


def decode_target(tokens) -> list[str]:
    """(N, T) target tokens -> ISO strings: each row up to its first ``TARGET_EOS`` (a bos
    or out-of-range token shows as "?")."""
    out = []
    for row in np.asarray(tokens):
        chars = []
        for t in row:
            if t == TARGET_EOS:
                break
            chars.append(TARGET_VOCAB[t] if 0 <= t < TARGET_EOS else "?")
        out.append("".join(chars))
    return out


def _day_ordinals(held_out: bool) -> np.ndarray:
    days = np.arange(FIRST_DAY.toordinal(), LAST_DAY.toordinal() + 1)
    return days[(days % VAL_EVERY == 0) == held_out]


def make_dates(n: int, rng: np.random.Generator, held_out: bool = False
               ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """``n`` examples: uniform days (training days, or the held-out ones) each in a uniform
    format of :data:`FORMATS`.

    Returns:
        x: int64 (N, S) source tokens; target: int64 (N, T) target tokens; the N source
        strings.
    """
    pool = _day_ordinals(held_out)
    days = [_dt.date.fromordinal(int(o)) for o in rng.choice(pool, size=n)]
    fmts = rng.integers(0, len(FORMATS), size=n)
    texts = [format_date(d, int(f)) for d, f in zip(days, fmts)]
    return encode_source(texts), _encode_target(days), texts
