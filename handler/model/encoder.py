"""The one text encoder: tokenizers + onnxruntime, used by the search service and the batch script.

It imports no torch, transformers or optimum. Vectors come back as float32 [n, dim],
L2-normalized by the graph itself, in input order.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Sequence

import numpy as np
from tokenizers import Tokenizer

from handler.common import EncoderError, sha256_file
from handler.model import cpu  # cpu.missing is looked up at each call: tests and tests/support/cpu_without_int8_dot replace it
from handler.model.integrity import check_tokenizer
from handler.model.kernels import KNOWN_TEXT, known_vector_cosine, known_vector_floor
from handler.model.manifest import ModelFile, choose_variant, fix, model_files, read_manifest, variant_sha256

CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
DEVICES = ("auto", "cuda", "cpu")
# The graph's one output: mean-pooled, L2-normalized sentence vectors [batch, dim].
OUTPUT_NAME = "sentence_embedding"
# onnxruntime fuses Add + LayerNormalization into SkipLayerNormalization at load; on CPU that
# kernel costs several times the two ops it replaces (docs/benchmarks.md), so it stays off there.
CPU_DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)
# The fp16 CUDA graph must agree with CPU fp32 at least this well before it embeds anything.
CUDA_PARITY_MIN_COSINE = 0.999
_CUDA_PROBE_TEXTS = [
    "vegan food delivery in berlin",
    "A platform that helps hospitals hire physicians and manage referrals.",
    "Tools for developers: continuous integration, code review and deployment in one place. " * 6,
    "x",
]


def _import_onnxruntime():
    try:
        import onnxruntime  # deferred: one of two packages provides it (the cpu or gpu extra), and a missing one is named here
    except ImportError as exc:
        raise EncoderError(
            "onnxruntime is not installed: pip install '.[cpu]' (or '.[gpu]' on a CUDA machine; never both)"
        ) from exc
    return onnxruntime


def resolve_device(device: str, available_providers: Sequence[str]) -> str:
    """Map auto|cuda|cpu to the device to try, given onnxruntime's available providers."""
    if device not in DEVICES:
        raise EncoderError(f"device must be one of {', '.join(DEVICES)}, got '{device}'")
    if device == "auto":
        return "cuda" if CUDA in available_providers else "cpu"
    if device == "cuda" and CUDA not in available_providers:
        raise EncoderError(
            f"device 'cuda' asked for, but this onnxruntime offers only {list(available_providers)}: "
            "install the gpu extra (onnxruntime-gpu, without onnxruntime) and the CUDA libraries, or use --device cpu"
        )
    return device


def _exact_fallback(manifest: dict, name: str, entry: dict) -> str | None:
    """The variant to try when `name`'s kernels here are not the gated ones: the manifest's default
    for CPUs without what it needs, else fp32 (the reference arithmetic); None after fp32."""
    need = entry.get("requires")
    candidate = manifest["defaults"].get(f"cpu_without_{need}") if need else None
    if candidate and candidate != name and candidate in manifest["variants"]:
        return candidate
    return "fp32" if name != "fp32" and "fp32" in manifest["variants"] else None


def providers_for(device: str) -> list[str]:
    """Providers in priority order: CUDA first for cuda (CPU kept for ops CUDA lacks), CPU alone for cpu."""
    return [CUDA, CPU] if device == "cuda" else [CPU]


