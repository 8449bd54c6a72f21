"""Which nudenet region classes count as intimate, and what a person reads for each.

nudenet's 320n detector names 18 classes; most are harmless (faces, feet, belly, a man's chest, any
covered part) and are detected on every ordinary photo. Only the classes here decide a verdict or
are drawn over a picture: the UI imports this data-only module, so it must stay free of model code.
"""

from __future__ import annotations

# Exposed intimate parts: these make a picture explicit, and only these are drawn as NSFW regions.
EXPLICIT_REGIONS = frozenset(
    {
        "FEMALE_GENITALIA_EXPOSED",
        "MALE_GENITALIA_EXPOSED",
        "FEMALE_BREAST_EXPOSED",
        "BUTTOCKS_EXPOSED",
        "ANUS_EXPOSED",
    }
)
# Covered intimate parts (underwear, swimwear): a picture may be questionable, but nothing is drawn.
SUGGESTIVE_REGIONS = frozenset(
    {"FEMALE_GENITALIA_COVERED", "FEMALE_BREAST_COVERED", "BUTTOCKS_COVERED", "ANUS_COVERED"}
)
# What the result view writes beside a drawn region.
HUMAN_NAMES = {
    "FEMALE_GENITALIA_EXPOSED": "exposed genitals",
    "MALE_GENITALIA_EXPOSED": "exposed genitals",
    "FEMALE_BREAST_EXPOSED": "exposed breast",
    "BUTTOCKS_EXPOSED": "exposed buttocks",
    "ANUS_EXPOSED": "exposed anus",
}
