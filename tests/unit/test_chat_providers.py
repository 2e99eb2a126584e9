"""Answerers: the LangChain answerer with langchain-core fake chat models (what reaches the model,
error mapping), the offline extractive answerer, and the real ChatOpenAI / AzureChatOpenAI built
from settings against a local OpenAI-compatible server."""

from __future__ import annotations

import logging
import subprocess
import sys
from typing import Any

import pytest
from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import (
    FakeListChatModel,
    GenericFakeChatModel,
)
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import Field

from services.video_rag.domain.citations import extract_citations
from services.video_rag.domain.prompts import (
    CONDENSE_INSTRUCTIONS,
    NO_ANSWER,
    SYSTEM_INSTRUCTIONS,
    HistoryMessage,
    Passage,
)
from services.video_rag.providers.chat import (
    WEAK_MATCH_NOTE,
    ChatFailed,
    ChatTimeout,
    LangChainAnswerer,
    OfflineExtractiveAnswerer,
    build_answerer,
)
from services.video_rag.settings import load_settings
from tests.support.fake_openai import FakeOpenAI, fake_openai_server

SURFACE = "GJLlxj_dtq8"
BREAD = "bR3aDsOurDo"

PASSAGES = [
    Passage(
        1,
        SURFACE,
        "Surface Go Review",
        84.0,
        131.0,
        "[Music] So let's talk about battery life. In my testing the battery lasts about nine "
        "hours of mixed use, which is better than I expected. Charging takes around two hours "
        "with the included charger.",
    ),
    Passage(
        2,
        SURFACE,
        "Surface Go Review",
        260.0,
        312.5,
        "The keyboard cover is sold separately and costs about a hundred dollars. The keys "
        "feel a little cramped but typing is fine once you get used to it.",
    ),
    Passage(
        3,
        BREAD,
        "Easy Sourdough Bread",
        3725.0,
        3790.0,
        "Now fold the dough every thirty minutes for two hours. The starter should be bubbly "
        "and active before you mix it with the flour and water.",
    ),
    Passage(
        4,
        BREAD,
        None,
        3900.0,
        3960.0,
        "Bake the bread at two hundred and fifty degrees for twenty minutes with the lid on, "
        "then another twenty minutes with the lid off.",
    ),
]

HISTORY = [
    HistoryMessage("user", "What is the Surface Go review about?"),
    HistoryMessage("assistant", "It reviews Microsoft's small tablet [1]."),
]


class RecordingChatModel(BaseChatModel):
    """Answers with scripted replies (the last one repeats) and records the messages it got."""

    replies: list[str] = Field(default_factory=lambda: ["Scripted answer [1]."])
    calls: list[list[BaseMessage]] = Field(default_factory=list)
    error: Any = None

    @property
    def _llm_type(self) -> str:
        return "recording-fake"

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        self.calls.append(list(messages))
        if self.error is not None:
            raise self.error
        text = self.replies[min(len(self.calls), len(self.replies)) - 1]
        return ChatResult(generations=[ChatGeneration(message=AIMessage(text))])


# --- LangChainAnswerer with fakes --------------------------------------------------------------


def test_the_model_answer_passes_through() -> None:
    model = GenericFakeChatModel(messages=iter([AIMessage("  About nine hours [1].\n")]))
    answerer = LangChainAnswerer(model, "fake-model")
    assert answerer.model_label == "fake-model"
    assert answerer.answer("How long does the battery last?", PASSAGES[:1], []) == (
        "About nine hours [1]."
    )


def test_the_answer_prompt_carries_instructions_history_passages_and_question() -> None:
    model = RecordingChatModel()
    answerer = LangChainAnswerer(model, "fake-model")
    answerer.answer("How long does the battery last?", PASSAGES[:2], HISTORY)
    (messages,) = model.calls
    assert [type(m) for m in messages] == [SystemMessage, HumanMessage, AIMessage, HumanMessage]
    assert messages[0].content == SYSTEM_INSTRUCTIONS
    assert [m.content for m in messages[1:3]] == [m.content for m in HISTORY]
    prompt = messages[-1].content
    assert isinstance(prompt, str)
    assert prompt.startswith('Passages:\n<passage id="1" video="Surface Go Review (GJLlxj_dtq8)"')
    assert 'time="1:24-2:11"' in prompt
    assert '<passage id="2"' in prompt
    assert prompt.endswith("\n\nQuestion: How long does the battery last?")


def test_braces_in_passages_and_questions_are_not_template_variables() -> None:
    model = RecordingChatModel()
    passage = Passage(1, SURFACE, "{title}", 0, 5, "Use {curly} braces {0} freely.")
    LangChainAnswerer(model, "m").answer("What is {question}?", [passage], [])
    prompt = model.calls[0][-1].text
    assert "Use {curly} braces {0} freely." in prompt
    assert prompt.endswith("Question: What is {question}?")


