"""A briefing PDF of one or more practices in the reader's language (`peerbot brief`, the bot's
📄 button and /brief): what an official takes into a meeting instead of screenshots of a chat.

Each practice as index/reading.py reads it: title, municipality, period, summary, body, outcomes,
transferability and sources with working links, each part marked where it exists only in its
original language; then the date and the question it answered. Rendered with fpdf2, which shapes
text with HarfBuzz (uharfbuzz) and orders right-to-left paragraphs with the Unicode bidi
algorithm, so Arabic with Latin names and URLs inside reads correctly, without system libraries.
The font is DejaVu Sans from matplotlib's own data (it has Arabic, Latin and Slovenian glyphs);
a missing font or package is a ``BriefingUnavailable`` that says what to install.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

from index.errors import BriefingUnavailable
from index.reading import Part, Reading

from .bidi import RLM, is_rtl, isolate
from .texts import LANGUAGES, Texts

MARGIN_MM = 18
BODY_PT, SMALL_PT, TITLE_PT, HEADING_PT = 10.5, 8.5, 15, 11.5
LINE_MM = 5.6
LINK_BLUE = (30, 80, 160)
# A Latin or digit run inside an Arabic paragraph, without brackets: a bracket inside an isolate is
# not mirrored while its partner outside is, and "(Komunala)" came out as "((Komunala" (looked at).
_LATIN_RUN = re.compile(
    r"[A-Za-z\u00C0-\u024F0-9](?:[A-Za-z\u00C0-\u024F0-9 .,:;/#%&'’\-–_+=?@~]*[A-Za-z\u00C0-\u024F0-9%])?"
)
_EMPHASIS = re.compile(r"(\*\*|\*)(?=\S)(.+?)(?<=\S)\1")  # Markdown *…* and **…** in the body: the words stay


def font_files() -> tuple[Path, Path]:
    """(regular, bold) DejaVu Sans from matplotlib's data folder."""
    try:
        import matplotlib
    except ImportError as exc:  # a broken install: matplotlib is a dependency
        raise BriefingUnavailable(f"matplotlib is not installed ({exc}); run `pip install -e .`") from None
    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    regular, bold = folder / "DejaVuSans.ttf", folder / "DejaVuSans-Bold.ttf"
    for path in (regular, bold):
        if not path.is_file():
            raise BriefingUnavailable(
                f"the font {path} is missing, so no briefing can be made (it ships with matplotlib: reinstall it with `pip install --force-reinstall matplotlib`)"
            )
    return regular, bold


def _fpdf():
    try:
        import uharfbuzz  # noqa: F401 - fpdf2 shapes text with it; without it Arabic would come out unjoined
        from fpdf import FPDF
    except ImportError as exc:
        raise BriefingUnavailable(
            f"the briefing needs fpdf2 and uharfbuzz ({exc}); install peerbot with `pip install -e .`"
        ) from None
    return FPDF


def briefing_pdf(
    readings: list[Reading],
    taxonomy,
    language: str,
    question: str | None = None,
    made_on: date | None = None,
) -> bytes:
    """The PDF bytes of a briefing on ``readings`` (each read in ``language``)."""
    regular, bold = font_files()
    FPDF = _fpdf()
    texts = Texts(language if language in LANGUAGES else "en")
    made_on = made_on or date.today()

    pdf = FPDF(format="A4")
    pdf.set_margins(MARGIN_MM, MARGIN_MM, MARGIN_MM)
    pdf.set_auto_page_break(True, margin=MARGIN_MM)
    pdf.add_font("DejaVu", "", str(regular))
    pdf.add_font("DejaVu", "B", str(bold))
    pdf.set_title(texts("brief_title"))
    pdf.set_creator("peerbot")
    pdf.set_lang(language)
    writer = _Writer(pdf, language)

    pdf.add_page()
    writer.paragraph(texts("brief_title"), language, size=TITLE_PT, bold=True)
    writer.paragraph(texts("brief_made_on", date=made_on.isoformat()), language, size=SMALL_PT)
    if question:
        writer.paragraph(texts("brief_question", question=question), _direction_of(question), size=SMALL_PT)
    for number, reading in enumerate(readings, start=1):
        if number > 1:
            pdf.add_page()
        writer.practice(number, reading, taxonomy, texts)
    return bytes(pdf.output())


def _pieces(text: str) -> list[str]:
    """A section's paragraphs, and each Markdown list item ("- ", "* ") as a paragraph of its own."""
    pieces: list[str] = []
    for block in text.split("\n\n"):
        lines: list[str] = []
        for line in block.split("\n"):
            item = re.match(r"\s*[-*]\s+(.*)", line)
            if item:
                pieces.extend([" ".join(lines)] if lines else [])
                lines = []
                pieces.append("• " + item.group(1).strip())
            elif line.strip():
                lines.append(line.strip())
        pieces.extend([" ".join(lines)] if lines else [])
    return [piece for piece in pieces if piece]


