"""Arabizi (Arabic typed in Latin letters, digits for Arabic sounds) told apart and written in Arabic.

"shlon el baladiyat sa3dat el kbar bil 3umr?" shares its letters with English and Slovenian,
so the language detector calls it English and e5 reads it as noise. Here it is:

1. detected (``is_arabizi``): words with a digit standing for a letter (3 = ع, 7 = ح, 2 = ء,
   5 = خ, 6 = ط, 9 = ص, 8 = ق) or frequent Arabizi words (shlon, shno, aku, el, bil …), with
   fewer English or Slovenian function words than those;
2. transliterated (``to_arabic``) word by word: first ``WORDS``, the frequent words whose
   spelling a rule cannot guess; then the knowledge's own Arabic words (``Skeletons``), matched
   by their consonants ("baladiyat" b-l-d-t = بلديات b-l-d-t, "mutatawi3in" = متطوعين), so the
   domain's vocabulary comes out spelled as the practices spell it; else letter by letter.
   Latin place names (Hrastnik, Kocevje) and words that are English in Arabizi too (online,
   corona, computer) stay as they are: e5 reads them, and place filters need them.

The Arabic goes to search as a query variant (never shown); the reply is in Arabic.
"""

from __future__ import annotations

import re
from collections import Counter

from .dialect import _ARABIC_WORD, LEXICON, _bare
from .language import fold_latin

_TOKEN = re.compile(r"[A-Za-z\u00C0-\u024F0-9']+|[^\sA-Za-z\u00C0-\u024F0-9']+")
_DIGIT_LETTER = re.compile(r"(?:[a-z][2356789]|[2356789][a-z])", re.IGNORECASE)
_WORDISH = re.compile(r"[A-Za-z\u00C0-\u024F0-9']+")

# Arabizi word -> Arabic (dialect as typed; dialect.to_msa rewrites it afterwards).
WORDS: dict[str, str] = {
    "shlon": "شلون",
    "shlun": "شلون",
    "shloon": "شلون",
    "eshlon": "اشلون",
    "shno": "شنو",
    "shnu": "شنو",
    "shinu": "شنو",
    "shgad": "شكد",
    "shkad": "شكد",
    "shged": "شكد",
    "aku": "اكو",
    "ako": "اكو",
    "maku": "ماكو",
    "mako": "ماكو",
    "minu": "منو",
    "mnu": "منو",
    "menu": "منو",
    "wein": "وين",
    "wen": "وين",
    "wain": "وين",
    "lesh": "ليش",
    "leish": "ليش",
    "hassa": "هسه",
    "hesa": "هسه",
    "elly": "اللي",
    "illi": "اللي",
    "eli": "اللي",
    "elli": "اللي",
    "wiya": "ويا",
    "wiyahum": "وياهم",
    "3idhum": "عدهم",
    "3dhum": "عدهم",
    "3ala": "على",
    "3la": "على",
    "3al": "على",
    "mn": "من",
    "min": "من",
    "fi": "في",
    "b": "ب",
    "w": "و",
    "wa": "و",
    "l": "ل",
    "fil": "في ال",
    "kul": "كل",
    "kull": "كل",
    "lma": "لما",
    "lamma": "لما",
    "7ata": "حتى",
    "7atta": "حتى",
    "hatha": "هذا",
    "hadha": "هذا",
    "hay": "هاي",
    "ma": "ما",
    "kbar": "كبار",
    "kibar": "كبار",
    "3umr": "العمر",
    "3omr": "العمر",
    "sin": "السن",
    "nas": "الناس",
    "akil": "اكل",
    "akel": "اكل",
    "dawa": "دواء",
    "floos": "فلوس",
    "flus": "فلوس",
    "bait": "بيت",
    "bet": "بيت",
    "beit": "بيت",
    "beh": "بيه",
    "3ajaza": "العجزه",
    "7athr": "الحظر",
    "7adhr": "الحظر",
    "7azr": "الحظر",
    "wakt": "وقت",
    "waqt": "وقت",
    "wa7ed": "واحد",
    "wa7id": "واحد",
    "wa7da": "الوحدة",
    "a7ad": "احد",
    "zghira": "زغيره",
    "zghayra": "زغيره",
    "zgheer": "زغير",
    "thanya": "ثانية",
    "3alam": "العالم",
    "mudun": "مدن",
    "telefon": "تلفون",
    "talafon": "تلفون",
    "raqam": "رقم",
    "ragam": "رقم",
    "did": "ضد",
    "dhid": "ضد",
    "y7chi": "يحچي",
    "ysawi": "يسوي",
    "ysawon": "يسوون",
    "sawat": "سوت",
    "sawaw": "سووا",
    "sawa": "سوا",
    "gdaro": "كدروا",
    "nreed": "نريد",
    "nrid": "نريد",
    "sar": "صار",
    "diraw": "درسوا",
    "dirsaw": "درسوا",
    "majani": "مجاني",
    "wa7edhum": "وحدهم",
    "wa7dhum": "وحدهم",
    "as7ab": "اصحاب",
    "sa3dat": "ساعدت",
    "sa3ad": "ساعد",
    "3awa2il": "العوائل",
    "3awayil": "العوائل",
    "majjani": "مجاني",
}

# Latin words kept as they are inside Arabizi: e5 knows them, and officials write them so in Arabic too.
KEEP_LATIN = frozenset(
    "online corona covid covid19 virus computer laptop internet whatsapp facebook email zoom slovenia".split()
)
# Frequent Arabizi words with no digit in them: evidence of Arabizi (English and Slovenian do not have them).
_ARABIZI_MARKERS = frozenset(
    set(WORDS) - {"b", "w", "l", "ma", "fi", "min", "did", "sin", "bet", "wen", "menu", "sar", "hay", "nas", "mn"}
    | {"el", "al", "il", "baladiya", "baladiyat", "baladiyya", "mutatawi3in", "sharikat", "musa3ada"}
)
# Function words of English and Slovenian that Arabizi does not use (evidence against it).
_LATIN_FUNCTION_WORDS = frozenset(
    """
    the a an and or of to in on for with by at from is are was were be how what which who did do does can
    could should would their they them it this that there we our you your my me not any all more about into
    has have had when where why
    je se da za na kako kaj kje kdo ali ki ko pri po iz od v s z k ne ni ob pa tudi kot bi bo so smo sem
    """.split()
)
_ARTICLES = frozenset({"el", "al", "il", "l", "ll"})
# Prepositions with the article, written joined to the next word: "bil 3umr" = بالعمر.
_JOINED = {"bil": "بال", "bel": "بال", "lil": "لل", "lel": "لل", "wil": "وال", "wel": "وال"}
_PREFIXED_ARTICLE = re.compile(r"^(?:el|al|il)-?(?=[a-z0-9])", re.IGNORECASE)


def _words(text: str) -> list[str]:
    return [w.lower() for w in _WORDISH.findall(text)]


def is_arabizi(text: str) -> bool:
    """True for Latin-letter Arabic; False for English, Slovenian and Arabic script."""
    if _ARABIC_WORD.search(text):
        return False
    words = _words(text)
    letters = [w for w in words if not w.isdigit()]
    if not letters:
        return False
    evidence = sum(bool(_DIGIT_LETTER.search(w)) or w in _ARABIZI_MARKERS for w in letters)
    against = sum(w in _LATIN_FUNCTION_WORDS for w in letters)
    return (evidence >= 2 and evidence > against) or (evidence >= 1 and against == 0 and len(letters) <= 3)


# -- consonant skeletons: the part of a word Arabizi and Arabic script both write ----------

_ARABIC_CLASS = {
    "ب": "b", "ت": "t", "ث": "t", "ج": "j", "ح": "h", "خ": "x", "د": "d", "ذ": "d", "ر": "r", "ز": "z",
    "س": "s", "ش": "S", "ص": "s", "ض": "d", "ط": "t", "ظ": "d", "ع": "3", "غ": "g", "ف": "f", "ق": "q",
    "ك": "k", "ل": "l", "م": "m", "ن": "n", "ه": "h", "گ": "q", "چ": "k", "پ": "b", "ڤ": "f",
}  # fmt: skip
_LATIN_DIGRAPHS = {"sh": "S", "kh": "x", "gh": "g", "th": "t", "dh": "d", "ch": "k", "ph": "f"}
_LATIN_CLASS = {
    "b": "b", "p": "b", "t": "t", "j": "j", "h": "h", "7": "h", "5": "x", "x": "x", "d": "d", "r": "r",
    "z": "z", "s": "s", "9": "s", "2": "2", "6": "t", "3": "3", "g": "q", "q": "q", "8": "q", "f": "f", "v": "f",
    "k": "k", "c": "k", "l": "l", "m": "m", "n": "n",
}  # fmt: skip


def arabic_skeleton(word: str) -> str:
    """Consonants of an Arabic word (long vowels, hamzas and ة dropped, doubles merged)."""
    bare = _bare(word)
    if bare.endswith(("ة", "ه")) and len(bare) > 2:
        bare = bare[:-1]
    # A hamza inside a word is typed as 2 (العوائل = 3awa2il); at the start of a word or after ال it is not.
    bare = re.sub(r"^(ال)?[أإآ]", r"\1", bare)
    return _merge("".join(_ARABIC_CLASS.get(c, "2" if c in "ءأإئؤ" else "") for c in bare))


def latin_skeleton(word: str, digraphs: bool = True) -> str:
    """The same consonants of an Arabizi word (vowels, w, y and 2 dropped; final -ah/-eh as ة)."""
    word = fold_latin(word)
    if len(word) > 3 and word.endswith(("ah", "eh")):
        word = word[:-1]
    classes, i = [], 0
    while i < len(word):
        digraph = _LATIN_DIGRAPHS.get(word[i : i + 2]) if digraphs else None
        if digraph:
            classes.append(digraph)
            i += 2
        else:
            classes.append(_LATIN_CLASS.get(word[i], ""))
            i += 1
    return _merge("".join(classes))


def _merge(skeleton: str) -> str:
    return re.sub(r"(.)\1+", r"\1", skeleton)


