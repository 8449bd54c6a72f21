"""Small models built offline for tests, for engines whose real weights no package ships."""

from __future__ import annotations

import json
from pathlib import Path


def build_tiny_clip(directory: Path) -> Path:
    """A random CLIP (32 px images, 16-d embeddings) saved like a real model directory."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    letters = "abcdefghijklmnopqrstuvwxyz"
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    vocab.update({letter: len(vocab) + index for index, letter in enumerate(letters)})
    vocab.update({f"{letter}</w>": len(vocab) + index for index, letter in enumerate(letters)})
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    torch.manual_seed(0)
    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 77,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 1,
        },
        vision_config={
            "image_size": 32,
            "patch_size": 8,
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
        },
        projection_dim=16,
    )
    CLIPModel(config).save_pretrained(directory)
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
        tokenizer=tokenizer,
    )
    processor.save_pretrained(directory)
    assert json.loads((directory / "config.json").read_text())["projection_dim"] == 16
    return directory


WORDS = ("a", "dog", "cat", "on", "the", "beach", "sitting", "of", "with", "picture", "man", "woman", "red", "car")


def _word_vocab(extra: tuple[str, ...] = ()) -> dict[str, int]:
    """A WordPiece vocabulary of a few English words (BERT's special tokens first)."""
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *extra, *WORDS, *"abcdefghijklmnopqrstuvwxyz"]
    return {token: number for number, token in enumerate(tokens)}


def build_tiny_blip(directory: Path, image_size: int = 32, initializer_range: float = 0.02) -> Path:
    """A random BLIP captioner (BlipForConditionalGeneration, the architecture of BLIP base) with 32 px
    images and a 36-word vocabulary, saved like a real model directory. With the weights drawn as transformers
    draws them (``initializer_range`` 0.02) it writes the same words for every picture; with 0.2 its words
    differ from picture to picture."""
    import torch
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    vocab = _word_vocab(("[DEC]",))
    tokenizer = BertTokenizer(vocab=vocab, bos_token="[DEC]")
    size = len(vocab)
    torch.manual_seed(0)
    config = BlipConfig(
        text_config={
            "vocab_size": size, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 2, "encoder_hidden_size": 32, "max_position_embeddings": 64,
            "bos_token_id": tokenizer.bos_token_id, "sep_token_id": tokenizer.sep_token_id,
            "pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.sep_token_id,
            "initializer_range": initializer_range,
        },
        vision_config={
            "image_size": image_size, "patch_size": 8, "hidden_size": 32, "intermediate_size": 64,
            "num_hidden_layers": 2, "num_attention_heads": 2, "initializer_range": initializer_range,
        },
        projection_dim=16,
    )
    BlipForConditionalGeneration(config).save_pretrained(directory)
    processor = BlipProcessor(
        image_processor=BlipImageProcessor(size={"height": image_size, "width": image_size}), tokenizer=tokenizer
    )
    processor.save_pretrained(directory)
    return directory


CHAT_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def build_tiny_instruct(directory: Path, context: int = 256) -> Path:
    """A random Qwen2 causal LM (the architecture of Qwen2.5-0.5B-Instruct) with a word-level tokenizer
    and a ChatML template, saved like a real model directory."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM, Qwen2Tokenizer

    # Byte-level BPE as Qwen's: "Ġ" is a space before a word, "Ċ" a new line; each word is one token.
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab: dict[str, int] = {}
    merges: list[tuple[str, str]] = []
    for word in ["title", ":", "summary", "user", "system", "assistant", "Ċ", *WORDS]:
        for spelled in (word, f"Ġ{word}"):
            for char in spelled:
                vocab.setdefault(char, len(vocab))
            for end in range(2, len(spelled) + 1):
                pair = (spelled[: end - 1], spelled[end - 1])
                if pair[0] + pair[1] not in vocab:
                    merges.append(pair)
                    vocab[pair[0] + pair[1]] = len(vocab)
    for token in specials:
        vocab[token] = len(vocab)
    tokenizer = Qwen2Tokenizer(vocab=vocab, merges=merges, eos_token="<|im_end|>",  # type: ignore[arg-type]
                               pad_token="<|endoftext|>", unk_token=None)  # type: ignore[arg-type]
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    tokenizer.chat_template = CHAT_TEMPLATE
    torch.manual_seed(0)
    config = Qwen2Config(
        vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=1, max_position_embeddings=context, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, bos_token_id=None, tie_word_embeddings=False,
    )
    model = Qwen2ForCausalLM(config)
    with torch.no_grad():
        # Random weights would often stop at once; special tokens scoring 0 lets it write to its token limit.
        model.lm_head.weight[tokenizer.convert_tokens_to_ids(specials)] = 0.0
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory
