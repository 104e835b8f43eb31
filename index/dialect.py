"""Iraqi and Gulf Arabic rewritten into Modern Standard Arabic, for search only (never shown).

e5 and BM25 learned Arabic mostly from MSA, and the practices are written in MSA: "الشياب"
(old people), "الحظر" (the lockdown) or "جهال" (children) match nothing, so a dialect question
can miss practices that the same question in MSA finds. The rewrite is an *extra* query variant
(index/query_variants.py): the question as typed is still searched, so a wrong rewrite costs
little, and MSA questions, which contain none of these words, are left exactly as they were.

Two steps, both word by word:
1. ``LEXICON``: the project's own table of dialect words for this domain's vocabulary (people,
   services, money, lockdown, the question words). ``iraqitext`` 0.3.0 was tried as a base and
   left out: it covers the question words only, misses most of this vocabulary (الشياب، العجزه،
   جهال، ببلاش، مسكره) and rewrites some words wrongly here (اصحاب → أصدقاء in "اصحاب المحلات",
   shop owners); it also took about 5 ms per question against this table's ~0.05 ms
   (docs/quality.md, "Understanding officials as they type").
2. Spelling repaired against the knowledge's own Arabic words (``Vocabulary``): officials type
   ه for ة (مساعده), drop hamzas (اسماء), and write the Iraqi ك or گ for ق (الاسواك، وكت); a word
   the knowledge does not contain is replaced by the one spelling of it the knowledge does.
"""

from __future__ import annotations

import re
from collections import Counter

_ARABIC_WORD = re.compile(r"[\u0621-\u064A\u0660-\u0669\u066E-\u06D3\u06FA-\u06FF]+")
_DIACRITICS = re.compile(r"[\u0610-\u061A\u064B-\u065F\u0670\u0640]")

