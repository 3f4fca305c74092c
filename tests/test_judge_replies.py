"""Reading the judge model's replies: the JSON found in what models really write, or an error."""

from __future__ import annotations

import pytest

from qa.eval.judge_replies import ReplyError, json_in, truth, verdict, verdicts

SUPPORTED = ("supported",)


def test_plain_json_in_order_of_the_numbers_given() -> None:
    reply = (
        '{"verdicts": [{"claim": 2, "supported": false, "reason": "no date"},'
        ' {"claim": 1, "supported": true, "reason": "stated"}]}'
    )
    assert verdicts(reply, 2, "claim", SUPPORTED) == [(True, "stated"), (False, "no date")]


def test_fences_prose_and_bracketed_numbers_around_the_json() -> None:
    reply = (
        "Claim [1] is in passage [2], claim 2 is not.\n"
        '```json\n{"claims": [{"claim": "(1)", "supported": "yes"},\n'
        ' {"claim": "claim 2", "supported": "Not supported."}]}\n```\nHope this helps!'
    )
    assert verdicts(reply, 2, "claim", SUPPORTED) == [(True, ""), (False, "")]


def test_a_bare_array_without_numbers_counts_in_order() -> None:
    reply = '[{"supported": 1}, {"supported": 0, "explanation": "adds a cause"}]'
    assert verdicts(reply, 2, "claim", SUPPORTED) == [(True, ""), (False, "adds a cause")]


def test_a_claims_text_holding_a_number_is_not_taken_for_its_number() -> None:
    reply = '{"verdicts": [{"claim": "China controls 70 percent", "supported": true}]}'
    assert verdicts(reply, 1, "claim", SUPPORTED) == [(True, "")]


def test_one_item_not_in_a_list_and_other_list_names() -> None:
    assert verdicts('{"fact": 1, "stated": "true"}', 1, "fact", ("stated",)) == [(True, "")]
    reply = '{"assessment": [{"fact": 1, "stated": false}, {"fact": 2, "stated": true}]}'
    assert [ok for ok, _ in verdicts(reply, 2, "fact", ("stated",))] == [False, True]


def test_a_missing_verdict_is_an_error_never_a_guess() -> None:
    reply = '{"verdicts": [{"claim": 1, "supported": true}, {"claim": 3, "supported": true}]}'
    with pytest.raises(ReplyError, match="no verdict for claim 2 of 3"):
        verdicts(reply, 3, "claim", SUPPORTED)
    with pytest.raises(ReplyError, match=r"1 unnumbered verdict\(s\) for 2 claim\(s\)"):
        verdicts('[{"supported": "maybe"}, {"supported": true}]', 2, "claim", SUPPORTED)
    with pytest.raises(ReplyError, match="no verdict for fact 1, 2 of 2"):
        verdicts('{"verdicts": [{"fact": 1, "true": 1}]}', 2, "fact", ("stated",))


@pytest.mark.parametrize(
    ("reply", "message"),
    [
        ("Claim 1 is supported.", "holds no JSON object: 'Claim 1 is supported.'"),
        ('{"verdicts": [{"claim": 1, "supported": tru', "holds no JSON object"),
        ("   ", "was empty"),
        ("[1, 2]", "holds no JSON object"),
    ],
)
def test_no_json_is_an_error(reply: str, message: str) -> None:
    with pytest.raises(ReplyError, match=message):
        json_in(reply)


def test_a_long_bad_reply_is_clipped_in_the_error() -> None:
    with pytest.raises(ReplyError) as err:
        verdicts("word " * 500, 1, "claim", SUPPORTED)
    assert len(str(err.value)) < 200 and str(err.value).endswith("…'")


def test_one_verdict_and_the_words_for_yes_and_no() -> None:
    assert verdict('Sure: {"declines": "Yes", "reason": "says so"}', ("declines",)) == (
        True,
        "says so",
    )
    with pytest.raises(ReplyError, match="no true/false 'declines'"):
        verdict('{"declines": "somewhat"}', ("declines",))
    assert [truth(v) for v in (True, "No", "partially supported", 2, None, "n/a")] == [
        True,
        False,
        False,
        None,
        None,
        None,
    ]