class Encoder:
    """Embeds texts with one ONNX variant. Build once, call `embed` many times."""

    def __init__(
        self,
        model_path: str | Path,
        tokenizer_path: str | Path,
        *,
        device: str = "cpu",
        threads: int | None = None,
        batch_size: int | None = None,
        files: Sequence[ModelFile] = (),
        hash_files: bool = False,
        variant: str | None = None,
        requires: str | None = None,
        profile_prefix: str | None = None,
    ) -> None:
        """files: what the manifest vouches for (`model_files`: the graph, and the weights beside it),
        each checked here for its size, and with hash_files for its sha256 too (the batch jobs; the
        service hashes them in a thread beside its start-up: `handler.model.integrity`). requires: what the variant needs from the CPU (manifest
        "requires"), refused where missing. profile_prefix: onnxruntime profiles this session (each
        node with the provider that ran it; `session.end_profiling()` names the file)."""
        ort = _import_onnxruntime()
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise EncoderError(f"model file not found: {self.model_path}")
        if not Path(tokenizer_path).is_file():
            raise EncoderError(f"tokenizer file not found: {tokenizer_path}")
        for file in files:
            if not file.path.is_file():
                raise EncoderError(f"{file.path} not found, but the manifest lists it (the weights of {self.model_path.name}): "
                                   f"copy it with the rest of the export, or {fix(file.path.parent)}")
            if file.bytes is not None and file.path.stat().st_size != file.bytes:
                raise EncoderError(
                    f"{file.path} has {file.path.stat().st_size} bytes, but the manifest says {file.bytes}: "
                    "the file is truncated or from another export; export again"
                )
            if hash_files and file.sha256 is not None and (actual := sha256_file(file.path)) != file.sha256:
                raise EncoderError(
                    f"{file.path} has sha256 {actual}, but the manifest says {file.sha256}: "
                    "the file is corrupt or from another export; export again"
                )
        self.sha256: str | None = None  # the variant's digest (`variant_sha256`), set by from_export
        self.variant = variant or self.model_path.stem
        self.fallback: str | None = None  # why from_export took another variant than the default
        self.known_vector_cosine: float | None = None  # KNOWN_TEXT's vector against the manifest's (`handler.model.kernels`)
        cannot = cpu.missing(requires)
        if cannot:
            raise EncoderError(f"variant '{self.variant}' needs {requires}, and {cannot}: its vectors would differ from the gated ones; use fp32")
        self.device = resolve_device(device, ort.get_available_providers())
        # batch_size None: what was measured fastest on this CPU (`cpu.batch_rows`), 32 on CUDA
        self.batch_size = int(batch_size) if batch_size is not None else cpu.batch_rows() if self.device == "cpu" else cpu.DEFAULT_BATCH_ROWS
        if self.batch_size < 1:
            raise EncoderError(f"batch_size must be >= 1, got {batch_size}")

        # threads: the wide session's (long texts, batches); None = the cores this process may use
        # (`cpu.usable_cores`: its affinity, and on Lambda what its memory buys)
        self.threads = int(threads) if threads else cpu.usable_cores()
        self._profile_prefix = profile_prefix
        self.session = self._new_session(self.threads)
        self.providers = self.session.get_providers()
        self.provider = self.providers[0]
        if self.device == "cuda" and self.provider != CUDA:
            # onnxruntime drops a provider it cannot initialise (missing cuDNN, driver) without raising.
            raise EncoderError(
                f"CUDA asked for, but onnxruntime built the session on {self.providers}: "
                "check the CUDA/cuDNN libraries onnxruntime-gpu needs, or use --device cpu"
            )
        outputs = {output.name: output for output in self.session.get_outputs()}
        if OUTPUT_NAME not in outputs:
            raise EncoderError(f"{self.model_path} has no '{OUTPUT_NAME}' output (outputs: {sorted(outputs)})")
        self.dim = int(outputs[OUTPUT_NAME].shape[-1])
        self.input_names = {inp.name for inp in self.session.get_inputs()}
        # A call of fewer tokens (rows x padded width) than `wide_from` runs on one thread: onnxruntime's
        # pool would hand each node's slices to the other cores and wait for them, which costs more
        # than it saves on a short query (`cpu.crossover_tokens`, measured per CPU). The one-thread
        # session is built on first use (a batch job may never need it); `python -m handler`'s Worker builds it at start.
        # A profiled encoder keeps one session: its profile (`session.end_profiling()`) then holds every call.
        one_session = self.threads == 1 or self.device != "cpu" or profile_prefix
        self.wide_from = 0 if one_session else cpu.crossover_tokens(self.variant)
        self._narrow = None if self.wide_from else self.session
        self._narrow_lock = threading.Lock()

        self.tokenizer = Tokenizer.from_file(str(tokenizer_path))
        padding = self.tokenizer.padding or {}
        self.pad_id = int(padding.get("pad_id", 0))
        # We pad ourselves, per length-sorted batch, so every text is tokenized exactly once.
        self.tokenizer.no_padding()
        truncation = self.tokenizer.truncation or {}
        self.max_length = int(truncation.get("max_length", 0)) or None

    def _new_session(self, threads: int):
        ort = _import_onnxruntime()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only: onnxruntime's warnings about unused initializers are noise here
        if self._profile_prefix:
            options.enable_profiling = True
            options.profile_file_prefix = str(self._profile_prefix)
        disabled = list(CPU_DISABLED_OPTIMIZERS) if self.device == "cpu" else []
        return ort.InferenceSession(str(self.model_path), options, providers=providers_for(self.device), disabled_optimizers=disabled)

    @property
    def narrow(self):
        """The one-thread session (the wide one itself when that has one thread): a second copy of
        the weights in memory (onnxruntime shares none between sessions: 35 MB for the block-wise int8 served before int8_unsigned, not measured for it)."""
        if self._narrow is None:
            with self._narrow_lock:
                if self._narrow is None:
                    self._narrow = self._new_session(1)
        return self._narrow

    def session_for(self, tokens: int, wide: bool = True):
        """The session a call of `tokens` tokens (rows x padded width) runs on: all cores from
        `wide_from` on, unless `wide` is False (the caller runs other calls beside it, one per core)."""
        return self.session if wide and self.wide_from and tokens >= self.wide_from else self.narrow

    # -- construction from an export directory -------------------------------------------------
    @classmethod
    def from_export(
        cls,
        model_dir: str | Path,
        variant: str | None = None,
        *,
        device: str = "cpu",
        threads: int | None = None,
        batch_size: int | None = None,
        announce: bool = False,
        verify: str = "sha256",
        profile_prefix: str | None = None,
    ) -> "Encoder":
        """Load a variant listed in MODEL_DIR/manifest.json.

        variant None takes the manifest's default for the device (`defaults`: int8 on CPU, fp16 on
        CUDA); on a CPU that lacks what that needs, `defaults["cpu_without_<need>"]`, the reason in
        `fallback`. The chosen variant's vector of a known text must be the export's (`handler.model.kernels`):
        where it is not, the next exact variant is taken (int8 -> int8_unsigned -> fp32), the reason in
        `fallback`; a variant named explicitly is refused instead. verify "sha256" hashes the model file and the tokenizer (against the manifest's
        `tokenizer_sha256`), "size" only compares the model files' lengths (see __init__; the service
        checks both hashes itself: `handler.model.integrity`). announce=True prints the variant and the provider that actually runs to stderr.
        """
        model_dir = Path(model_dir)
        manifest = read_manifest(model_dir)
        ort = _import_onnxruntime()
        resolved = resolve_device(device, ort.get_available_providers())
        name, fallback = choose_variant(manifest, variant, resolved)
        variants = manifest["variants"]
        if name not in variants:
            raise EncoderError(f"variant '{name}' is not in {model_dir / 'manifest.json'} (has: {', '.join(sorted(variants))})")
        if verify not in ("sha256", "size"):
            raise ValueError(f"verify must be 'sha256' or 'size', got {verify!r}")
        if verify == "sha256":
            check_tokenizer(model_dir, manifest)
        tried: list[str] = []
        while True:
            entry = variants[name]
            encoder = cls(
                model_dir / entry["file"],
                model_dir / manifest.get("tokenizer", "tokenizer.json"),
                device=resolved,
                threads=threads,
                batch_size=batch_size,
                files=model_files(model_dir, entry),
                hash_files=verify == "sha256",
                variant=name,
                requires=entry.get("requires"),
                profile_prefix=profile_prefix,
            )
            encoder.sha256 = variant_sha256(entry)  # what the manifest vouches for (checked above when verify="sha256")
            off = encoder._known_vector_off(entry)
            if off is None:
                break
            if variant is not None:
                raise EncoderError(f"variant '{name}' {off}: its vectors would differ from the gated ones; use int8_unsigned or fp32")
            tried.append(f"'{name}' {off}")
            following = _exact_fallback(manifest, name, entry)
            if following is None:
                raise EncoderError(f"no variant of {model_dir} gives the export's vectors on this CPU: " + "; ".join(tried))
            name = following
        if tried:
            fallback = (f"{fallback}; " if fallback else "") + "; ".join(tried) + f": serving '{name}'"
        encoder.fallback = fallback
        if device == "auto" and CUDA in ort.get_available_providers() and encoder.provider != CUDA:
            print(f"WARNING: CUDA is available but onnxruntime runs on {encoder.provider}", file=sys.stderr)
        if announce:
            print(
                f"embedding with variant '{name}' on {encoder.provider}"
                + (" (no CUDA here: CPU)" if device == "auto" and resolved == "cpu" else "")
                + (f" ({fallback})" if fallback else ""),
                file=sys.stderr,
            )
        if encoder.provider == CUDA:
            reference = cls.from_export(model_dir, "fp32", device="cpu", threads=threads)
            encoder.check_parity(reference, _CUDA_PROBE_TEXTS, CUDA_PARITY_MIN_COSINE)
        return encoder

    def _known_vector_off(self, entry: dict) -> str | None:
        """Why this session's vector of KNOWN_TEXT is not the export's (`handler.model.kernels`), or
        None when it is, or when the manifest stores none (an older export; CUDA has its own check)."""
        if self.provider != CPU:
            return None
        cosine = known_vector_cosine(entry, self.embed_one(KNOWN_TEXT))
        self.known_vector_cosine = cosine
        floor = known_vector_floor(entry)
        if cosine is None or cosine >= floor:
            return None
        return (f"gives another vector of the known text on this CPU than the export's (cosine {cosine:.6f} < {floor}): "
                "its kernels here are not the ones the gate measured (a CPU that reports other features than it runs, as under emulation)")

    def check_parity(self, reference: "Encoder", texts: Sequence[str], min_cosine: float) -> float:
        """Refuse to run when this session disagrees with a reference encoder on `texts`."""
        ours, theirs = self.embed(texts), reference.embed(texts)
        worst = float(np.min(np.sum(ours * theirs, axis=1)))
        if not worst >= min_cosine:  # also catches NaN
            raise EncoderError(
                f"variant '{self.variant}' on {self.provider} disagrees with '{reference.variant}' on "
                f"{reference.provider}: min cosine {worst:.6f} < {min_cosine}; refusing to embed"
            )
        return worst

    # -- embedding --------------------------------------------------------------------------------
    def _run(self, ids: np.ndarray, mask: np.ndarray, *, wide: bool = True, session=None) -> np.ndarray:
        """One onnxruntime call, on `session_for` its size (or on `session`)."""
        feeds = {"input_ids": ids, "attention_mask": mask}
        if "token_type_ids" in self.input_names:
            feeds["token_type_ids"] = np.zeros_like(ids)
        if self.provider == CUDA:
            # IO binding: inputs copied to the GPU once, output kept there until the final copy.
            binding = self.session.io_binding()
            for name, array in feeds.items():
                binding.bind_cpu_input(name, array)
            binding.bind_output(OUTPUT_NAME, "cuda")
            self.session.run_with_iobinding(binding)
            return binding.copy_outputs_to_cpu()[0].astype(np.float32, copy=False)
        return (session or self.session_for(ids.size, wide)).run([OUTPUT_NAME], feeds)[0]

    def _pad(self, encodings: Sequence) -> tuple[np.ndarray, np.ndarray]:
        width = max(1, max(len(e.ids) for e in encodings))
        ids = np.full((len(encodings), width), self.pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, encoding in enumerate(encodings):
            ids[row, : len(encoding.ids)] = encoding.ids
            mask[row, : len(encoding.ids)] = 1
        return ids, mask

    def embed(self, texts: Sequence[str], *, sort_by_length: bool = True, wide: bool = True) -> np.ndarray:
        """Vectors for `texts`, float32 [n, dim], in input order.

        Texts are sorted by token count and batched, each batch padded to its longest text,
        so short texts never pay for long ones. wide=False: one thread whatever the size (see `session_for`).
        """
        if isinstance(texts, str):
            raise TypeError("embed() takes a sequence of texts; use embed_one() for a single string")
        texts = list(texts)
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        encodings = self.tokenizer.encode_batch(texts)
        order = (
            sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))
            if sort_by_length
            else list(range(len(texts)))
        )
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            ids, mask = self._pad([encodings[i] for i in rows])
            out[rows] = self._run(ids, mask, wide=wide)
        return out

    def embed_one(self, text: str, *, wide: bool = True) -> np.ndarray:
        """The vector of one query, float32 [dim]: the service's hot path, no sorting, no padding."""
        encoding = self.tokenizer.encode(text)
        ids = np.asarray([encoding.ids], dtype=np.int64)
        return self._run(ids, np.ones_like(ids), wide=wide)[0]

    def limit_tokens(self, max_tokens: int) -> None:
        """Embed from at most `max_tokens` tokens from now on (the special tokens kept: the
        tokenizer truncates): the service's cost bound per query (QUERY_MAX_TOKENS)."""
        self.max_length = min(max_tokens, self.max_length or max_tokens)
        self.tokenizer.enable_truncation(max_length=self.max_length, strategy="longest_first")

    def describe(self) -> dict:
        return {"variant": self.variant, "file": self.model_path.name, "variant_sha256": self.sha256, "provider": self.provider, "dim": self.dim,
                **({"fallback": self.fallback} if self.fallback else {}),
                **({"known_vector_cosine": round(self.known_vector_cosine, 7)} if self.known_vector_cosine is not None else {})}