def _direction_of(text: str) -> str:
    """ "ar" when the text's first letter is Arabic script (a question may be in any language)."""
    for c in text:
        if c.isalpha():
            return "ar" if "\u0600" <= c <= "\u06ff" or "\u0750" <= c <= "\u077f" else "en"
    return "en"


class _Writer:
    """Paragraphs laid out in the direction of the language their text is in."""

    def __init__(self, pdf, language: str):
        self.pdf, self.language = pdf, language

    def paragraph(
        self,
        text: str,
        text_language: str,
        size: float = BODY_PT,
        bold: bool = False,
        link: str | None = None,
        gap: float = 1.5,
    ) -> None:
        pdf = self.pdf
        rtl = is_rtl(text_language)
        pdf.set_font("DejaVu", "B" if bold else "", size)
        # The base direction is set per paragraph: left to the bidi algorithm, an Arabic
        # paragraph that starts with "Kočevje" or a figure would be laid out left-to-right.
        pdf.set_text_shaping(use_shaping_engine=True, direction="rtl" if rtl else "ltr")
        text = _EMPHASIS.sub(r"\2", text)
        if rtl:
            # fpdf2's bidi keeps "2020-03/2020-05" or "2026-12-03" together only inside an isolate
            # (looked at: bare, it came out as "05-03/2020-2020"), so every Latin and digit run is one.
            text = RLM + _LATIN_RUN.sub(lambda m: isolate(m.group(0)), text)
        if link:
            pdf.set_text_color(*LINK_BLUE)
        pdf.multi_cell(
            0,
            LINE_MM * size / BODY_PT,
            text,
            align="R" if rtl else "L",
            link=link or None,
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.set_text_color(0, 0, 0)
        pdf.ln(gap)

    def practice(self, number: int, reading: Reading, taxonomy, texts: Texts) -> None:
        language = self.language
        comma = "، " if is_rtl(language) else ", "

        def named(code: str | None) -> str:
            return texts(f"in_language_{code}") if code in LANGUAGES else str(code)

        def note(part: Part) -> str:
            return "" if part.language == language else " " + texts("only_in", language=named(part.language))

        self.paragraph(f"{number}. {reading.title.text}", reading.title.language, size=HEADING_PT + 2, bold=True)
        facts = [f"{texts('label_municipality')}: {reading.municipality}"]
        if reading.period:
            facts.append(f"{texts('label_period')}: {reading.period}")
        if reading.topics:
            facts.append(
                f"{texts('label_topics')}: " + comma.join(taxonomy.label("topics", t, language) for t in reading.topics)
            )
        if reading.actors:
            facts.append(
                f"{texts('label_actors')}{note(reading.actors[0])}: " + comma.join(a.text for a in reading.actors)
            )
        for fact in facts:
            self.paragraph(fact, language, size=SMALL_PT, gap=0.5)
        self.pdf.ln(2)
        self.paragraph(reading.summary.text, reading.summary.language, bold=True)
        if reading.summary.language != language:
            self.paragraph(note(reading.summary).strip(), language, size=SMALL_PT)
        if reading.body_language and reading.body_language != language:
            self.paragraph(
                texts("body_language_note", language=texts(f"language_name_{reading.body_language}")),
                language,
                size=SMALL_PT,
            )
        for section in reading.sections:
            if section.heading:
                self.paragraph(section.heading, section.language, size=HEADING_PT, bold=True, gap=0.5)
            for piece in _pieces(section.text):
                self.paragraph(piece, section.language)
        if reading.outcomes:
            self.paragraph(
                texts("label_outcomes") + note(reading.outcomes[0]), language, size=HEADING_PT, bold=True, gap=0.5
            )
            for outcome in reading.outcomes:
                self.paragraph(f"• {outcome.text}", outcome.language, gap=0.5)
            self.pdf.ln(1)
        if reading.transferability:
            self.paragraph(
                texts("label_transferability") + note(reading.transferability),
                language,
                size=HEADING_PT,
                bold=True,
                gap=0.5,
            )
            self.paragraph(reading.transferability.text, reading.transferability.language)
        self.paragraph(texts("sources"), language, size=HEADING_PT, bold=True, gap=0.5)
        for source in reading.sources:
            details = [value for value in (source.publisher, source.date) if value]
            if source.language:
                details.append(named(source.language))
            # The title as published (a link), then what it is, then the address itself: printed,
            # it is the only way to the source.
            self.paragraph(f"• {source.title}", source.language or "en", link=source.url, gap=0)
            if details:
                self.paragraph(comma.join(details), language, size=SMALL_PT, gap=0)
            self.paragraph(source.url, "en", size=SMALL_PT, link=source.url, gap=1.5)