def test_no_passages_means_no_answer_without_a_model_call() -> None:
    model = RecordingChatModel()
    assert LangChainAnswerer(model, "m").answer("Anything?", [], HISTORY) == NO_ANSWER
    assert model.calls == []


def test_empty_history_skips_the_condense_call() -> None:
    model = RecordingChatModel()
    answerer = LangChainAnswerer(model, "m")
    assert answerer.standalone_question("What about the keyboard?", []) == (
        "What about the keyboard?"
    )
    assert model.calls == []


def test_a_follow_up_is_condensed_with_the_conversation() -> None:
    model = RecordingChatModel(replies=['"How much does the Surface Go keyboard cost?"\n'])
    answerer = LangChainAnswerer(model, "m")
    question = answerer.standalone_question("And the keyboard, how much?", HISTORY)
    assert question == "How much does the Surface Go keyboard cost?"
    (messages,) = model.calls
    assert [type(m) for m in messages] == [SystemMessage, HumanMessage]
    assert messages[0].content == CONDENSE_INSTRUCTIONS
    assert messages[1].content == (
        "Conversation:\n"
        "User: What is the Surface Go review about?\n"
        "Assistant: It reviews Microsoft's small tablet [1].\n\n"
        "Follow-up question: And the keyboard, how much?"
    )


def test_an_empty_condensed_question_falls_back_to_the_original() -> None:
    answerer = LangChainAnswerer(FakeListChatModel(responses=["   "]), "m")
    assert answerer.standalone_question("And the price?", HISTORY) == "And the price?"


def test_the_model_gets_the_messages_langchain_prompt_templates_would_make() -> None:
    """The answerer calls the model with its messages directly (no LCEL chain): they are those
    a ChatPromptTemplate of the same parts would make, braces in passages and questions
    included."""
    from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder

    from services.video_rag.domain.prompts import format_passages
    from services.video_rag.providers.chat import ANSWER_TEMPLATE

    odd = Passage(3, SURFACE, "T", 1.0, 2.0, "A {placeholder} and {{braces}} and a } alone.")
    question = "What does {placeholder} mean?"
    model = RecordingChatModel()
    LangChainAnswerer(model, "m").answer(question, [*PASSAGES[:1], odd], HISTORY)
    template = ChatPromptTemplate(
        [
            ("system", SYSTEM_INSTRUCTIONS),
            MessagesPlaceholder("history"),
            ("human", ANSWER_TEMPLATE),
        ]
    )
    expected = template.format_messages(
        history=[
            HumanMessage(m.content) if m.role == "user" else AIMessage(m.content) for m in HISTORY
        ],
        passages=format_passages([*PASSAGES[:1], odd]),
        question=question,
    )
    (messages,) = model.calls
    assert [(type(m), m.content) for m in messages] == [(type(m), m.content) for m in expected]


@pytest.mark.parametrize("reply", ["", "  \n "])
def test_an_empty_answer_is_a_failure(reply: str) -> None:
    answerer = LangChainAnswerer(FakeListChatModel(responses=[reply]), "m")
    with pytest.raises(ChatFailed, match="empty answer"):
        answerer.answer("q", PASSAGES[:1], [])


def timeout_errors() -> list[BaseException]:
    import httpx
    import httpx2
    import openai

    wrapped = RuntimeError("the client gave up")
    wrapped.__cause__ = TimeoutError("read timed out")
    return [
        TimeoutError("timed out"),
        httpx.ReadTimeout("read timed out"),
        httpx2.ConnectTimeout("connect timed out"),
        openai.APITimeoutError(request=httpx2.Request("POST", "http://127.0.0.1/v1/chat")),
        wrapped,
    ]


@pytest.mark.parametrize("error", timeout_errors(), ids=lambda e: type(e).__name__)
def test_timeouts_become_chat_timeout(error: BaseException) -> None:
    answerer = LangChainAnswerer(RecordingChatModel(error=error), "m")
    with pytest.raises(ChatTimeout):
        answerer.answer("q", PASSAGES[:1], [])
    with pytest.raises(ChatTimeout):
        answerer.standalone_question("and it?", HISTORY)


