"""Whether a short message depends on the previous question, and the question it then means.

Officials chat: after "How did municipalities help elderly people living alone?" they write
"and in Hrastnik?", "وهراستنيك شنو سوت؟", "kaj pa v Tolminu?" or "how much did it cost?".
Read alone these match nothing; read with the previous question they are complete. A new
complete question must still start afresh, so the rule is conservative and explainable:

A message depends on the previous question when it is short (at most ``MAX_WORDS`` words) and
  - starts with a connective ("and", "what about", "kaj pa", "in", و + a question word or a
    place: "وماذا", "وفي", "وهراستنيك") and adds at most two words of its own topic, or
  - names a place and nothing else ("Hrastnik?"), or a place and a detail to ask about
    ("how much in Koper?", "koliko je dal Koper?"): "What did Bovec do?" stays a new question;
  - otherwise asks for a detail or points back ("how much did it cost?", "who answered the
    calls?", "شكد ميزانيته؟", "koliko klicev so prejeli?": a detail word, a pronoun, or no topic
    word at all) with at most two topic words.

The question it then means: the previous question followed by the message; when the message
names a place, the previous question's own places are dropped and the answer is restricted to
the new ones (Arabic spellings of the knowledge's places are recognised here too).

The same ``read_message`` serves the bot, ``peerbot chat`` and ``peerbot eval``'s ``"turns"``
lines, so the evaluation reads a conversation exactly as the bot does.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from dataclasses import dataclass

from .language import _STOPWORDS, fold_latin, normalise_arabic
from .query_filters import mentioned_places
from .query_variants import question_language
from .search import Filters

MAX_WORDS = 7

# Arabic spellings of the knowledge's places (as the practices and officials write them); only the
# places an index actually has are used. Matched after و/ب/ل/ف prefixes ("وبتولمين").
ARABIC_PLACES: dict[str, tuple[str, ...]] = {
    "Bovec": ("بوفيتس", "بوفيك"),
    "Celje": ("تسيليه", "سيليه", "تسيلي"),
    "Dolenjska and Posavje": ("دولينيسكا", "بوسافيه"),
    "Gorje": ("غوريه",),
    "Hrastnik": ("هراستنيك", "هراستنك"),
    "Idrija": ("ادريا", "إدريا"),
    "Karbala": ("كربلاء", "كربلا"),
    "Koper": ("كوبر",),
    "Kočevje": ("كوتشيفيه", "كوتشيفي", "كوتشفيه", "كوجيفيه"),
    "Kranj": ("كراني", "كرانج"),
    "Ljubljana": ("ليوبليانا", "لوبليانا"),
    "Maribor": ("ماريبور",),
    "Metlika": ("متليكا", "ميتليكا"),
    "Mirna": ("ميرنا",),
    "Obsotelje and Kozjansko": ("اوبسوتيليه", "أوبسوتيليه", "كوزيانسكو"),
    "Sevnica": ("سيفنيتسا", "سفنيتسا"),
    "Slovenska Bistrica": ("بيستريتسا",),
    "Tolmin": ("تولمين",),
    "Velenje": ("فيلينيه", "فيلينيي"),
    "Črna na Koroškem": ("تشرنا", "كوروشكم"),
}
_ARABIC_PREFIXES = frozenset({"", "و", "ف", "ب", "ل", "وب", "ول", "فب", "فل", "في", "وفي"})


def _is_spelling(word: str, spellings: set[str]) -> bool:
    """``word`` is one of ``spellings`` behind a prefix or none ("وبتولمين"; "وليوبليانا" keeps its ل)."""
    return any(word.endswith(s) and word[: len(word) - len(s)] in _ARABIC_PREFIXES for s in spellings)


_CONNECTIVES = (
    "and ", "what about", "how about", "also ", "same in", "in ", "at ", "for ",
    "kaj pa", "pa ", "in v ", "a v ", "v ", "še ", "se ",
    "طيب", "بعد ", "هم ", "ماذا عن", "وماذا", "وشنو", "وشلون", "وشكد", "وكم", "وفي", "ومن", "ومنو", "وهل", "واكو", "وعن",
)  # fmt: skip
_POINTERS = frozenset(
    """
    it its they them their that this those these there he she his her
    to ta te ti tam tega tem jih njih oni ga jo tisto
    هذا هذه ذلك تلك هناك هم هي هو ذاك هذول هاي هاذ
    """.split()
)
_DETAILS = frozenset(
    """
    much many cost costs costed budget money paid pay spend spent price number numbers long when who whom
    result results died deaths dead funded fund funding calls staff staffed answered
    koliko stalo stal stala stane kdo kdaj denar proračun umrlo umrlih klicev
    كم شكد ميزانية ميزانيته ميزانيتها تكلفة كلفة كلفت تكلفته متى من منو مات ماتوا الوفيات وفيات عدد قيمة
    المكالمات مكالمة مكالمه
    """.split()
)
_GENERIC = frozenset(
    """
    do did does done make made give gave given offer offered get got receive received happen happened
    what how which where why was were is are have has had the a an in of on for to and about
    naredil naredila naredili storil storila dal dala dali dobil dobili prejeli prejel bilo je so se v pa kaj
    oglasal oglasala oglasali odgovarjal odgovarjali odgovoril odgovorili
    in na za ali kako kje
    فعل فعلت فعلوا قدم قدمت سوت سوا سوو سووا انطت انطى صار حدث كان كانت جان في على عن ماذا كيف
    شنو شلون وين اين أين هل اكو ماكو و يجاوب يجيب
    """.split()
)
_QUANTITY = frozenset("much many koliko كم شكد اشكد شگد".split())
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def _folded_set(words) -> frozenset[str]:
    """The word lists as the rule compares words: Latin folded, Arabic normalised (ة→ه, أ→ا …)."""
    return frozenset(normalise_arabic(fold_latin(w)) for w in words)


_POINTERS, _DETAILS, _GENERIC, _QUANTITY = map(_folded_set, (_POINTERS, _DETAILS, _GENERIC, _QUANTITY))


@dataclass(frozen=True)
class Turn:
    """What a chat remembers of its last question: as read (context included), to build on."""

    question: str
    language: str
    places: frozenset[str] = frozenset()
    # What a follow-up naming another place builds on: the question without the place it asked
    # about ("and in Tolmin?" after "…? and in Hrastnik?" means "…? and in Tolmin?"); None: ``question``.
    topic: str | None = None


@dataclass(frozen=True)
class Reading:
    """A message as it is to be answered."""

    message: str
    question: str  # what is searched: the message, or the previous question with it
    language: str
    filters: Filters | None = None
    context: str | None = None  # the earlier question it was read with; None when read alone

    @property
    def used_context(self) -> bool:
        return self.context is not None

    def turn(self, places: frozenset[str], topic: str | None = None) -> Turn:
        return Turn(self.question, self.language, places, topic)


def places_in(text: str, places: list[str]) -> frozenset[str]:
    """The knowledge's places a text names, in Latin letters (query_filters) or Arabic script."""
    found = set(mentioned_places(text, places))
    words = [normalise_arabic(w) for w in _WORD.findall(text)]
    for place in places:
        spellings = {normalise_arabic(s) for s in ARABIC_PLACES.get(place, ())}
        if spellings and any(_is_spelling(w, spellings) for w in words):
            found.add(place)
    return frozenset(found)


