"""The langchain adapter over the LLM layer, and a session through the real LiteLLM client
against the loopback OpenAI-compatible server."""

from __future__ import annotations


from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool

from agents.chat.model import RAW_ARGUMENTS, LayerChatModel, to_openai_messages
from trace_core.llm import LiteLLM, ScriptedLLM, ToolCall
from trace_core.testing import openai_server


@tool
def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def test_tool_calls_and_tools_reach_the_llm_layer():
    llm = ScriptedLLM([ToolCall.of("weather", city="Paris"), ToolCall(name="weather", arguments="not json")])
    model = LayerChatModel(llm=llm).bind_tools([weather])
    msg = model.invoke("weather in Paris?")
    assert msg.tool_calls[0]["name"] == "weather" and msg.tool_calls[0]["args"] == {"city": "Paris"}
    assert llm.requests[0].tools[0]["function"]["name"] == "weather"
    assert msg.usage_metadata["input_tokens"] > 0
    assert model.invoke("again").tool_calls[0]["args"] == {RAW_ARGUMENTS: "not json"}


def test_streaming_yields_text_then_the_tool_calls():
    llm = ScriptedLLM([{"text": "Let me look that up.", "tool_calls": [{"name": "weather", "arguments": {"city": "Oslo"}}]}])
    chunks = list(LayerChatModel(llm=llm).bind_tools([weather]).stream("weather in Oslo?"))
    assert "".join(c.content for c in chunks) == "Let me look that up." and len(chunks) > 2
    merged = chunks[0]
    for c in chunks[1:]:
        merged += c
    assert merged.tool_calls[0]["args"] == {"city": "Oslo"}


def test_messages_convert_to_openai_format():
    ai = AIMessage("", tool_calls=[{"name": "weather", "args": {"city": "Rome"}, "id": "c1"}])
    out = to_openai_messages([HumanMessage("hi"), ai, ToolMessage("sunny", tool_call_id="c1")])
    assert out[1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Rome"}'}}]}
    assert out[2] == {"role": "tool", "content": "sunny", "tool_call_id": "c1"}


def test_a_session_through_the_loopback_server_with_the_real_client(open_session, tool_results, workdir):
    key = "sk-test-secret-key-123456"
    with openai_server(reply="There are no runs yet.") as srv:
        srv.script.extend(["tool_call", "normal"])
        chat = open_session(LiteLLM("openai/loopback", api_base=srv.url, api_key=key))
        assert chat.send("Are there any runs?") == "There are no runs yet."
        assert srv.requests[0]["tools"][0]["function"]["name"] == "list_runs"
        assert srv.requests[0]["messages"][0]["role"] == "system"
        answered = srv.requests[1]["messages"]
        assert answered[-1]["role"] == "tool" and answered[-1]["content"].startswith("No runs")
        assert answered[-1]["content"] == tool_results(chat, "list_runs")[0]
        srv.script.extend(["tool_call", "normal"])
        streamed = list(chat.stream("And now?"))
        assert "".join(streamed) == "There are no runs yet." and len(streamed) > 1
        assert srv.requests[2].get("stream") is True
    log = (workdir / "chat-llm.jsonl").read_text()
    assert len(log.splitlines()) == 4 and key not in log
    assert chat.record.chat_spent["calls"] == 4


def test_the_chat_model_takes_its_server_and_timeout_from_the_environment():
    from agents.chat.model import chat_spec_from_env

    env = {"TRACETUNE_CHAT_LLM": "openai/local", "TRACETUNE_LLM_API_BASE": "http://127.0.0.1:8765/v1",
           "TRACETUNE_LLM_TIMEOUT": "900", "TRACETUNE_CHAT_LLM_TIMEOUT": "1200"}
    assert chat_spec_from_env(env) == {"model": "openai/local", "api_base": "http://127.0.0.1:8765/v1",
                                       "timeout": 1200.0}
    assert chat_spec_from_env({"TRACETUNE_LLM": "openai/gpt-4o-mini"}) == {"model": "openai/gpt-4o-mini"}
    assert chat_spec_from_env({"TRACETUNE_CHAT_LLM": "scripted:r.json"}) == "scripted:r.json"
    assert chat_spec_from_env({}) is None