class Skeletons:
    """Arabic words (the knowledge's, and the dialect lexicon's) by consonant skeleton.

    Consonants alone collide (الأطباء and الطبية are both l-t-b), so among a skeleton's words the
    one whose vowels are closest to the Arabizi word's wins, then the commonest.
    """

    def __init__(self, words: Counter):
        self.by_skeleton: dict[str, list[tuple[str, str, int]]] = {}
        for word, count in words.items():
            if word[0] in "وف" and word[1:] in words:
                continue  # "والمتطوعين" would shadow "المتطوعين": the و is typed as its own word
            skeleton = arabic_skeleton(word)
            if len(skeleton) >= 2:
                self.by_skeleton.setdefault(skeleton, []).append((word, _arabic_vowels(word), count))

    @classmethod
    def from_texts(cls, texts) -> Skeletons:
        words: Counter = Counter()
        for text in texts:
            words.update(_bare(w) for w in _ARABIC_WORD.findall(text))
        for dialect_word in LEXICON:
            words[dialect_word] += 1  # so "sawat" finds سوت, which the knowledge never writes
        return cls(words)

    def find(self, word: str) -> str | None:
        # "wa7edhum" is وحدهم: d then h, not the digraph dh; the digraph reading is tried first.
        candidates = None
        for skeleton in dict.fromkeys((latin_skeleton(word), latin_skeleton(word, digraphs=False))):
            candidates = self.by_skeleton.get(skeleton) if len(skeleton) >= 2 else None
            if candidates:
                break
        if not candidates:
            return None
        vowels = _latin_vowels(word)
        return min(candidates, key=lambda c: (_distance(vowels, c[1]), -c[2]))[0]


def _arabic_vowels(word: str) -> str:
    """The long vowels of an Arabic word in order (ا a, و u, ي i), what Arabizi spells out."""
    return "".join({"ا": "a", "آ": "a", "ى": "a", "و": "u", "ي": "i"}.get(c, "") for c in _bare(word))


def _latin_vowels(word: str) -> str:
    word = re.sub(r"(.)\1+", r"\1", fold_latin(word).replace("ee", "i").replace("oo", "u"))
    return "".join({"a": "a", "e": "i", "i": "i", "o": "u", "u": "u", "w": "u", "y": "i"}.get(c, "") for c in word)


def _distance(a: str, b: str) -> int:
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


_LETTERS = {
    "a": "ا", "b": "ب", "c": "ك", "d": "د", "e": "ي", "f": "ف", "g": "ك", "h": "ه", "i": "ي", "j": "ج",
    "k": "ك", "l": "ل", "m": "م", "n": "ن", "o": "و", "p": "ب", "q": "ق", "r": "ر", "s": "س", "t": "ت",
    "u": "و", "v": "ف", "w": "و", "x": "خ", "y": "ي", "z": "ز", "2": "ء", "3": "ع", "5": "خ", "6": "ط",
    "7": "ح", "8": "ق", "9": "ص",
}  # fmt: skip
_DIGRAPH_LETTERS = {"sh": "ش", "kh": "خ", "gh": "غ", "th": "ث", "dh": "ذ", "ch": "چ", "ee": "ي", "oo": "و", "ou": "و"}


def letter_by_letter(word: str) -> str:
    """The fallback: each Latin letter (or digraph) by its usual Arabic letter; short vowels inside dropped."""
    word = fold_latin(word)
    out, i = [], 0
    while i < len(word):
        pair = word[i : i + 2]
        if pair in _DIGRAPH_LETTERS:
            out.append(_DIGRAPH_LETTERS[pair])
            i += 2
            continue
        c = word[i]
        # Short a/e/i/u between consonants are not written in Arabic; at the start or the end they are.
        if c in "aeiu" and 0 < i < len(word) - 1:
            i += 1
            continue
        out.append(_LETTERS.get(c, ""))
        i += 1
    return "".join(out)


def to_arabic(text: str, skeletons: Skeletons | None = None, keep: frozenset[str] = frozenset()) -> str:
    """Arabizi ``text`` in Arabic script; ``keep`` are Latin words left as they are (place names)."""
    out: list[str] = []
    article = ""  # "el" before a word is written joined to it, as ال (or بال, لل, وال)
    for token in _TOKEN.findall(text):
        if not _WORDISH.fullmatch(token):
            out.append(token)
            continue
        word = token.lower()
        if word in _ARTICLES or word in _JOINED:
            article = _JOINED.get(word, "ال")
            continue
        match = _PREFIXED_ARTICLE.match(word)
        if match and len(word) - match.end() >= 2 and word not in WORDS:
            article, word = "ال", word[match.end() :]
        if fold_latin(word) in keep or word in KEEP_LATIN or word.isdigit():
            out.append(token)
            article = ""
            continue
        arabic = WORDS.get(word)
        if arabic is None and skeletons is not None:
            arabic = (skeletons.find("al" + word) if article else None) or skeletons.find(word)
        if arabic is None:
            arabic = letter_by_letter(word)
        if article:
            arabic = article + (arabic[2:] if arabic.startswith("ال") else arabic)
        article = ""
        out.append(arabic)
    return " ".join(out)
