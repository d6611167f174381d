"""Text and phone normalisation."""

import pytest

from ingest.normalise import normalise_phone, normalise_text


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