def test_other_errors_become_chat_failed_without_secrets(
    caplog: pytest.LogCaptureFixture,
) -> None:
    secret = "sk-proj-abcdefghijklmnop1234"
    error = ValueError(f"Incorrect API key provided: {secret}; raw provider body {{...}}")
    answerer = LangChainAnswerer(RecordingChatModel(error=error), "m")
    with caplog.at_level(logging.WARNING), pytest.raises(ChatFailed) as caught:
        answerer.answer("q", PASSAGES[:1], [])
    assert str(caught.value) == "the language model request failed (ValueError)"
    assert caught.value.__cause__ is error
    assert "ValueError" in caplog.text
    assert secret not in caplog.text


# --- OfflineExtractiveAnswerer -----------------------------------------------------------------


def test_offline_quotes_and_cites_the_matching_passage() -> None:
    answer = OfflineExtractiveAnswerer().answer("How long does the battery last?", PASSAGES, [])
    assert answer == (
        'From "Surface Go Review" at 1:24: "In my testing the battery lasts about nine hours of '
        'mixed use, which is better than I expected." [1]'
    )
    assert extract_citations(answer, {1, 2, 3, 4}) == (answer, [1])


def test_offline_finds_the_passage_in_the_other_video() -> None:
    answer = OfflineExtractiveAnswerer().answer(
        "At what temperature and for how long should I bake the bread?", PASSAGES, []
    )
    assert answer.startswith(f'From video {BREAD} at 1:05:00: "Bake the bread at two hundred')
    assert answer.endswith("[4]")
    assert "[1]" not in answer


def test_offline_quotes_two_passages_when_both_match_well() -> None:
    answer = OfflineExtractiveAnswerer().answer(
        "How long is charging, and the dough?", PASSAGES, []
    )
    lines = answer.splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("[1]")
    assert "Charging takes around two hours" in lines[0]
    assert lines[1].startswith('From "Easy Sourdough Bread" at 1:02:05: "Now fold the dough')
    assert lines[1].endswith("[3]")


def test_offline_says_when_the_closest_quote_may_not_answer() -> None:
    answerer = OfflineExtractiveAnswerer()
    loose = answerer.answer("Does the battery support wireless charging pads?", PASSAGES, [])
    first, *quotes = loose.splitlines()
    assert first == WEAK_MATCH_NOTE
    assert quotes
    assert all(line.startswith("From ") for line in quotes)
    close = answerer.answer("How long does the battery last?", PASSAGES, [])
    assert WEAK_MATCH_NOTE not in close
    assert close.startswith("From ")


def test_offline_says_no_answer_to_an_unrelated_question() -> None:
    answerer = OfflineExtractiveAnswerer()
    assert answerer.answer("What is the capital of France?", PASSAGES, []) == NO_ANSWER
    assert answerer.answer("What is it?", PASSAGES, []) == NO_ANSWER  # no content words
    assert answerer.answer("How long does the battery last?", [], []) == NO_ANSWER


def test_offline_is_deterministic_and_matches_plurals() -> None:
    answerer = OfflineExtractiveAnswerer()
    first = answerer.answer("Which batteries?", PASSAGES, [])
    assert first == answerer.answer("Which batteries?", list(PASSAGES), [])
    assert "[1]" in first


def test_offline_shortens_a_long_unpunctuated_caption() -> None:
    words = [f"word{i}" for i in range(200)]
    words[120] = "battery"
    passage = Passage(7, SURFACE, "Surface Go Review", 10, 70, " ".join(words))
    answer = OfflineExtractiveAnswerer().answer("battery?", [passage], [])
    quote = answer.split(': "', 1)[1].rsplit('" [7]', 1)[0]
    assert "battery" in quote
    assert quote.startswith("…")
    assert quote.endswith("…")
    assert len(quote) <= 245


def test_offline_standalone_question_uses_the_offline_rule() -> None:
    answerer = OfflineExtractiveAnswerer()
    assert answerer.model_label == "offline-extractive"
    assert answerer.standalone_question("What about the keyboard?", HISTORY) == (
        "surface review: What about the keyboard?"
    )


def test_offline_is_the_default_answerer() -> None:
    answerer = build_answerer(load_settings({}))
    assert isinstance(answerer, OfflineExtractiveAnswerer)
    assert answerer.model_label == "offline-extractive"