# dialect word (as typed, without diacritics) -> MSA. Keys are checked without a leading و/ف
# ("وشلون"), so only the bare word is listed. Ambiguous words are left out on purpose: لو
# (Iraqi "or", MSA "if"), هم (Iraqi "too"), مره ("woman" or "once"), الي and عده (إلى and عدة
# typed without hamza or with ه), حتى and ثانيه (MSA words too).
LEXICON: dict[str, str] = {
    # question words and function words
    "شلون": "كيف",
    "اشلون": "كيف",
    "شنو": "ماذا",
    "شنهو": "ما هو",
    "شني": "ماذا",
    "شسوت": "ماذا فعلت",
    "شسوو": "ماذا فعلوا",
    "شسوى": "ماذا فعل",
    "شنسوي": "ماذا نفعل",
    "شكد": "كم",
    "شگد": "كم",
    "اشكد": "كم",
    "منو": "من",
    "وين": "أين",
    "ليش": "لماذا",
    "شوكت": "متى",
    "اكو": "يوجد",
    "ماكو": "لا يوجد",
    "هسه": "الآن",
    "هسة": "الآن",
    "اللي": "الذي",
    "هاي": "هذه",
    "هالشي": "هذا الشيء",
    "ويا": "مع",
    "وياهم": "معهم",
    "ويانا": "معنا",
    "عدهم": "لديهم",
    "ماعدهم": "ليس لديهم",
    "عدنا": "لدينا",
    "عالحدود": "على الحدود",
    "هواية": "كثير",
    "هوايه": "كثير",
    "كلش": "جدا",
    "بس": "فقط",
    "صدك": "حقا",
    "جان": "كان",
    "چان": "كان",
    "وكت": "وقت",
    "شكو": "ماذا يوجد",
    "لعد": "إذن",
    "باجر": "غدا",
    "البارحه": "أمس",
    "البارحة": "أمس",
    "هسا": "الآن",
    "منين": "من أين",
    "اشوكت": "متى",
    "گبل": "قبل",
    "كبل": "قبل",
    "مالت": "الخاصة ب",
    "مالتهم": "الخاصة بهم",
    "مالهم": "الخاص بهم",
    "مالتنا": "الخاصة بنا",
    "مالنا": "الخاص بنا",
    "اني": "أنا",
    "احنا": "نحن",
    "إحنا": "نحن",
    "انتو": "أنتم",
    "همه": "هم",
    "هذوله": "هؤلاء",
    "ذوله": "هؤلاء",
    "هاذا": "هذا",
    "هاذي": "هذه",
    "هذي": "هذه",
    "شنهي": "ما هي",
    "ليمن": "حتى",
    "هيج": "هكذا",
    "هيچ": "هكذا",
    "شويه": "قليلا",
    "شوية": "قليلا",
    "زايد": "زائد",
    "ابد": "أبدا",
    "اريد": "أريد",
    "لازم": "يجب",
    # people
    "الشياب": "كبار السن",
    "شياب": "كبار السن",
    "الشايب": "المسن",
    "العجايز": "كبار السن",
    "عجايز": "كبار السن",
    "العجزه": "المسنين",
    "العجزة": "المسنين",
    "العجز": "المسنين",
    "الختياريه": "كبار السن",
    "جهال": "أطفال",
    "الجهال": "الأطفال",
    "لجهال": "لأطفال",
    "الزغار": "الصغار",
    "الدكاتره": "الأطباء",
    "الدكاترة": "الأطباء",
    "دكتور": "طبيب",
    "الدكتور": "الطبيب",
    "الكسبه": "أصحاب الأعمال",
    "الكسبة": "أصحاب الأعمال",
    "النصابين": "المحتالين",
    "نصابين": "محتالين",
    "المتعففه": "الفقيرة",
    "المتعففة": "الفقيرة",
    "المحجورين": "المعزولين",
    "الفقره": "الفقراء",
    "الفكره": "الفقراء",
    "الفكرا": "الفقراء",
    "المعوقين": "ذوي الإعاقة",
    "المعاقين": "ذوي الإعاقة",
    "الاهالي": "السكان",
    "الأهالي": "السكان",
    "الوليد": "الأطفال",
    "ولدنا": "أطفالنا",
    "الزلم": "الرجال",
    "النسوان": "النساء",
    "الحجيه": "المسنة",
    "الحجي": "المسن",
    "الكاسب": "صاحب العمل",
    "الخريجين": "الخريجين الشباب",
    # things and places
    "الحظر": "الإغلاق",
    "حظر": "إغلاق",
    "الماي": "الماء",
    "المستوصف": "المركز الصحي",
    "المذخر": "المخزن",
    "الصيدليه": "الصيدلية",
    "التموينيه": "التموينية",
    "الحصه": "الحصة",
    "هدوم": "ملابس",
    "الهدوم": "الملابس",
    "السياره": "السيارة",
    "سياره": "سيارة",
    "الماطور": "المولد",
    "المولده": "المولد",
    "الكاع": "الأرض",
    "الكورونا": "كورونا",
    "الچمامات": "الكمامات",
    "الزياره": "الزيارة",
    "الطبابه": "الرعاية الصحية",
    "البلديه": "البلدية",
    "ماي": "ماء",
    "الكهربا": "الكهرباء",
    "الاكل": "الطعام",
    "اكل": "طعام",
    "الدوه": "الدواء",
    "دوه": "دواء",
    "دوا": "دواء",
    "الدوا": "الدواء",
    "الفلوس": "الأموال",
    "فلوس": "أموال",
    "الزباله": "النفايات",
    "الزبالة": "النفايات",
    "تلفون": "هاتف",
    "التلفون": "الهاتف",
    "موبايل": "هاتف",
    "لابتوب": "حاسوب",
    "كمبيوتر": "حاسوب",
    "كومبيوتر": "حاسوب",
    "اونلاين": "عن بعد",
    "الاونلاين": "الإلكتروني",
    "الروضات": "رياض الأطفال",
    "الروضه": "الروضة",
    "الكهاوي": "المقاهي",
    "كهاوي": "مقاهي",
    "الكراجات": "المواقف",
    "كراجات": "مواقف",
    "باركنك": "مواقف السيارات",
    "باصات": "حافلات",
    "الباصات": "الحافلات",
    "الدكاكين": "المحلات",
    "دكان": "محل",
    "الخضره": "الخضروات",
    "خضره": "خضروات",
    "الفايروس": "الفيروس",
    "فايروس": "فيروس",
    "سفره": "رحلة",
    "سفرات": "رحلات",
    "مصاريف": "تكاليف",
    "المصاريف": "التكاليف",
    "شغل": "عمل",
    "الشغل": "العمل",
    "كوبونات": "قسائم",
    "سله": "سلة",
    # adjectives
    "زغيره": "صغيرة",
    "الزغيره": "الصغيرة",
    "زغيرة": "صغيرة",
    "الزغيرة": "الصغيرة",
    "زغير": "صغير",
    "مسكره": "مغلقة",
    "المسكره": "المغلقة",
    "مسكرة": "مغلقة",
    "مسكرين": "مغلقين",
    "خايسه": "رديئة",
    "خايسة": "رديئة",
    "خايس": "رديء",
    "زين": "جيد",
    "خوش": "جيد",
    "ببلاش": "مجانا",
    "بلاش": "مجانا",
    # verbs
    "سوت": "فعلت",
    "سوا": "فعل",
    "سوى": "فعل",
    "سوو": "فعلوا",
    "سووا": "فعلوا",
    "يسوي": "يفعل",
    "يسوون": "يفعلون",
    "نسوي": "نفعل",
    "تسوي": "تفعل",
    "دبرو": "تعاملوا",
    "دبروا": "تعاملوا",
    "يكدر": "يستطيع",
    "نكدر": "نستطيع",
    "تكدر": "تستطيع",
    "كدرو": "استطاعوا",
    "كدروا": "استطاعوا",
    "باوع": "اعتنى",
    "سكرو": "أغلقوا",
    "سكروا": "أغلقوا",
    "دزتلنا": "أرسلت لنا",
    "دزلي": "أرسل لي",
    "دز": "أرسل",
    "دزو": "أرسلوا",
    "اجه": "جاء",
    "اجت": "جاءت",
    "يجي": "يأتي",
    "تكول": "تقول",
    "يكولون": "يقولون",
    "انطت": "أعطت",
    "انطى": "أعطى",
    "انطتهم": "أعطتهم",
    "ينطون": "يعطون",
    "عايشين": "يعيشون",
    "عايش": "يعيش",
    "عايشه": "تعيش",
    "گاعد": "جالس",
    "كاعد": "جالس",
    "كاعدين": "جالسين",
    "يصير": "يحدث",
    "صارت": "حدثت",
    "ديسوون": "يفعلون",
    "دنسوي": "نفعل",
    "ديسوي": "يفعل",
    "يحچي": "يتحدث",
    "يحجي": "يتحدث",
    "نحچي": "نتحدث",
    "الحچي": "الكلام",
    "طلعو": "خرجوا",
    "طلعوا": "خرجوا",
    "يطلعون": "يخرجون",
    "ردت": "أردت",
    "ندز": "نرسل",
    "يدزون": "يرسلون",
    "تكدرون": "تستطيعون",
    "يكدرون": "يستطيعون",
    "اكدر": "أستطيع",
    "سوينا": "فعلنا",
    "سويتو": "فعلتم",
    "ساعدو": "ساعدوا",
    "وصلو": "أوصلوا",
    "خلو": "جعلوا",
    "خلوا": "جعلوا",
    "فتحو": "فتحوا",
    "دفعو": "دفعوا",
    "اخذو": "أخذوا",
    "حمو": "حموا",
    "درسو": "درسوا",
    "حضرو": "حضروا",
    "نظمو": "نظموا",
    "عرفو": "عرفوا",
    "قاعدين": "يعيشون",
    "نونسهم": "نؤنسهم",
    "يقشمرون": "يخدعون",
    "يشتغل": "يعمل",
    "يشتغلون": "يعملون",
    "ترجعلنا": "تعيد لنا",
    "لغت": "ألغت",
    "خلوها": "تركوها",
    "وكفو": "أوقفوا",
    "وكفوا": "أوقفوا",
    "يوصلولهم": "يوصلون لهم",
    "يدير": "يهتم",
    "بالهم": "بهم",
}


