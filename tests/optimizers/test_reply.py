"""Reply parsing and the repair loop (optimizers._reply)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from optimizers._reply import ask_with_repair, check_suggestion, parse_json, parse_reply, reply_model
from optimizers.optoprime import OptoPrime
from trace_core import Parameter, prompts
from trace_core.errors import BudgetExceeded, InvalidProposal
from trace_core.llm import BadRequest, FatalLLMError, ScriptedLLM, UnparseableReply
from trace_core.spaces import Choice, Code, Float, Int, Json, Text


class Arch(BaseModel):
    width: int
    depth: int = 2


def _optimizer():
    params = [
        Parameter(1.0, name="x", space=Float(0, 10)),
        Parameter(3, name="k", space=Int(1, 5)),
        Parameter("hi", name="prompt", space=Text(max_chars=20)),
        Parameter("def f(a):\n    return a\n", name="f", space=Code(name="f", args=["a"])),
        Parameter("relu", name="act", space=Choice(["relu", "tanh"])),
        Parameter(Arch(width=4), name="arch", space=Json(Arch)),
    ]
    return OptoPrime(params, ScriptedLLM([]))


@pytest.mark.parametrize("text", [
    '{"a": 1}',
    'Sure, here it is:\n```json\n{"a": 1}\n```\nGood luck!',
    'My answer is {"a": 1} as requested.',
    "{'a': 1}",
    'I think {x} matters. {"a": 1}',
    '```json\n{"a": 1,}\n```',  # a trailing comma
    "{'a': 1, 'b': null}",  # Python quotes with a JSON literal
])
def test_parse_json_finds_the_object(text):
    assert {k: v for k, v in parse_json(text).items() if k != "b"} == {"a": 1}


def test_parse_json_takes_the_outer_object_and_raw_line_breaks():
    # the outer object has a trailing comma and a brace inside a string: never the inner object alone
    text = '{"reasoning": "use {x}", "suggestion": {"x": 1},}'
    assert parse_json(text) == {"reasoning": "use {x}", "suggestion": {"x": 1}}
    assert parse_json('{"f": "def f(a):\n    return a"}') == {"f": "def f(a):\n    return a"}
    with pytest.raises(UnparseableReply, match="cut off"):  # truncated: not its complete inner object
        parse_json('{"reasoning": "r", "suggestion": {"x": 1}, "no_ch')


@pytest.mark.parametrize("text, words", [
    ('{"a": 1, "b": [1, 2', "cut off"),
    ("no json here", "no JSON object"),
    ("", "empty"),
    ('{"a": 1 "b": 2}', "not valid JSON"),
])
def test_parse_json_says_what_is_wrong(text, words):
    with pytest.raises(UnparseableReply, match=words) as info:
        parse_json(text)
    assert info.value.raw == text


def test_parse_reply_validates_against_a_schema():
    assert parse_reply('ok: {"width": 8}', Arch).width == 8
    with pytest.raises(UnparseableReply, match="width"):
        parse_reply('{"depth": 3}', Arch)


def test_check_suggestion_accepts_every_space_and_drops_unchanged_values():
    opt = _optimizer()
    reply = {"reasoning": "r", "no_change": False, "suggestion": {
        "x": "2.5", "k": 3, "prompt": "hello", "f": "def f(a):\n    return a + 1\n", "act": "TANH",
        "arch": {"width": 16}}}
    s = check_suggestion(json.dumps(reply), opt)
    assert s.values["x"] == 2.5 and s.values["act"] == "tanh" and s.values["arch"] == Arch(width=16)
    assert "k" not in s.values  # unchanged
    assert not s.no_change and s.reasoning == "r"


def test_check_suggestion_reports_every_problem_and_changes_nothing():
    opt = _optimizer()
    reply = {"suggestion": {"x": 50, "nope": 1, "f": "def f(a) return", "prompt": "h" * 30, "k": 2}}
    with pytest.raises(InvalidProposal) as info:
        check_suggestion(json.dumps(reply), opt)
    message = str(info.value)
    for words in ("out of range", "unknown parameter 'nope'", "does not parse", "at most 20 are allowed"):
        assert words in message
    assert opt.values()["x"] == 1.0 and opt.values()["k"] == 3


@pytest.mark.parametrize("reply, words", [
    ('["x", 2]', "got a JSON list"),
    ('{"reasoning": "r", "changes": {"x": 2}}', 'no "suggestion" key'),
    ('{"suggestion": [2]}', "must be a JSON object"),
    ('{"suggestion": {}, "no_change": "maybe"}', "true or false"),
])
def test_check_suggestion_rejects_wrong_shapes(reply, words):
    with pytest.raises((UnparseableReply, InvalidProposal), match=words):
        check_suggestion(reply, _optimizer())


def test_no_change_wins_and_empty_suggestion_means_no_change():
    opt = _optimizer()
    assert check_suggestion('{"reasoning": "fine", "suggestion": {"x": 99}, "no_change": true}', opt).no_change
    assert check_suggestion('{"reasoning": "fine", "suggestion": {"x": 1.0}}', opt).no_change


def test_reply_model_schema_comes_from_the_spaces():
    schema = reply_model(_optimizer().parameters).model_json_schema()
    props = schema["$defs"]["Suggestion"]["properties"]
    assert props["x"]["maximum"] == 10.0 and props["x"]["type"] == "number"
    assert props["act"]["enum"] == ["relu", "tanh"]
    assert "null" not in json.dumps(props)  # a key left out keeps its variable; null is no value to decode to
    assert set(schema["required"]) == {"reasoning", "suggestion"} and "required" not in schema["$defs"]["Suggestion"]


def _ask(llm, max_repairs=2, n=1):
    return ask_with_repair(llm, [{"role": "user", "content": "x?"}], lambda t: parse_json(t)["x"],
                           max_repairs=max_repairs, n=n)


def test_repair_sends_the_error_back_and_succeeds():
    llm = ScriptedLLM(['{"x": ', '{"y": 1}', '{"x": 7}'])
    answer = _ask(llm)[0]
    assert (answer.value, answer.repairs, len(answer.calls)) == (7, 2, 3)
    follow_up = llm.calls[1]
    assert follow_up[-2] == {"role": "assistant", "content": '{"x": '}
    assert "cut off" in follow_up[-1]["content"]
    assert "KeyError" in llm.calls[2][-1]["content"] or "'x'" in llm.calls[2][-1]["content"]


def test_repair_gives_up_after_max_repairs():
    llm = ScriptedLLM(["nope", "still nope", "never"])
    answer = _ask(llm, max_repairs=1)[0]
    assert not answer.ok and answer.value is None and answer.repairs == 1
    assert "no JSON object" in answer.error and len(llm.calls) == 2


def test_llm_errors_become_failed_answers_but_budget_propagates():
    answers = _ask(ScriptedLLM([FatalLLMError("provider down")] * 2), n=2)
    assert [a.ok for a in answers] == [False, False] and "provider down" in answers[0].error
    with pytest.raises(BudgetExceeded):
        _ask(ScriptedLLM([BudgetExceeded("no more dollars", limit="max_usd")]))
    with pytest.raises(BudgetExceeded):  # also during a repair
        _ask(ScriptedLLM(["bad", BudgetExceeded("no more dollars", limit="max_usd")]))


def test_n_choices_are_repaired_independently():
    llm = ScriptedLLM(['{"x": 1}', "oops", '{"x": 3}', '{"x": 2}'])
    answers = _ask(llm, n=3)
    assert [a.value for a in answers] == [1, 2, 3]
    assert [a.repairs for a in answers] == [0, 1, 0]
    assert llm.requests[0].n == 3 and len(answers[0].calls) == 1 and len(answers[1].calls) == 1


def _has_key(schema, key):
    if isinstance(schema, dict):
        return any(k == key or _has_key(v, key) for k, v in schema.items() if k != "properties") or any(
            _has_key(v, key) for v in schema.get("properties", {}).values())
    return isinstance(schema, list) and any(_has_key(s, key) for s in schema)


def test_reply_schema_fits_strict_structured_output_and_never_rejects_a_choice():
    class Net(BaseModel):
        default: int = 3  # a field named "default" stays; its default value goes
        act: str = "relu"

    params = [Parameter(0.1, name="p", space=Choice([0.1, 0.5, None])),
              Parameter(Net(), name="net", space=Json(Net)), Parameter(1.0, name="x", space=Float(0, 10))]
    Reply = reply_model(params)
    schema = Reply.model_json_schema()
    assert not _has_key(schema, "default")  # OpenAI/Azure strict mode refuses "default"
    assert "default" in schema["$defs"]["Net"]["properties"]
    assert schema["$defs"]["Suggestion"]["properties"]["p"]["enum"] == [0.1, 0.5, None]  # a null option stays
    Reply.model_validate_json('{"suggestion": {"x": 99}}')  # the LLM layer's check never fails: ours does


def test_a_refused_schema_is_asked_again_without_structured_output():
    class Picky(ScriptedLLM):
        sends_schema = True

        def _complete(self, request):
            if request.response_format is not None:
                self.requests.append(request)
                raise BadRequest("Invalid schema for response_format 'Reply': 'default' is not permitted")
            return super()._complete(request)

    opt = OptoPrime([Parameter(1.0, name="x", space=Float(0, 10)), Parameter(3, name="k", space=Int(1, 5))],
                    None)  # numbers only: JSON, sent as structured output
    opt.llm = llm = Picky(['{"reasoning": "r", "suggestion": {"x": 2}}'] * 2)
    [update] = opt.propose(None)
    assert update.values == {"x": 2.0} and update.meta["structured_output"] is False
    assert [r.response_format is None for r in llm.requests] == [False, True]
    opt.propose(None)  # the refused schema is not sent again
    assert [r.response_format is None for r in llm.requests] == [False, True, True]


def test_code_in_a_fence_and_a_null_no_change_are_accepted():
    opt = _optimizer()
    reply = {"reasoning": "r", "no_change": None,
             "suggestion": {"f": "```python\ndef f(a):\n    return 2 * a\n```"}}
    s = check_suggestion(json.dumps(reply), opt)
    assert s.values == {"f": "def f(a):\n    return 2 * a\n"} and not s.no_change


def test_a_partial_structured_value_keeps_the_other_fields():
    opt = _optimizer()
    opt.by_name["arch"]._value = Arch(width=4, depth=5)
    s = check_suggestion('{"reasoning": "wider", "suggestion": {"arch": {"width": 16}}}', opt)
    assert s.values["arch"] == Arch(width=16, depth=5)  # not depth's default 2
    s = check_suggestion('{"reasoning": "deeper", "suggestion": {"arch": "{\\"depth\\": 6}"}}', opt)
    assert s.values["arch"] == Arch(width=4, depth=6)

    class Block(BaseModel):
        width: int = 8
        act: str = "relu"

    class Net(BaseModel):
        block: Block = Block()
        depth: int = 2

    net = Parameter(Net(block=Block(width=32, act="tanh"), depth=4), name="net", space=Json(Net))
    opt = OptoPrime([net], ScriptedLLM([]))
    s = check_suggestion('{"reasoning": "", "suggestion": {"net": {"block": {"width": 64}}}}', opt)
    assert s.values["net"] == Net(block=Block(width=64, act="tanh"), depth=4)


# -- the marked form: one [[ ## name ## ]] block per field ------------------------------------------------------

def test_marked_reply_gives_every_kind_of_value_as_written():
    opt = _optimizer()
    text = ("[[ ## reasoning ## ]]\nbigger x, new f\n\n[[ ## x ## ]]\n2.5 (closer to the target)\n\n"
            "[[ ## f ## ]]\n```python\ndef f(a):\n    \"\"\"Twice a.\"\"\"\n    return 2 * a\n```\n\n"
            "**[[ ## act ## ]]**\ntanh\n\n## arch ##\n{\"width\": 16}\n\n[[ ## k ## ]]\nunchanged\n\n[[ ## completed ## ]]")
    s = check_suggestion(text, opt)
    assert s.reasoning == "bigger x, new f" and not s.no_change
    assert s.values == {"x": 2.5, "f": 'def f(a):\n    """Twice a."""\n    return 2 * a\n', "act": "tanh",
                        "arch": Arch(width=16)}


def test_marked_reply_that_repeats_the_current_values_says_so():
    s = check_suggestion("[[ ## reasoning ## ]]\nkeep\n[[ ## x ## ]]\n1.0\n[[ ## k ## ]]\n3", _optimizer())
    assert s.no_change and s.values == {} and s.same == {"x": 1.0, "k": 3}
    flag = check_suggestion("[[ ## reasoning ## ]]\nfine\n[[ ## no_change ## ]]\ntrue", _optimizer())
    assert flag.no_change and flag.reasoning == "fine"
    with pytest.raises(UnparseableReply, match="no block for any variable"):
        check_suggestion("[[ ## reasoning ## ]]\nI think x should grow", _optimizer())


@pytest.mark.parametrize("reply, words", [
    ('{"reasoning": "r", "suggestion": {"f": "def f(a):\n    """doc"""\n    return a"}}',
     'the value of f contains """ inside a JSON string'),
    ('{"reasoning": "r",\n "suggestion": {"x": 2} "no_change": false}', "line 2 column"),
    ("Increase x a little.", "none of the markers asked for ([[ ## x ## ]]"),
])
def test_marked_form_repairs_say_the_fix_in_plain_words(reply, words):
    with pytest.raises(UnparseableReply, match=re.escape(words)):
        check_suggestion(reply, _optimizer(), "marked")


