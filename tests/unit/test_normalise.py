"""Text and phone normalisation."""

import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.normalise import nfkc, normalise_phone, normalise_text


def test_nfkc_folds_fullwidth_and_strips_controls() -> None:
    assert normalise_text("\u3000ＡＢＣ１２３\x00\u200b路灯坏了\x07 ") == "ABC123路灯坏了"


def test_keeps_newlines_but_collapses_runs() -> None:
    assert normalise_text("第一行\r\n\r\n\r\n\r\n第二行  有   空格") == "第一行\n\n第二行 有 空格"


@pytest.mark.parametrize(
    ("raw", "digits"),
    [("13800138000", "13800138000"), ("+86 138-0013-8000", "13800138000"), ("010-62345678", "01062345678")],
)
def test_valid_phones(raw: str, digits: str) -> None:
    assert normalise_phone(raw) == digits


@pytest.mark.parametrize("raw", ["12345", "1380013800", "abc13800138000", "23800138000"])
def test_invalid_phones(raw: str) -> None:
    with pytest.raises(ValueError, match="phone"):
        normalise_phone(raw)


def _reference(value: str) -> str:
    """normalise_text as first written (before its one-line fast path): the behaviour to keep."""
    text = unicodedata.normalize("NFKC", value).replace("\r\n", "\n").replace("\r", "\n")
    text = re.sub(
        r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff\ud800-\udfff]", "", text
    )
    text = re.sub(r"[ \t\u3000]+", " ", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return "\n".join(line.strip() for line in text.split("\n")).strip()


@given(st.text(alphabet=st.sampled_from(" \t\r\n\u3000\u2028\x0b\x85\u200bａ路 x\ufeff\ud800①"), max_size=40))
def test_fast_path_keeps_the_reference_behaviour(value: str) -> None:
    assert normalise_text(value) == _reference(value)


@given(st.text(max_size=60))
def test_fast_path_keeps_the_reference_behaviour_on_any_text(value: str) -> None:
    assert normalise_text(value) == _reference(value)


# What `nfkc` replaces itself, other characters NFKC changes, combining marks that could compose with them.
_NFKC_ALPHABET = "，\u3000\xa0！：？）（；ａ１①㎡…﹝\u0301\u0338\u0308e路 (,"


@given(st.text(alphabet=st.sampled_from(_NFKC_ALPHABET), max_size=40))
def test_nfkc_is_unicodedatas_nfkc(value: str) -> None:
    assert nfkc(value) == unicodedata.normalize("NFKC", value)


@given(st.text(max_size=60))
def test_nfkc_is_unicodedatas_nfkc_on_any_text(value: str) -> None:
    assert nfkc(value) == unicodedata.normalize("NFKC", value)
