"""Models of the real size with random weights, for measuring cost where the weights are not here.

CLIP ViT-B/32 (224 px, 512-d projection, 49 408 words), BLIP base (BlipForConditionalGeneration,
ViT-B/16 at 384 px, a 12-layer BERT decoder, 30 524 words) and Qwen2.5-0.5B-Instruct (24 layers, 896
wide, 151 936 words) cost what the real ones cost per image or token; their tokenizers are the tests'
small ones (tests/models.py), which changes nothing that is timed (CLIP's label prompts are embedded
once per label set). The end token is made unreachable, so every answer runs to its token limit: the
worst case.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from functions.catalog import functions
from functions.weights import LABEL, WEIGHTS_LIST
from tests.models import build_tiny_blip, build_tiny_clip, build_tiny_instruct

CLIP_WORDS = 49_408
BLIP_WORDS = 30_524
QWEN_WORDS = 151_936


def clip_base(directory: Path) -> Path:
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor

    build_tiny_clip(directory)
    tiny = json.loads((directory / "config.json").read_text())["text_config"]
    # CLIPConfig's defaults are ViT-B/32's; the token ids are the small tokenizer's.
    config = CLIPConfig(text_config={"vocab_size": CLIP_WORDS, "bos_token_id": tiny["bos_token_id"],
                                     "eos_token_id": tiny["eos_token_id"], "pad_token_id": tiny["pad_token_id"]})
    CLIPModel(config).save_pretrained(directory)
    _image_size(directory, CLIPProcessor, CLIPImageProcessor())  # its defaults: 224 px, CLIP's normalisation
    return directory


def blip_base(directory: Path) -> Path:
    import torch
    from transformers import BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

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
    _image_size(directory, BlipProcessor, BlipImageProcessor(size={"height": 384, "width": 384}))
    return directory


def _image_size(directory: Path, processor_class: Any, image_processor: Any) -> None:
    """Saves the processor again with ``image_processor``: the processor's own file holds the image
    settings, so saving the image processor alone would leave the small model's image size in force."""
    tokenizer = processor_class.from_pretrained(directory, local_files_only=True).tokenizer
    processor_class(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(directory)


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


RANDOM: dict[str, Callable[[Path], Path]] = {"clip": clip_base, "blip": blip_base, "instruct": qwen_half_billion}


def models_of(function_names: Iterable[str]) -> set[str]:
    """The models (`make models` names) the functions read, as their stack.yml labels list them."""
    specs = functions()
    return {model.strip() for name in function_names for model in specs[name].labels.get(LABEL, "").split(",")
            if model.strip()}


@dataclass(frozen=True)
class ModelDir:
    """A directory the functions read their models from (MEDIALENS_FN_MODEL_DIR)."""

    path: Path
    random: frozenset[str]  # the models in it with random weights of the real size


def model_dir(directory: Path, installed: Path, function_names: Iterable[str]) -> ModelDir:
    """Fills ``directory`` with every model that `make models` put in ``installed``, linked, and every other
    model of the functions named, random of the real size."""
    wanted = models_of(function_names)
    directory.mkdir(parents=True, exist_ok=True)
    built = set()
    for weights in WEIGHTS_LIST:
        if weights.installed(installed / weights.name):
            (directory / weights.name).symlink_to((installed / weights.name).resolve(), target_is_directory=True)
        elif weights.name in wanted and weights.name in RANDOM:
            RANDOM[weights.name](directory / weights.name)
            built.add(weights.name)
    return ModelDir(directory, frozenset(built))