def test_the_reply_format_names_every_variable_and_is_json_only_without_code():
    opt = _optimizer()
    text = opt.reply_instructions()
    for name in ("reasoning", "x", "k", "prompt", "f", "act", "arch"):
        assert f"[[ ## {name} ## ]]" in text
    assert "```python\n<the whole new source of f" in text and opt.reply_form == "marked"
    numbers = OptoPrime([Parameter(1.0, name="x", space=Float(0, 10))], ScriptedLLM([], sends_schema=True))
    assert numbers.reply_form == "json" and '"suggestion": {"x": <new value>}' in numbers.reply_instructions()
    assert OptoPrime(opt.parameters, ScriptedLLM([], sends_schema=True)).reply_form == "marked"  # code: never JSON
    assert numbers.sends_reply_schema and not OptoPrime(numbers.parameters, ScriptedLLM([])).sends_reply_schema
    assert OptoPrime(numbers.parameters, ScriptedLLM([])).reply_form == "json"  # numbers: JSON, schema or not


def test_a_reply_cut_at_the_token_limit_is_asked_again_shorter():
    cut = {"text": '{"reasoning": "r", "suggestion": {"reasoning": {"reasoning": ', "finish_reason": "length"}
    llm = ScriptedLLM([cut, "[[ ## reasoning ## ]]\nr\n[[ ## x ## ]]\n2"])
    opt = OptoPrime(_optimizer().parameters, llm, max_tokens=300)
    [update] = opt.propose(None)
    assert update.values == {"x": 2.0} and update.meta["repairs"] == 1
    assert [r.max_tokens for r in llm.requests] == [300, 300]
    assert "cut off at the limit of 300 tokens" in llm.calls[1][-1]["content"]
    assert "shorter" in llm.calls[1][-1]["content"]


