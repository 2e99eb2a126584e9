"""Whether retrieved passages can support an answer at all ("not in the videos").

Hybrid retrieval always returns its `k` best passages, however unrelated the question is. The
support of a question is the highest cosine similarity between the question and any sentence of
the retrieved passages, both embedded by the offline model's vectors (a static model: a sentence is
the mean of its tokens' vectors), whatever embedding model retrieval used: the figure then means
the same for every deployment and costs about a millisecond. A question whose support is below the
threshold gets the documented not-found sentence without any model call (NOT_FOUND_THRESHOLD for
offline answers, MODEL_NOT_FOUND_THRESHOLD with a model, in hundredths).

Calibrated with `calibrate_threshold` on the labelled set of tests/eval (tests/eval/
test_not_found_threshold.py recomputes it; the answer-quality floors are guarded by
tests/eval/test_evaluation_over_http.py): it separates questions about another subject
altogether (0.13-0.26 against at least 0.32 for answerable ones) but NOT a question on the videos'
own subject that they do not answer ("Do they support spatial audio?" over a headphone review
scores like an answerable one); with a model, the model itself is told to answer the not-found
sentence then.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from itertools import pairwise
from typing import Final

from services.video_rag.domain.moments import sentences

__all__ = ["MAX_SENTENCES", "calibrate_threshold", "question_parts", "support"]

Embed = Callable[[list[str]], Sequence[Sequence[float]]]

# ", and how long ...": where a sentence goes on with another question.
_ANOTHER_QUESTION: Final = re.compile(
    r"[,;]?\s+(?:and|but|or|also|plus)\s+(?=(?:how|what|which|when|where|who|why|is|are|does"
    r"|do|did|can|could|will|would|should)\b)",
    re.IGNORECASE,
)
# Sentences compared per question, at most (the passages' first ones): bounds the cost.
MAX_SENTENCES: Final = 400


def support(question: str, passage_texts: Sequence[str], embed: Embed) -> float:
    """The highest cosine similarity between `question` and a sentence of `passage_texts`
    (-1.0 to 1.0; 0.0 when there is no sentence or no question). `embed` returns a vector per
    text; they need not be normalized."""
    found = [text for passage in passage_texts for _, text in sentences(passage)]
    found = found[:MAX_SENTENCES]
    if not found or not question.strip():
        return 0.0
    import numpy as np  # one matrix product instead of a Python loop per sentence

    asked = question_parts(question)
    vectors = np.asarray(embed([*asked, *found]), dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=1)
    questions, texts = vectors[: len(asked)], vectors[len(asked) :]
    q_norms, t_norms = norms[: len(asked)], norms[len(asked) :]
    q_usable, t_usable = q_norms > 0.0, t_norms > 0.0
    if not q_usable.any() or not t_usable.any():
        return 0.0
    cosines = (texts[t_usable] @ questions[q_usable].T) / np.outer(
        t_norms[t_usable], q_norms[q_usable]
    )
    best = float(cosines.max())
    return best if best > -1.0 else 0.0


def question_parts(question: str) -> list[str]:
    """The question, and each of its parts when it asks several things ("What eats my leaves?
    And how long do the headphones play?", "Is the keyboard included, and how long does the
    battery last?"): a question with several parts is supported when any part is."""
    parts = [
        part.strip(" ,;")
        for _, text in sentences(question)
        for part in _ANOTHER_QUESTION.split(text)
        if part.strip(" ,;")
    ]
    return [question, *parts] if len(parts) > 1 else [question]


def calibrate_threshold(
    scores: Sequence[tuple[float, bool]], false_not_found_cost: float = 5.0
) -> float:
    """The threshold that best separates labelled `(support, answerable)` pairs: a question is
    "not found" below it. Chosen among the midpoints between consecutive distinct scores (and
    below all of them) to maximize the not-answerable questions caught minus
    `false_not_found_cost` per answerable question refused; ties go to the lowest threshold,
    the one that refuses least."""
    values = sorted({score for score, _ in scores})
    candidates = [values[0] - 1e-6] if values else [0.0]
    candidates += [(low + high) / 2 for low, high in pairwise(values)]
    best_threshold, best_gain = candidates[0], float("-inf")
    for threshold in candidates:
        caught = sum(1 for score, answerable in scores if not answerable and score < threshold)
        refused = sum(1 for score, answerable in scores if answerable and score < threshold)
        gain = caught - false_not_found_cost * refused
        if gain > best_gain:
            best_threshold, best_gain = threshold, gain
    return best_threshold