def _strip_places(text: str, places: frozenset[str]) -> str:
    """``text`` without the words that name ``places`` (so the new place is not mixed with the old)."""
    latin = {fold_latin(w) for p in places for w in p.split() if len(w) > 2}
    arabic = {normalise_arabic(s) for p in places for s in ARABIC_PLACES.get(p, ())}

    def named(word: str) -> bool:
        folded = fold_latin(word)
        if any(folded.startswith(w[: max(4, len(w) - 2)]) for w in latin):
            return True
        return _is_spelling(normalise_arabic(word), arabic)

    return " ".join(w for w in text.split() if not named(re.sub(r"[^\w]", "", w)))


def _topic_words(message: str, places: frozenset[str]) -> list[str]:
    latin = {fold_latin(w) for p in places for w in p.split()}
    out = []
    for word in _WORD.findall(message):
        folded = normalise_arabic(fold_latin(word))
        if folded.isdigit() or len(folded) < 2:
            continue
        bare = folded[1:] if folded.startswith("و") and len(folded) > 3 else folded
        if any(w in _STOPWORDS or w in _POINTERS or w in _DETAILS or w in _GENERIC for w in (folded, bare)) or any(
            folded.startswith(p[: max(4, len(p) - 2)]) for p in latin
        ):
            continue
        if _is_spelling(folded, {normalise_arabic(s) for p in places for s in ARABIC_PLACES.get(p, ())}):
            continue
        out.append(folded)
    return out


