"""The float type of the transformers models: "auto" picks bfloat16 only where the CPU computes it."""

from __future__ import annotations

import pytest

from functions.common import pretrained

CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
flags\t\t: fpu sse2 avx2 avx512f {extra}
bogomips\t: 4799.99

processor\t: 1
flags\t\t: fpu sse2 avx2 avx512f avx512_bf16 amx_bf16
"""


def test_the_flags_are_the_first_processors() -> None:
    assert pretrained.cpu_flags(CPUINFO.format(extra="avx512_bf16")) >= {"avx2", "avx512_bf16"}
    assert "avx512_bf16" not in pretrained.cpu_flags(CPUINFO.format(extra=""))
    assert pretrained.cpu_flags("no flags here") == frozenset()


@pytest.mark.parametrize(("native", "on", "chosen"), [
    (True, "cpu", "bfloat16"), (False, "cpu", "float32"), (True, "cuda", "float32"),
])
def test_auto_is_bfloat16_only_on_a_cpu_that_computes_it(
    monkeypatch: pytest.MonkeyPatch, native: bool, on: str, chosen: str
) -> None:
    monkeypatch.setattr(pretrained, "native_bfloat16", lambda: native)
    assert pretrained.float_precision("auto", on) == chosen
    for asked in ("float32", "bfloat16"):
        assert pretrained.float_precision(asked, on) == asked, "what is asked for is what runs"
