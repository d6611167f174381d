"""The reply-bureau weak labels and the leak filter used by the cross-validation experiments."""

from __future__ import annotations

from judgement_lab.weak_labels import bureau_category, leak_free


def test_bureau_category_takes_the_earliest_named_bureau() -> None:
    assert bureau_category("您好！市住建局及时将您反映的问题交由市房屋交易管理中心办理") == "城乡建设"
    assert bureau_category("经县教育局调查，已转县人社局处理") == "教育文体"
    assert bureau_category("网友您好，经我局核实，现答复如下") is None


def test_leak_free_drops_copies_of_held_out_text() -> None:
    held = ["小区门口烧烤摊油烟噪音扰民严重请求处理"]
    candidates = ["小区门口烧烤摊油烟噪音扰民严重请求处理", "公交线路调整后孩子上学很不方便"]
    assert leak_free(candidates, held) == [False, True]
