"""The Arabic catalogue's grammar rules that a test can hold (docs: shared knowledge review, section 3)."""

from __future__ import annotations

import re

import pytest

from bot.texts import LANGUAGES, catalogue

# A number filled in before a counted noun: Arabic needs the plural for 3-10 and the singular
# accusative from 11, so a fixed "{count} مشكلة" is wrong for most counts. The catalogue uses
# "label: number" instead ("عدد المشكلات: {count}").
COUNTED = re.compile(r"\{[a-z_]+\}\s*(مشكلة|مشكلات|ثانية|ثوانٍ|يوم|يوماً|أيام|ساعة|دقيقة|ممارسة|مقطعاً|مقاطع|حرف|حرفاً)")


@pytest.mark.parametrize("key", sorted(catalogue("ar")))
def test_no_number_noun_agreement_left_to_chance(key: str):
    assert not COUNTED.search(catalogue("ar")[key]), catalogue("ar")[key]


def test_arrows_on_right_to_left_lines_are_never_mirrored():
    # U+2039/U+203A are mirrored on a right-to-left line: "‹" would be drawn pointing back.
    assert not re.search("[\u2039\u203a]", catalogue("ar")["button_next"])
    assert catalogue("ar")["button_next"] == "التالي ←"


def test_no_english_language_name_inside_an_arabic_sentence():
    assert "{language}" in catalogue("ar")["body_language_note"]
    assert catalogue("ar")["language_name_en"] == "الإنجليزية"
    assert catalogue("ar")["in_language_sl"] == "بالسلوفينية"


@pytest.mark.parametrize("language", LANGUAGES)
def test_welcome_does_not_claim_every_practice_is_from_slovenia(language: str):
    welcome = catalogue(language)["welcome"]
    assert {"en": "most of them from Slovenia", "ar": "أغلبها من سلوفينيا", "sl": "večinoma iz Slovenije"}[
        language
    ] in welcome


def test_the_review_fixes_are_in():
    ar = catalogue("ar")
    assert ar["filtered_out"].startswith("لا توجد ممارسة تطابق عامل التصفية هذا")
    assert "أرسِل" in ar["help_coordinator"] and "أرسلوا" not in ar["help_coordinator"]
    assert "على شكل ملف (لا رسالة نصية)" in ar["help_coordinator"]
    assert "تُشير إليّ (@)" in ar["help"] and "إن كانت مفيدة" in ar["help"]
    assert "وستظهر في نتائج الأسئلة القادمة" in ar["upload_published"]
    assert "للخروج أدخِل سطراً فارغاً أو اضغط Ctrl-D" in ar["chat_welcome"]
    assert not any("إجابة موثوقة" in text for text in ar.values())
