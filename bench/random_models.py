"""Language models of the real size with random weights, for measuring cost where the weights are not here.

BLIP base (BlipForConditionalGeneration, ViT-B/16 at 384 px, a 12-layer BERT decoder, 30 524 words)
and Qwen2.5-0.5B-Instruct (24 layers, 896 wide, 151 936 words) cost what the real ones cost per
token; their tokenizers are the tests' small ones (tests/models.py), which changes nothing that is
timed. The end token is made unreachable, so every answer runs to its token limit: the worst case.
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.models import build_tiny_blip, build_tiny_instruct

BLIP_WORDS = 30_524
QWEN_WORDS = 151_936


def blip_base(directory: Path) -> Path:
    import torch
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessor

    build_tiny_blip(directory)
    tiny = json.loads((directory / "config.json").read_text())["text_config"]
    never = BLIP_WORDS - 1  # the end token: its score is pinned far below every other
    config = BlipConfig(
        text_config={"vocab_size": BLIP_WORDS, "bos_token_id": tiny["bos_token_id"], "sep_token_id": never,
                     "pad_token_id": tiny["pad_token_id"], "eos_token_id": never},
        vision_config={"image_size": 384},
    )
    model = BlipForConditionalGeneration(config)
    with torch.no_grad():
        model.text_decoder.cls.predictions.bias[never] = -1e4
    model.save_pretrained(directory)
    BlipImageProcessor(size={"height": 384, "width": 384}).save_pretrained(directory)
    return directory


def qwen_half_billion(directory: Path) -> Path:
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    build_tiny_instruct(directory)
    never = QWEN_WORDS - 1
    config = Qwen2Config(
        vocab_size=QWEN_WORDS, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
        num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32_768, tie_word_embeddings=True,
        eos_token_id=never, pad_token_id=never, bos_token_id=None,
    )
    model = Qwen2ForCausalLM(config)
    with torch.no_grad():
        model.model.embed_tokens.weight[never] = 0.0
    model.save_pretrained(directory)
    return directory
