"""Which language a question is in, and text normalised for lexical matching.

Officials write Arabic (often without diacritics, with varying alef/ya/ta-marbuta forms),
English, or Slovenian (often typed without č/š/ž). Lexical matching folds those differences.
"""

from __future__ import annotations

import re
import unicodedata

_ARABIC_LETTER = re.compile(r"[\u0600-\u06FF\u0750-\u077F\u08A0-\u08FF\uFB50-\uFDFF\uFE70-\uFEFF]")
_LATIN_LETTER = re.compile(r"[A-Za-z\u00C0-\u024F]")
_SLOVENIAN_LETTERS = re.compile(r"[čšžČŠŽ]")
# Frequent Slovenian function words and question words; ones English also uses (in, do) are left out.
_SLOVENIAN_WORDS = frozenset(
    """
    je se da za na kako kaj kje kdo kdaj zakaj ali ki ko pri po iz od v s z k ne ni
    ob pa tudi kot bi bo smo ste sem lahko koliko kaksen kaksna kaksni kaksno kateri katera
    katere zato vendar danes ljudje stane so bili bila bilo občina občine občin občinah občini obcina obcine
    starejši starejse starejsim pomoč pomoc prostovoljci prostovoljcev epidemije epidemiji
    med ter pomagali pomagala naredila naredili podjetja podjetjem ljudem ljudi
    """.split()
)
# Frequent English function and question words, the evidence that a Slovenian name is quoted in English.
_ENGLISH_WORDS = frozenset(
    """
    the a an and or of to in on for with by at from is are was were be how what which who why when where
    did do does can could should would their they them it its this that these those about help helped
    """.split()
)
# Inflectional endings common in Slovenian and rare at the end of English words.
_SLOVENIAN_ENDINGS = ("ih", "ega", "emu", "ijo", "ajo", "ati", "iti", "ovi", "ski", "ske", "ska", "nje", "cev", "jev")
_WORD = re.compile(r"\w+", re.UNICODE)


def detect_language(text: str) -> str:
    """'ar' when Arabic script dominates the letters, else 'sl' or 'en' for Latin text."""
    arabic = len(_ARABIC_LETTER.findall(text))
    latin = len(_LATIN_LETTER.findall(text))
    if arabic and arabic >= latin / 3:
        return "ar"
    words = _WORD.findall(text)
    if not words:
        return "en"
    # č/š/ž decide only in ordinary words: a capitalised one is most often a place name
    # ("How did Kočevje help?" is English), unless nothing in the text reads as English.
    marked = [w for w in words if _SLOVENIAN_LETTERS.search(w)]
    if marked:
        english = sum(w.lower() in _ENGLISH_WORDS for w in words)
        if not english or any(not w[0].isupper() for w in marked):
            return "sl"
    words = [w.lower() for w in words if not _SLOVENIAN_LETTERS.search(w) or not w[0].isupper()]
    slovenian = sum(w in _SLOVENIAN_WORDS or (len(w) > 5 and w.endswith(_SLOVENIAN_ENDINGS)) for w in words)
    # One shared short word ("da", "na") is not enough in a question of several words.
    needed = 1 if len(words) <= 3 else max(2, len(words) // 4)
    return "sl" if slovenian >= needed else "en"


_ARABIC_DIACRITICS = re.compile(
    r"[\u0610-\u061A\u064B-\u065F\u0670\u06D6-\u06ED\u0640]"
)  # harakat, Quranic marks, tatweel
_ARABIC_FOLDS = str.maketrans({"أ": "ا", "إ": "ا", "آ": "ا", "ٱ": "ا", "ى": "ي", "ة": "ه", "ؤ": "و", "ئ": "ي"})


def normalise_arabic(text: str) -> str:
    return _ARABIC_DIACRITICS.sub("", text).translate(_ARABIC_FOLDS)


def fold_latin(text: str) -> str:
    """Lower-case and drop diacritics, so 'Kočevje' and 'Kocevje' match."""
    decomposed = unicodedata.normalize("NFKD", text.lower())
    # Arabic harakat and hamza marks are combining characters too: dropping them is wanted.
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_ARABIC_PREFIXES = ("وال", "بال", "كال", "فال", "لل", "ال")
_STOPWORDS = frozenset(
    """
    the a an and or of to in on for with by at from is are was were be been how what which who
    did do does can could should would their they them it its this that these those as about
    into we our you your i my me he she his her has have had not no any all more most
    in je so se da za na kako kaj kje kdo ali ki ko pri po iz od do ob pa tudi kot bi bo
    في من على الى إلى عن مع ما ماذا كيف هل التي الذي الذين هذا هذه تلك ذلك او أو ثم قد كان كانت
    """.split()
)


def lexical_tokens(text: str) -> list[str]:
    """Tokens for BM25: folded, stop words dropped, Arabic definite article stripped."""
    tokens = []
    for word in _WORD.findall(normalise_arabic(fold_latin(text))):
        if word in _STOPWORDS or len(word) < 2:
            continue
        if _ARABIC_LETTER.match(word):
            for prefix in _ARABIC_PREFIXES:
                if word.startswith(prefix) and len(word) - len(prefix) >= 2:
                    word = word[len(prefix) :]
                    break
        tokens.append(_light_stem(word))
    return tokens


def _light_stem(word: str) -> str:
    # A crude shared stem (first 6 characters) lets 'volunteers'/'volunteering' and
    # 'prostovoljci'/'prostovoljcev' meet without a stemmer per language.
    return word[:6] if word.isascii() and len(word) > 6 else word