def test_repairs_never_grow_the_conversation_past_the_token_budget():
    params = _optimizer().parameters
    bad = "[[ ## reasoning ## ]]\n" + "words " * 3000 + "\n[[ ## x ## ]]\n99"
    llm = ScriptedLLM([bad, bad, bad])
    opt = OptoPrime(params, llm, token_budget=2500, max_repairs=2)
    [update] = opt.propose(None)
    assert update.no_change and "out of range" in update.meta["error"]
    sizes = [sum(opt.count_tokens(m["content"]) for m in call) for call in llm.calls]
    assert len(llm.calls[1]) == len(llm.calls[2]) == 4  # system, user, the last bad reply, the repair note
    assert max(sizes) <= 2500 and sizes[1] == sizes[2]


def test_the_stored_prompt_holds_every_message():
    llm = ScriptedLLM(["[[ ## reasoning ## ]]\nr\n[[ ## x ## ]]\n2"])
    [update] = OptoPrime(_optimizer().parameters, llm).propose(None)
    assert json.loads(update.llm_calls[0].prompt) == llm.calls[0]


# -- the messages a model reads, as a snapshot --------------------------------------------------------------------

SNAPSHOT = Path(__file__).parent / "snapshots" / "reply_messages.md"


def _messages_a_model_reads() -> str:
    opt = _optimizer()
    numbers = OptoPrime([Parameter(1.0, name="x", space=Float(0, 10))], ScriptedLLM([], sends_schema=True))
    parts = {"marked form": opt.reply_instructions(), "marked reminder": opt.reply_reminder(),
             "json form": numbers.reply_instructions(), "json reminder": numbers.reply_reminder()}
    for reply in ('{"reasoning": "r", "suggestion": {"f": "def f(a):\n    """doc"""\n    return a"}}',
                  '{"reasoning": "r",\n "suggestion": {"x": 2} "no_change": false}', "Increase x.",
                  "[[ ## reasoning ## ]]\nr\n[[ ## x ## ]]\n[[ ## k ## ]]\n"):
        try:
            check_suggestion(reply, opt)
        except UnparseableReply as e:
            parts[f"repair for {reply[:24]!r}"] = prompts.render("reply/repair", error=str(e),
                                                                 reply_format="(the form above)")
    parts["cut off"] = prompts.render("reply/cut_off", max_tokens=512)
    parts["challenge"] = prompts.render("reply/challenge", reply_format="(the form above)")
    for name, values in [("note_same", {"values": "x=0, y=0"}), ("note_failed", {"error": "the code does not parse"}),
                         ("note_no_change", {"reasoning": "x is fine"}), ("note_stuck", {"count": 2}),
                         ("note_tried", {"values": "x=3", "feedback": "score=0.7"})]:
        parts[name] = prompts.render(f"reply/{name}", **values)
    return "".join(f"===== {title} =====\n{text.strip()}\n\n" for title, text in parts.items())


