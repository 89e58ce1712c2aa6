"""Tokenizers trained here, on the shipped corpus, so no test needs a model hub."""

from __future__ import annotations

from pathlib import Path

import pytest

from guidellm.data.corpus import corpus_text


def _train(kind: str, path: Path) -> Path:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

    text = [corpus_text()]
    if kind == "bpe":  # GPT-2 style byte-level BPE
        tok = Tokenizer(models.BPE())
        tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tok.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=1500, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
        )
    elif kind == "wordpiece":  # BERT style: lower-cased, split on spaces and punctuation
        tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
        tok.normalizer = normalizers.BertNormalizer(lowercase=True)
        tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        tok.decoder = decoders.WordPiece()
        trainer = trainers.WordPieceTrainer(vocab_size=800, special_tokens=["[UNK]"])
    elif kind == "unigram":  # SentencePiece style with the metaspace
        tok = Tokenizer(models.Unigram())
        tok.pre_tokenizer = pre_tokenizers.Metaspace()
        tok.decoder = decoders.Metaspace()
        trainer = trainers.UnigramTrainer(
            vocab_size=600, special_tokens=["<unk>"], unk_token="<unk>"
        )
    else:  # a word-level vocabulary
        tok = Tokenizer(models.WordLevel(unk_token="[UNK]"))
        tok.pre_tokenizer = pre_tokenizers.Whitespace()
        trainer = trainers.WordLevelTrainer(special_tokens=["[UNK]"])
    tok.train_from_iterator(text, trainer)
    tok.save(str(path))
    return path


@pytest.fixture(scope="session")
def tokenizer_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``kind -> tokenizer.json`` for four tokenizer families."""
    root = tmp_path_factory.mktemp("tokenizers")
    return {
        kind: _train(kind, root / f"{kind}.json")
        for kind in ("bpe", "wordpiece", "unigram", "wordlevel")
    }


@pytest.fixture(scope="session")
def bpe_path(tokenizer_files: dict[str, Path]) -> Path:
    return tokenizer_files["bpe"]
