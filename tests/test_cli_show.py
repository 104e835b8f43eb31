"""`peerbot show`: a practice as an official reads it in a language, tested on exact output."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from click.testing import CliRunner

from bot.cli import main

TRANSLATED = Path(__file__).parent / "fixtures" / "translated" / "practices"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_show_in_slovenian_marks_every_part_that_is_only_in_english(env):
    result = invoke("show", "tolmin-red-cross-free-transport", "--lang", "sl")
    assert result.exit_code == 0
    assert result.output == (
        "Brezplačni prevozi starejših v občini Tolmin\n"
        "Občina: Tolmin\n"
        "Obdobje: 2018-10/2021\n"
        "Teme: Najranljivejše skupine, Prostovoljstvo, Sodelovanje in povezovanje\n"
        "Ciljne skupine: Starejši, Prostovoljci\n"
        "\n"
        "Volunteer drivers of the Red Cross in Tolmin kept driving older people to doctors and shops during the epidemic, with cars the municipality helped to pay for. (samo v angleščini)\n"
        "\n"
        "Celoten opis spodaj je na voljo le v izvirnem jeziku: angleščina.\n"
        "\n"
        "## What was done\n"
        "The Red Cross association has run transport for the elderly since October 2018. The municipality donated a used car and co-funded a second one in 2020. The service kept running through the epidemic, following health recommendations.\n"
        "\n"
        "## Results\n"
        "In 2021 volunteers made 389 trips for 421 people.\n"
        "\n"
        "Rezultati (samo v angleščini):\n"
        "- 389 trips for 421 people in 2021.\n"
        "- 35 volunteer drivers gave 1,755 hours in 2021.\n"
        "\n"
        "Viri:\n"
        "- Brezplačni prevozi starejših v občini Tolmin (prostovoljska-pomoc.si, 2022-07-22, v slovenščini): https://prostovoljska-pomoc.si/zgodbe/prevozi-starejsih\n"
    )


def test_show_json_of_a_translated_practice_in_arabic(env, knowledge: Path):
    shutil.copy(TRANSLATED / "kocevje-cash-free-food-packages.md", knowledge / "practices")
    result = invoke("show", "kocevje-cash-free-food-packages", "--lang", "ar", "--json")
    assert result.exit_code == 0
    payload = json.loads(result.output)
    assert payload == {
        "id": "kocevje-cash-free-food-packages",
        "language": "ar",
        "title": "سلال غذائية دون دفع نقدي تُضاف إلى فاتورة شركة الخدمات",
        "summary": "وزّعت بلدية كوتشيفيه سلالاً ثابتة من الغذاء ومواد النظافة على كبار السن المعزولين وأضافت كلفتها إلى فاتورة الخدمات، فلم يتداول أحد النقود عند الباب.",
        "municipality": "Kočevje",
        "sections": [
            {
                "heading": "السياق",
                "text": "لم يستطع كبار السن الذين يعيشون وحدهم في القرى النائية التسوّق خلال الموجة الأولى.",
                "language": "ar",
            },
            {
                "heading": "ما الذي تم",
                "text": "أعدّت البلدية ثلاث سلال للتوصيل بسعر 30 يورو لكل منها: مواد جافة، وأغذية مبرّدة، ومنتجات النظافة. وأُضيفت الكلفة إلى فاتورة الأسرة لدى شركة الخدمات (Komunala)، فلم تُتداول النقود عند الباب. ودُرّب متطوعون في القرى النائية على مساعدة جيرانهم بأمان.",
                "language": "ar",
            },
            {
                "heading": "دروس للبصرة",
                "text": "*اقتراح من المحرّرين، وليس مما تقوله المصادر:* يمكن لعلاقة فوترة قائمة أن تحلّ محلّ الدفع النقدي مقابل التوصيل.",
                "language": "ar",
            },
        ],
        "outcomes": [
            {"text": "ثلاث سلال بسعر 30 يورو لكل منها (مواد جافة، وأغذية مبرّدة، ومواد نظافة).", "language": "ar"}
        ],
        "transferability": {
            "text": "يحتاج إلى نظام فوترة لدى شركة خدمات أو لدى البلدية يصل إلى كل أسرة.",
            "language": "ar",
        },
        "sources": [
            {
                "url": "https://www.delo.si/novice/slovenija/starejsi-ki-so-sami-niso-pozabljeni-289896.html",
                "title": "Starejši, ki so sami, niso pozabljeni",
                "language": "sl",
            }
        ],
    }
    assert result.output.count("\n") == 1  # one JSON object on one line


def test_show_json_of_an_untranslated_practice_says_english(env):
    payload = json.loads(invoke("show", "tolmin-red-cross-free-transport", "--lang", "ar", "--json").output)
    assert payload["title"] == "نقل مجاني لكبار السن بسائقين متطوعين من الصليب الأحمر"
    assert {s["language"] for s in payload["sections"]} == {"en"}
    assert {o["language"] for o in payload["outcomes"]} == {"en"}
    assert payload["transferability"] is None


def test_show_unknown_and_broken_practices(env, knowledge: Path):
    result = invoke("show", "nope")
    assert result.exit_code == 1
    assert result.output == (
        f"Error: no practice 'nope' in {knowledge} (the id is the file name without .md; `ls {knowledge}/practices`)\n"
    )
    (knowledge / "practices" / "broken.md").write_text("nothing\n")
    result = invoke("show", "broken")
    assert result.exit_code == 1
    assert result.output == (
        f"Error: {knowledge}/practices/broken.md has problems, so it is not a practice yet: run `peerbot check {knowledge}` to see them\n"
    )