def test_reply_messages_match_the_snapshot():
    text = _messages_a_model_reads()
    if os.environ.get("TRACETUNE_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert text == SNAPSHOT.read_text(encoding="utf-8"), "messages changed; review and rerun with TRACETUNE_UPDATE_SNAPSHOTS=1"


def test_a_marker_repeated_empty_after_its_value_keeps_the_value():
    """Seen from Qwen2.5-Coder-1.5B: the fixed code, then the same marker again with nothing under it."""
    from optimizers._parse import parse_marked

    reply = ("[[ ## reasoning ## ]]\nsort first\n\n[[ ## median ## ]]\n```python\ndef median(xs):\n"
             "    return sorted(xs)[len(xs) // 2]\n```\n\nNow, let's consider the new values:\n\n"
             "[[ ## median ## ]]\n[[ ## no_change ## ]]\n")
    fields = parse_marked(reply, ["reasoning", "median", "no_change"])
    assert "sorted(xs)" in fields["median"]
    assert parse_marked("[[ ## x ## ]]\n1\n[[ ## x ## ]]\n2\n", ["x"]) == {"x": "2"}  # the last value given wins


def _median_optimizer() -> OptoPrime:
    return OptoPrime([Parameter("def median(xs):\n    return xs[len(xs) // 2]\n", name="median", space=Code())], llm=None)


def test_code_fenced_inside_prose_under_its_marker_is_the_code_alone():
    """Seen from Qwen2.5-Coder-1.5B: prose after the fence, then the marker again, empty."""
    reply = ("[[ ## reasoning ## ]]\nsort first\n\n[[ ## median ## ]]\n```python\ndef median(xs):\n"
             "    return sorted(xs)[len(xs) // 2]\n```\n\nNow, let's consider the new values:\n\n"
             "[[ ## median ## ]]\n[[ ## no_change ## ]]\n")
    suggestion = check_suggestion(reply, _median_optimizer())
    assert suggestion.values == {"median": "def median(xs):\n    return sorted(xs)[len(xs) // 2]\n"}
    assert not suggestion.no_change


def test_single_bracket_markers_and_stray_markup_around_a_fence_are_read():
    """Seen from Qwen2.5-Coder-1.5B: "[ ## name ## ]" markers and "[[ median=```...```]]" around the code."""
    reply = ("[ ## reasoning ## ]: sort, then average the middle two\n\n"
             "[ ## median ## ] [[ median=```\ndef median(xs):\n    xs = sorted(xs)\n    return xs[len(xs) // 2]\n```\n]]\n\n"
             "[[ ## no_change ## ]]\n")
    suggestion = check_suggestion(reply, _median_optimizer())
    assert suggestion.reasoning == "sort, then average the middle two"
    assert suggestion.values == {"median": "def median(xs):\n    xs = sorted(xs)\n    return xs[len(xs) // 2]\n"}


def test_code_of_prefers_a_whole_fence_then_an_inner_one_then_the_text():
    from optimizers._parse import code_of

    assert code_of("```py\nx = 1\n```") == "x = 1\n"
    assert code_of("use this:\n```\nx = 2\n```\nand that's it") == "x = 2\n"
    assert code_of("x = 3\n\n") == "x = 3\n"
    assert code_of("``` ```\nx = 4") == "``` ```\nx = 4\n"  # an empty fence is not code
    assert code_of("a single [ ## x ## ] in code") == "a single [ ## x ## ] in code\n"


def test_a_single_bracket_marker_opens_a_field_only_for_a_known_name():
    from optimizers._parse import parse_marked

    assert parse_marked("[ ## x ## ]\n3\n[ ## other ## ]\nnot a field", ["x"]) == {"x": "3\n[ ## other ## ]\nnot a field"}
    assert parse_marked("[ ## other ## ]\n3", ["x"]) is None


def _x_optimizer(replies: list[str], **options) -> tuple[OptoPrime, ScriptedLLM]:
    llm = ScriptedLLM(replies)
    return OptoPrime([Parameter(1.0, name="x", space=Float(0, 10))], llm, **options), llm


_DECLINE = '{"reasoning": "1 is already the best", "suggestion": {}, "no_change": true}'
_SAME = '{"reasoning": "keep it", "suggestion": {"x": 1.0}, "no_change": false}'
_MOVE = '{"reasoning": "try higher", "suggestion": {"x": 4.0}, "no_change": false}'


@pytest.mark.parametrize("decline", [_DECLINE, _SAME], ids=["no_change", "same_values"])
def test_a_declined_step_is_challenged_once_in_the_same_conversation(decline):
    opt, llm = _x_optimizer([decline, _MOVE])
    [update] = opt.ask([{"role": "user", "content": "make x better"}], 1, {})
    assert update.values == {"x": 4.0} and not update.no_change
    assert update.meta["challenged"] is True and len(update.llm_calls) == 2
    follow_up = llm.requests[1].messages
    assert follow_up[0]["content"] == "make x better"
    assert follow_up[1] == {"role": "assistant", "content": decline}
    assert follow_up[2]["role"] == "user" and follow_up[2]["content"].startswith("You chose to change nothing.")
    assert opt.stalls == 0


def test_a_second_decline_stands_and_both_calls_are_kept():
    opt, llm = _x_optimizer([_DECLINE, _DECLINE, _MOVE])
    [update] = opt.ask([{"role": "user", "content": "make x better"}], 1, {})
    assert update.no_change and update.meta["challenged"] is True
    assert len(update.llm_calls) == 2 and len(llm.requests) == 2
    assert opt.stalls == 1


def test_without_challenge_a_decline_costs_one_call():
    opt, llm = _x_optimizer([_DECLINE, _MOVE], challenge=False)
    [update] = opt.ask([{"role": "user", "content": "make x better"}], 1, {})
    assert update.no_change and "challenged" not in update.meta and len(llm.requests) == 1


def test_an_unusable_reply_or_a_proposal_among_choices_is_not_challenged():
    opt, llm = _x_optimizer(["not a reply"] * 3, max_repairs=2)
    [update] = opt.ask([{"role": "user", "content": "x?"}], 1, {})
    assert update.failure is not None and len(llm.requests) == 3  # the first ask and its two repairs, no challenge
    opt, llm = _x_optimizer([_DECLINE, _MOVE, _MOVE])
    updates = opt.ask([{"role": "user", "content": "x?"}], 2, {})
    assert len(llm.requests) == 1 and any(u.values for u in updates)


def test_null_for_a_variable_whose_space_takes_no_null_keeps_it():
    """Seen from Qwen2.5-Coder-1.5B: {"x": null, "y": null} with no_change false. The reply schema allows
    null, so it means "keep"; a reply that keeps everything declines, and is challenged, not repaired."""
    x, y = Parameter(0.0, name="x", space=Float(-10, 10)), Parameter(0.0, name="y", space=Float(-10, 10))
    opt = OptoPrime([x, y], llm=None)
    kept = check_suggestion('{"reasoning": "r", "suggestion": {"x": null, "y": 2}, "no_change": false}', opt)
    assert kept.values == {"y": 2.0}
    assert check_suggestion('{"reasoning": "r", "suggestion": {"x": null, "y": null}}', opt).values == {}
    llm = ScriptedLLM(['{"reasoning": "r", "suggestion": {"x": null, "y": null}, "no_change": false}',
                       '{"reasoning": "move", "suggestion": {"x": 3, "y": -1.5}, "no_change": false}'])
    opt = OptoPrime([x, y], llm)
    [update] = opt.ask([{"role": "user", "content": "x, y?"}], 1, {})
    assert update.values == {"x": 3.0, "y": -1.5} and update.meta["repairs"] == 0 and update.meta["challenged"]
    with pytest.raises(InvalidProposal, match="x"):
        check_suggestion('{"reasoning": "r", "suggestion": {"x": "far"}}', OptoPrime([x], llm=None))


def test_a_marker_inside_fenced_code_or_inside_a_line_of_text_opens_no_field():
    from optimizers._parse import parse_marked

    names = ["reasoning", "no_change", "code", "prompt"]
    code = ('```python\ndef parse(reply):\n    ## prompt ##\n    # a reply looks like [[ ## answer ## ]]\n'
            '    return reply.split("[ ## code ## ]")[1]\n```')
    fields = parse_marked(f"[[ ## reasoning ## ]]\nsplit\n[[ ## code ## ]]\n{code}\n[[ ## completed ## ]]\n", names)
    assert fields == {"reasoning": "split", "code": code}
    prompt = "Answer in the form [[ ## answer ## ]] then the answer."
    assert parse_marked(f"[[ ## prompt ## ]]\n{prompt}\n", names) == {"prompt": prompt}
    whole = "```\n[[ ## reasoning ## ]]\nr\n[[ ## prompt ## ]]\np\n```"  # a reply fenced as a whole is still read
    assert parse_marked(whole, names) == {"reasoning": "r", "prompt": "p\n```"}


def test_a_marked_reply_that_keeps_every_variable_it_names_is_a_decline_and_is_challenged():
    kept = "[[ ## reasoning ## ]]\nx is fine\n[[ ## x ## ]]\nunchanged\n"
    assert check_suggestion(kept, _x_optimizer([])[0]).no_change
    opt, llm = _x_optimizer([kept, _MOVE])
    [update] = opt.ask([{"role": "user", "content": "make x better"}], 1, {})
    assert update.values == {"x": 4.0} and update.meta["challenged"] and update.meta["repairs"] == 0
    assert llm.requests[1].messages[-1]["content"].startswith("You chose to change nothing.")


def test_prose_under_no_change_beside_new_code_keeps_the_code():
    """Seen from Qwen2.5-Coder-1.5B: new code, then "[[ ## no_change ## ]]" followed by a sentence."""
    reply = ("[[ ## reasoning ## ]]\nsort first\n[[ ## median ## ]]\ndef median(xs):\n    return sorted(xs)[len(xs) // 2]\n\n"
             "[[ ## no_change ## ]]\nThe feedback does not provide any information about which values to change.\n")
    suggestion = check_suggestion(reply, _median_optimizer())
    assert not suggestion.no_change and "sorted(xs)" in suggestion.values["median"]
    with pytest.raises(InvalidProposal, match="no_change"):  # with no values, the flag must still be readable
        check_suggestion("[[ ## reasoning ## ]]\nr\n[[ ## no_change ## ]]\nThe feedback is fine.\n", _median_optimizer())
    assert check_suggestion("[[ ## reasoning ## ]]\nr\n[[ ## no_change ## ]]\ntrue.\n", _median_optimizer()).no_change
