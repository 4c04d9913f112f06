from __future__ import annotations

from campaigns.rendering import render, unknown_fields


def test_render_merge_fields_and_fallback():
    body = "Hi {{first_name|there}} {{ last_name }}: {{link}}"
    assert render(body, first_name="Ada", last_name="L", link="https://s/x") == "Hi Ada L: https://s/x"
    assert render(body, link="https://s/x") == "Hi there : https://s/x"


def test_unknown_fields_named():
    assert unknown_fields("Hi {{first_name}} {{coupon}} {{coupon}} {{zip}}") == ["coupon", "zip"]