def test_importing_the_module_does_not_import_langchain_or_openai() -> None:
    code = (
        "import sys, services.video_rag.providers.chat\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in "
        "('langchain_core', 'langchain_openai', 'openai', 'httpx', 'httpx2', 'pydantic')]\n"
        "print(heavy)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )
    assert result.stdout.strip() == "[]"


# --- the real langchain-openai clients against the local server --------------------------------


def openai_settings(server: FakeOpenAI, **extra: str) -> Any:
    return load_settings(
        {"OPENAI_BASE_URL": f"{server.base_url}/v1", "OPENAI_API_KEY": "sk-test", **extra}
    )


def test_chat_openai_sends_instructions_passages_and_question() -> None:
    fake = FakeOpenAI(chat_replies=["The battery lasts about nine hours [1]."])
    with fake_openai_server(fake) as server:
        answerer = build_answerer(openai_settings(server, CHAT_MODEL="gpt-test"))
        answer = answerer.answer("How long does the battery last?", PASSAGES[:1], HISTORY)
    assert answer == "The battery lasts about nine hours [1]."
    assert answerer.model_label == "gpt-test"
    ((path, body),) = server.chat_requests
    assert path == "/v1/chat/completions"
    assert body["model"] == "gpt-test"
    assert body["temperature"] == 0
    roles = [message["role"] for message in body["messages"]]
    assert roles == ["system", "user", "assistant", "user"]
    assert body["messages"][0]["content"] == SYSTEM_INSTRUCTIONS
    prompt = body["messages"][-1]["content"]
    assert '<passage id="1" video="Surface Go Review (GJLlxj_dtq8)" time="1:24-2:11">' in prompt
    assert "battery lasts about nine hours" in prompt
    assert prompt.endswith("Question: How long does the battery last?")


def test_chat_openai_condenses_then_answers() -> None:
    fake = FakeOpenAI(chat_replies=["How much is the Surface Go keyboard?", "About $100 [2]."])
    with fake_openai_server(fake) as server:
        answerer = build_answerer(openai_settings(server))
        question = answerer.standalone_question("And the keyboard?", HISTORY)
        answer = answerer.answer(question, PASSAGES[:2], HISTORY)
    assert (question, answer) == ("How much is the Surface Go keyboard?", "About $100 [2].")
    condense, final = (body for _, body in server.chat_requests)
    assert condense["messages"][0]["content"] == CONDENSE_INSTRUCTIONS
    assert "Follow-up question: And the keyboard?" in condense["messages"][1]["content"]
    assert final["messages"][-1]["content"].endswith(
        "Question: How much is the Surface Go keyboard?"
    )


def test_azure_chat_uses_the_deployment_path() -> None:
    fake = FakeOpenAI(chat_replies=lambda body: f"{len(body['messages'])} messages [1].")
    with fake_openai_server(fake) as server:
        settings = load_settings(
            {
                "AZURE_OPENAI_ENDPOINT": server.base_url,
                "AZURE_OPENAI_API_KEY": "az-key",
                "AZURE_OPENAI_CHAT_DEPLOYMENT": "chat-deploy",
            }
        )
        answerer = build_answerer(settings)
        answer = answerer.answer("q", PASSAGES[:1], [])
    assert answer == "2 messages [1]."
    assert answerer.model_label == "chat-deploy"
    (path, _) = server.chat_requests[0]
    assert path == "/openai/deployments/chat-deploy/chat/completions?api-version=2024-10-21"


def test_a_server_error_becomes_chat_failed() -> None:
    with fake_openai_server(FakeOpenAI(fail_with_status=500)) as server:
        answerer = build_answerer(openai_settings(server))
        with pytest.raises(ChatFailed) as caught:
            answerer.answer("q", PASSAGES[:1], [])
    assert str(caught.value) == "the language model request failed (HTTP 500)"
    assert "boom" not in str(caught.value)
    assert len(server.chat_requests) == 2  # one retry


def test_a_slow_server_becomes_chat_timeout() -> None:
    with fake_openai_server(FakeOpenAI(delay_seconds=2.0)) as server:
        answerer = build_answerer(openai_settings(server), timeout_seconds=0.5)
        with pytest.raises(ChatTimeout):
            answerer.answer("q", PASSAGES[:1], [])


def test_offline_cites_the_moment_its_quote_starts() -> None:
    from services.video_rag.domain.moments import best_excerpt, claims_by_marker

    captions = [
        (100.0, "So battery life."),
        (106.0, "The screen is fine. It lasts"),
        (110.0, "about nine hours of video playback,"),
        (118.0, "and the keyboard is extra."),
    ]
    text, moments = "", []
    for seconds, caption in captions:
        moments.append([len(text), seconds])
        text += caption + " "
    passage = Passage(1, SURFACE, "Surface Go Review", 100.0, 125.0, text, moments)
    answer = OfflineExtractiveAnswerer().answer("How long is video playback?", [passage], [])
    # The caption that answers starts at 110 s, its sentence 4 s before: quoted from there.
    assert answer == (
        'From "Surface Go Review" at 1:46: "It lasts about nine hours of video playback, and '
        'the keyboard is extra." [1]'
    )
    claim = claims_by_marker(answer)[1]
    assert best_excerpt(passage.text, passage.moments, claim).at_seconds == 106.0
