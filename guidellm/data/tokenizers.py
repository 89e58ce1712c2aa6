"""One small tokenizer interface over ``tokenizers``, ``transformers`` and an approximate counter.

The rest of guidellm (synthetic prompts, token counts when a server sends no ``usage``) only
needs :class:`Tokenizer`. ``--processor`` picks one with :func:`load_tokenizer`:

* a ``tokenizer.json`` file, or a folder holding one: loaded with the ``tokenizers`` package
  (the ``hf`` extra), fast and with no model hub;
* a Hugging Face folder or hub id with ``transformers`` installed: ``AutoTokenizer`` (adds the
  chat template); its fast backend still does the counting;
* nothing: :class:`ApproxTokenizer`, documented below, with ``exact = False`` so that reports say
  the prompt token counts are approximate.

Heavy packages are imported inside functions so that ``guidellm --help`` stays fast.
"""

from __future__ import annotations

import abc
import json
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from guidellm.errors import UserError

__all__ = ["ApproxTokenizer", "HFTokenizer", "Tokenizer", "load_tokenizer"]


class Tokenizer(abc.ABC):
    """Count, encode and decode text; render chat messages when the tokenizer has a template.

    ``count``/``encode`` never add special tokens (BOS/EOS): they measure the text itself.
    ``roundtrip_exact`` promises that ``count(decode(ids)) == len(ids)`` for any ids, which lets
    the synthetic source skip its verification step.
    """

    name: str = "tokenizer"
    exact: bool = True
    roundtrip_exact: bool = False

    @abc.abstractmethod
    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` without special tokens."""

    @abc.abstractmethod
    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids`` (special tokens skipped)."""

    def count(self, text: str) -> int:
        """Number of tokens in ``text``."""
        return len(self.encode(text))

    def apply_chat_template(self, messages: Sequence[Mapping[str, Any]]) -> str | None:
        """The prompt a chat server would build from ``messages``; ``None`` without a template."""
        return None

    def spans(self, text: str) -> list[tuple[int, int]] | None:
        """The character span of each token of ``text`` (``None`` when unknown).

        The synthetic source uses it once per corpus to cut prompts at token boundaries
        without decoding or re-encoding per request.
        """
        return None

    def describe(self) -> dict[str, Any]:
        """For the report."""
        return {"name": self.name, "exact": self.exact}


class ApproxTokenizer(Tokenizer):
    """The documented approximate counter used when no tokenizer is given.

    Rule: one token per run of letters/digits/underscore (``\\w+``) and one per other
    non-space character (punctuation). For English prose, real subword tokenizers (BPE,
    SentencePiece) usually give 5-30% more tokens than this. ``encode`` maps each such piece to
    an id in a vocabulary that grows as text is seen; ``decode`` puts a space before every word
    and none before punctuation, so decoding then counting always gives back ``len(ids)``.
    """

    name = "approximate"
    exact = False
    roundtrip_exact = True
    _PIECE = re.compile(r"\w+|[^\w\s]")

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._pieces: list[str] = []  # what decode emits per id: " word" or "."

    def count(self, text: str) -> int:
        return len(self._PIECE.findall(text))

    def encode(self, text: str) -> list[int]:
        ids = self._ids
        out: list[int] = []
        for piece in self._PIECE.findall(text):
            i = ids.get(piece)
            if i is None:
                i = ids[piece] = len(self._pieces)
                self._pieces.append(" " + piece if piece[0].isalnum() or piece[0] == "_" else piece)
            out.append(i)
        return out

    def decode(self, ids: Sequence[int]) -> str:
        pieces = self._pieces
        return "".join([pieces[i] for i in ids]).lstrip()

    def spans(self, text: str) -> list[tuple[int, int]]:
        return [m.span() for m in self._PIECE.finditer(text)]


ChatRenderer = Callable[[list[dict[str, Any]]], str]


class HFTokenizer(Tokenizer):
    """A ``tokenizers.Tokenizer`` (from a ``tokenizer.json``), with the folder's chat template
    when it has one (``chat`` renders messages to the prompt text)."""

    exact = True

    def __init__(self, backend: Any, name: str, chat: ChatRenderer | None = None) -> None:
        self._tok = backend
        self._chat = chat
        self.name = name

    def encode(self, text: str) -> list[int]:
        ids: list[int] = self._tok.encode(text, add_special_tokens=False).ids
        return ids

    def count(self, text: str) -> int:
        return len(self._tok.encode(text, add_special_tokens=False))

    def count_batch(self, texts: list[str]) -> list[int]:
        """Counts of many texts in one call into Rust (cheaper than a loop of :meth:`count`)."""
        fast = getattr(self._tok, "encode_batch_fast", None) or self._tok.encode_batch
        return [len(e) for e in fast(texts, add_special_tokens=False)]

    def decode(self, ids: Sequence[int]) -> str:
        text: str = self._tok.decode(list(ids), skip_special_tokens=True)
        return text

    def spans(self, text: str) -> list[tuple[int, int]] | None:
        offsets: list[tuple[int, int]] = self._tok.encode(text, add_special_tokens=False).offsets
        return offsets

    def apply_chat_template(self, messages: Sequence[Mapping[str, Any]]) -> str | None:
        if self._chat is None:
            return None
        try:
            return self._chat([dict(m) for m in messages])
        except Exception:  # a template that rejects these roles: no template for our purposes
            return None

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "chat_template": self._chat is not None}


def _missing_extra(what: str) -> UserError:
    return UserError(
        f"{what} needs the 'tokenizers' package; install it with: pip install 'guidellm[hf]'"
    )


def _from_tokenizer_json(path: Path, name: str, chat: ChatRenderer | None = None) -> HFTokenizer:
    try:
        from tokenizers import Tokenizer as RustTokenizer
    except ImportError:
        raise _missing_extra(f"--processor {name}") from None
    try:
        backend = RustTokenizer.from_file(str(path))
    except Exception as exc:
        raise UserError(
            f"--processor {name}: {path} is not a valid tokenizer.json ({exc}); "
            "pass a tokenizer.json file or a Hugging Face tokenizer folder"
        ) from None
    return HFTokenizer(backend, name, chat)


def _from_transformers(processor: str, local: bool) -> HFTokenizer | None:
    """``AutoTokenizer`` when transformers is installed; ``None`` when it is not."""
    try:
        from transformers import AutoTokenizer
    except ImportError:
        return None
    tok: Any = None
    if not local:
        from guidellm.data.hub import hub_reachable

        try:  # a copy in the local Hugging Face cache needs no network
            tok = AutoTokenizer.from_pretrained(processor, local_files_only=True)
        except Exception:
            tok = None
        if tok is None and not hub_reachable():
            raise UserError(
                f"--processor {processor}: the Hugging Face hub is unreachable and the id is not "
                "in the local cache; pass a local tokenizer folder or tokenizer.json"
            )
    try:
        tok = tok or AutoTokenizer.from_pretrained(processor, local_files_only=local)
    except Exception as exc:
        where = "folder" if local else "Hugging Face id (is the hub reachable?)"
        raise UserError(
            f"--processor {processor}: could not load a tokenizer from this {where}: "
            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}; pass a local "
            "tokenizer folder or a tokenizer.json file"
        ) from None
    chat: ChatRenderer | None = None
    if getattr(tok, "chat_template", None):

        def chat(messages: list[dict[str, Any]]) -> str:
            return str(
                tok.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
            )

    backend = getattr(tok, "backend_tokenizer", None)
    if backend is None:
        return _SlowTransformers(tok, processor, chat)
    return HFTokenizer(backend, processor, chat)


class _SlowTransformers(HFTokenizer):
    """A transformers tokenizer without a fast (Rust) backend: slower, still exact."""

    def __init__(self, tok: Any, name: str, chat: ChatRenderer | None) -> None:
        super().__init__(None, name, chat)
        self._slow = tok

    def encode(self, text: str) -> list[int]:
        return list(self._slow.encode(text, add_special_tokens=False))

    def count(self, text: str) -> int:
        return len(self.encode(text))

    def count_batch(self, texts: list[str]) -> list[int]:
        return [self.count(t) for t in texts]

    def decode(self, ids: Sequence[int]) -> str:
        return str(self._slow.decode(list(ids), skip_special_tokens=True))

    def spans(self, text: str) -> list[tuple[int, int]] | None:
        return None


def _chat_template_only(folder: Path) -> ChatRenderer | None:
    """A renderer for the chat template stored beside a ``tokenizer.json`` (in
    ``chat_template.jinja`` or ``tokenizer_config.json``), when jinja2 is installed.

    Rendering it ourselves avoids importing transformers (seconds) just for a template.
    """
    template: Any = None
    config: dict[str, Any] = {}
    try:
        if (folder / "tokenizer_config.json").is_file():
            config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        if (folder / "chat_template.jinja").is_file():
            template = (folder / "chat_template.jinja").read_text(encoding="utf-8")
    except (ValueError, OSError):
        return None
    template = template or config.get("chat_template")
    if isinstance(template, list):  # named templates: [{"name": "default", "template": ...}]
        named = {t.get("name"): t.get("template") for t in template if isinstance(t, dict)}
        template = named.get("default") or next(iter(named.values()), None)
    if not isinstance(template, str):
        return None
    try:
        from jinja2.sandbox import ImmutableSandboxedEnvironment
    except ImportError:
        return None

    def special(name: str) -> str:
        value = config.get(name)
        return str(value.get("content", "")) if isinstance(value, dict) else str(value or "")

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)

    def raise_exception(message: str) -> None:
        raise ValueError(message)

    env.globals["raise_exception"] = raise_exception
    try:
        compiled = env.from_string(template)
    except Exception:
        return None
    tokens = {"bos_token": special("bos_token"), "eos_token": special("eos_token")}

    def render(messages: list[dict[str, Any]]) -> str:
        return compiled.render(messages=messages, add_generation_prompt=True, **tokens)

    return render


def load_tokenizer(processor: str | None) -> Tokenizer | None:
    """The tokenizer ``--processor`` names, or ``None`` when it names none.

    Raises :class:`UserError` naming the fix when it cannot be loaded.
    """
    if processor is None or not str(processor).strip():
        return None
    processor = str(processor).strip()
    if processor.lower() in {"approx", "approximate"}:
        return ApproxTokenizer()
    path = Path(processor).expanduser()
    if path.is_file():
        return _from_tokenizer_json(path, processor)
    if path.is_dir():
        if (path / "tokenizer.json").is_file():
            return _from_tokenizer_json(
                path / "tokenizer.json", processor, _chat_template_only(path)
            )
        tok = _from_transformers(str(path), local=True)
        if tok is not None:
            return tok
        raise UserError(
            f"--processor {processor}: the folder has no tokenizer.json; pass a folder with "
            "tokenizer.json, or install transformers (pip install 'guidellm[transformers]')"
        )
    looks_like_path = processor.startswith((".", "/", "~")) or processor.endswith(".json")
    if not looks_like_path and re.fullmatch(r"[\w.-]+(/[\w.-]+)?", processor):
        tok = _from_transformers(processor, local=False)
        if tok is not None:
            return tok
        raise UserError(
            f"--processor {processor}: not a local file or folder, and loading a Hugging Face "
            "id needs transformers (pip install 'guidellm[transformers]'); or pass a local "
            "tokenizer.json or tokenizer folder"
        )
    raise UserError(
        f"--processor {processor}: no such file or folder; pass a tokenizer.json file, a "
        "tokenizer folder or a Hugging Face id"
    )