def depends_on_previous(message: str, places: frozenset[str]) -> bool:
    """The rule in the module's docstring; ``places`` are the places the message names."""
    words = _WORD.findall(message)
    if not words or len(words) > MAX_WORDS:
        return False
    lowered = " ".join(fold_latin(w) for w in words) + " "
    first = normalise_arabic(words[0])
    connective = lowered.startswith(tuple(fold_latin(c) for c in _CONNECTIVES)) or (
        first.startswith("و")
        and len(words) <= 4
        and (bool(places) or first in {normalise_arabic(c) for c in _CONNECTIVES})
    )
    topic = _topic_words(message, places)
    folded = {normalise_arabic(fold_latin(w)) for w in words}
    detail = bool(folded & _DETAILS)
    pointer = bool(folded & _POINTERS)
    if connective:
        return len(topic) <= 2
    if places:
        return not topic and (detail or len(words) <= 2)
    # A terse new question ("utility costs for companies") has a detail word and two topic words
    # of its own: a detail word alone allows one topic word, a pointer two.
    # A detail word with one topic word is a follow-up only when it asks "how much/many": "how many
    # residents died?" points back, "who paid for the masks?" is a question of its own.
    quantity = bool(folded & _QUANTITY)
    return len(topic) == 0 or (pointer and len(topic) <= 2) or (detail and quantity and len(topic) <= 1)


def read_message(message: str, previous: Turn | None, places: list[str]) -> tuple[Reading, Turn]:
    """How to answer ``message`` after ``previous`` (None: nothing remembered), and what to remember.

    ``places`` are the places the index knows (``SearchIndex.local_places``).
    """
    message = " ".join(message.split())
    named = places_in(message, places)
    language = question_language(message)
    if previous is None or not depends_on_previous(message, named):
        # Read alone, a question is searched exactly as before (the engine reads its Latin place
        # names itself); its places, Arabic ones too, are remembered for a follow-up.
        reading = Reading(message, message, language)
        return reading, reading.turn(named)
    # A short message in the previous question's script keeps its language ("Hrastnik?" after Slovenian).
    if len(_WORD.findall(message)) <= 3 and (language == "ar") == (previous.language == "ar"):
        language = previous.language
    topic = previous.topic or previous.question
    if named:
        base = _strip_places(topic, previous.places | named) if previous.places else topic
        used = named
    else:
        base, used = previous.question, previous.places
    question = f"{base} {message}"
    reading = Reading(message, question, language, Filters(municipalities=used) if used else None, previous.question)
    return reading, reading.turn(used, base if named else None)


def read_conversation(turns: list[str], places: list[str]) -> Reading:
    """The last turn as the bot reads it after the earlier ones (``peerbot eval``'s ``"turns"``)."""
    previous: Turn | None = None
    reading: Reading | None = None
    for message in turns:
        reading, previous = read_message(message, previous, places)
    if reading is None:
        raise ValueError("a conversation needs at least one turn")
    return reading


class Memory:
    """Each chat's last question, for ``ttl`` seconds (the bot's and ``peerbot chat``'s memory).

    Kept in memory only: a restart forgets, which costs at most one follow-up read alone. At most
    ``size`` chats are kept, the least recently asked forgotten first.
    """

    def __init__(self, ttl: float, size: int = 10_000, clock=None):
        self.ttl, self.size = ttl, size
        self.clock = clock or time.monotonic
        self._turns: OrderedDict[int, tuple[float, Turn]] = OrderedDict()

    def recall(self, chat_id: int) -> Turn | None:
        entry = self._turns.get(chat_id)
        if entry is None:
            return None
        if self.ttl <= 0 or self.clock() - entry[0] > self.ttl:
            del self._turns[chat_id]
            return None
        return entry[1]

    def remember(self, chat_id: int, turn: Turn) -> None:
        if self.ttl <= 0:
            return
        self._turns.pop(chat_id, None)
        self._turns[chat_id] = (self.clock(), turn)
        while len(self._turns) > self.size:
            self._turns.popitem(last=False)

    def forget(self, chat_id: int) -> None:
        self._turns.pop(chat_id, None)
