"""Shared test helpers: a tiny character-level tokenizer and a tiny random GPT-2, built in code.

Nothing is downloaded: the tokenizer is a `tokenizers` WordLevel model over single characters and
the model comes from a `GPT2Config`; both are saved with save_pretrained into a temporary folder,
which then stands for π_t exactly as a real checkpoint folder would.
"""

from __future__ import annotations

import os
import string
import sys
from pathlib import Path

import pytest

PYTHON_DIR = Path(__file__).resolve().parents[1]
if str(PYTHON_DIR) not in sys.path:
    sys.path.insert(0, str(PYTHON_DIR))
# Nothing is fetched from a model hub, also when the tests run without tools/test-trl.sh.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TQDM_DISABLE", "1")

FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXPORT_FIXTURE = FIXTURES / "builtin-d0.trl.jsonl"
CHAT_EXPORT_FIXTURE = FIXTURES / "chat-d0.trl.jsonl"

EOS = "<|endoftext|>"
CHAT_TOKENS = ["<|user|>", "<|assistant|>", "<|system|>", "<|end|>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}<|{{ message['role'] }}|>{{ message['content'] }}<|end|>{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)


def build_tokenizer():
    """A character-level fast tokenizer with an EOS/pad token and a small chat template."""
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    chars = sorted(set(string.printable))
    vocab = {EOS: 0, "[UNK]": 1}
    for token in CHAT_TOKENS + chars:
        vocab.setdefault(token, len(vocab))
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    core.pre_tokenizer = pre_tokenizers.Split(Regex(r"[\s\S]"), behavior="isolated")
    core.decoder = decoders.Fuse()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core,
        bos_token=EOS,
        eos_token=EOS,
        pad_token=EOS,
        unk_token="[UNK]",
        additional_special_tokens=CHAT_TOKENS,
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def build_tiny_gpt2(vocab_size: int, seed: int = 0):
    """A randomly initialised 2-layer GPT-2 with 32-dimensional states."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=512,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
    )
    return GPT2LMHeadModel(config)


@pytest.fixture(scope="session")
def tiny_policy_dir(tmp_path_factory) -> Path:
    """A folder holding π_t: the tiny GPT-2 and its tokenizer, as save_pretrained writes them."""
    folder = tmp_path_factory.mktemp("pi_t")
    tokenizer = build_tokenizer()
    model = build_tiny_gpt2(len(tokenizer))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