def _bare(word: str) -> str:
    return _DIACRITICS.sub("", word)


def rewrite_word(word: str) -> str | None:
    """The MSA for one dialect word as typed (a leading و or ف kept), or None when it is not dialect."""
    bare = _bare(word)
    if bare in LEXICON:
        return LEXICON[bare]
    if len(bare) > 2 and bare[0] in "وف" and bare[1:] in LEXICON:
        return bare[0] + LEXICON[bare[1:]]
    return None


def to_msa(text: str, vocabulary: Vocabulary | None = None) -> str:
    """``text`` with dialect words in MSA and, given the knowledge's vocabulary, spellings repaired."""

    def replace(match: re.Match) -> str:
        word = match.group(0)
        msa = rewrite_word(word)
        if msa is not None:
            return msa
        return vocabulary.repair(word) if vocabulary is not None else word

    return _ARABIC_WORD.sub(replace, text)


class Vocabulary:
    """The Arabic words of the knowledge, to repair how a question spells a word it contains.

    Only a word the knowledge does not contain is changed, and only into one it does, by the
    slips officials make: final ه for ة, a bare alef for أ/إ/آ, final ي for ى, ك or گ for ق.
    """

    def __init__(self, words: Counter):
        self.words = words

    @classmethod
    def from_texts(cls, texts) -> Vocabulary:
        words: Counter = Counter()
        for text in texts:
            words.update(_bare(w) for w in _ARABIC_WORD.findall(text))
        return cls(words)

    def repair(self, word: str) -> str:
        bare = _bare(word)
        if len(bare) < 3 or bare in self.words:
            return word
        found = [c for c in _spellings(bare) if c in self.words]
        return max(found, key=lambda c: self.words[c]) if found else word


_HAMZA_ALEFS = ("أ", "إ", "آ")


def _spellings(word: str) -> list[str]:
    """The spellings ``word`` may stand for, with one or two slips repaired (الاسواك: ا→أ and ك→ق)."""
    once = _one_slip(word)
    return list(dict.fromkeys(once + [twice for spelling in once for twice in _one_slip(spelling)]))


def _one_slip(word: str) -> list[str]:
    out = []
    if word.endswith("ه"):
        out.append(word[:-1] + "ة")
    if word.endswith("ي"):
        out.append(word[:-1] + "ى")
    for i, letter in enumerate(word):
        if letter == "ا":
            out.extend(word[:i] + alef + word[i + 1 :] for alef in _HAMZA_ALEFS)
        elif letter in "كگ":
            out.append(word[:i] + "ق" + word[i + 1 :])
        elif letter == "ي" and 0 < i < len(word) - 1:
            out.append(word[:i] + "ئ" + word[i + 1 :])
    return out
