"""Reference-overlap metrics with promptfoo's own formulas, so scores match promptfoo's numbers:
rouge-n (js-rouge's ROUGE-N F1, ignoring case), bleu, gleu and meteor (promptfoo's code).

Scores are 0..1; with the `not-` prefix the pass test flips and the score becomes 1 - score.
"""

from __future__ import annotations

import itertools
import math
import re
from collections import Counter
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from promptyard.core.types import GradingResult
from promptyard.scorers.base import CheckInput
from promptyard.scorers.values import js_string


def _references(inp: CheckInput) -> list[str]:
    value = inp.value
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    raise ValueError(
        f'"{inp.assertion.type}" assertion must have a string or array of strings value'
    )


def _ngrams(words: list[str], n: int) -> list[str]:
    return [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]


# ---------------------------------------------------------------- ROUGE-N

# js-rouge's ROUGE-N as promptfoo calls it (`n(output, value, {caseSensitive: false})`): each
# text is split into sentences, each sentence lower-cased (toLowerCase) and tokenized with a
# Penn Treebank tokenizer; the score is the F1 of the clipped unigram matches (a token counts
# as often as it occurs in both texts).
_TB_RULES: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\.{3}"), " ... "),
    (re.compile(r"[:,](?!\d)"), r" \g<0> "),
    (re.compile(r"[;@#$%&]"), r" \g<0> "),
    # A final period splits off, unless it ends an acronym such as "U.S."
    (re.compile(r"([^.])(?<!\b[A-Za-z]\.[A-Za-z])(\.)([\])}>'\s]*)\Z", re.ASCII), r"\1 \2\3 "),
    (re.compile(r"[?!]"), r" \g<0> "),
    (re.compile(r"[\][(){}<>]"), r" \g<0> "),
    (re.compile(r"--"), " -- "),
]
_TB_CLITICS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"([^'])' "), r"\1 ' "),
    (re.compile(r"'([sSmMdD]) "), r" '\1 "),
    (re.compile(r"('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) "), r" \1 "),
]
_TB_CONTRACTIONS = [
    re.compile(p, re.IGNORECASE | re.ASCII)
    for p in (
        r"\b(can)(not)\b", r"\b(d)('ye)\b", r"\b(gim)(me)\b", r"\b(gon)(na)\b",
        r"\b(got)(ta)\b", r"\b(lem)(me)\b", r"\b(more)('n)\b", r"\b(wan)(na) ",
        r" ('t)(is)\b", r" ('t)(was)\b",
    )
]  # fmt: skip
_QUOTES = re.compile(r"``|''|\"")
_WS = re.compile(r"\s+")
_OPENS_AFTER = re.compile(r"[\s(\[{<]")


def treebank_tokenize(text: str) -> list[str]:
    """js-rouge's treeBankTokenize (one sentence): double quotes become `` or '' by whether
    they open or close a quotation; punctuation, brackets and a final period split off;
    clitics ('s, n't, 'll...) and contractions (can|not, gon|na...) are tokens."""
    text = _WS.sub(" ", text.strip())
    if not text:
        return []
    inside = False

    def quote(m: re.Match[str]) -> str:
        nonlocal inside
        i, q = m.start(), m.group(0)
        opens = not inside and (i == 0 or _OPENS_AFTER.match(text[i - 1]) is not None)
        if q == "``" or (opens and q == '"'):
            inside = True
        else:
            nxt = _QUOTES.search(text, i + 2)
            inside = (
                opens
                and i > 0
                and text[i + 2 : i + 3].isalnum()
                and nxt is not None
                and nxt.group(0) == "''"
            )
        return " `` " if inside else " '' "

    parse = _QUOTES.sub(quote, text)
    for pattern, repl in _TB_RULES:
        parse = pattern.sub(repl, parse)
    parse = f" {parse} "
    for pattern, repl in _TB_CLITICS:
        parse = pattern.sub(repl, parse)
    for pattern in _TB_CONTRACTIONS:
        parse = pattern.sub(r" \1 \2 ", parse)
    return parse.split()


# js-rouge's abbreviation lists (constants.ts): a period after one of these does not end a
# sentence even when the next word is capitalised (GATE_EXCEPTIONS).
_HONORIFICS = [
    "jr", "mr", "mrs", "ms", "dr", "prof", "sr", "sen", "corp", "rep", "gov", "atty", "supt",
    "det", "rev", "col", "gen", "lt", "cmdr", "adm", "capt", "sgt", "cpl", "maj", "miss",
    "misses", "mister", "sir", "esq", "mstr", "phd", "adj", "adv", "asst", "bldg", "brig",
    "comdr", "hon", "messrs", "mlle", "mme", "op", "ord", "pvt", "reps", "res", "sens", "sfc",
    "surg",
]  # fmt: skip
_GATE_EXCEPTIONS = ["ex", "e.g", "i.e", "circa", "ca", "cca", "v.s", "esp", "ft", "st", "mt"]
_GATE_EXCEPTIONS += _HONORIFICS
_ABBREV_EXCEPTION = re.compile(
    r"\b(" + "|".join(map(re.escape, _GATE_EXCEPTIONS)) + r")[.!?] ?\Z", re.IGNORECASE
)
_GATE_SUBSTITUTIONS = [
    "arc", "al", "exp", "rd", "st", "dist", "mt", "fy", "pd", "pl", "plz", "tce", "llb", "md",
    "bl", "ma", "ba", "lit", "ex", "e.g", "i.e", "circa", "ca", "cca", "v.s", "etc", "esp", "ft",
    "b.c", "a.d", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov",
    "dec", "co", "corp", "yahoo", "joomla", "jeopardy", "dept", "univ", "assn", "bros", "inc",
    "ltd", "ala", "ariz", "ark", "cal", "calif", "col", "colo", "conn", "del", "fed", "fla", "fl",
    "ga", "ida", "ind", "ia", "la", "kan", "kans", "ken", "ky", "mich", "minn", "mont", "neb",
    "nebr", "nev", "okla", "penna", "penn", "pa", "dak", "tenn", "tex", "ut", "vt", "va", "wash",
    "wis", "wisc", "wy", "wyo", "usafa", "alta", "ont", "que", "sask", "yuk", "ave", "blvd",
    "cl", "ct", "cres", "hwy", "u.s", "u.s.a", "e.u", "n°", "a.m", "p.m",
]  # fmt: skip
_ABBREVIATION = re.compile(
    r"\b(" + "|".join(map(re.escape, _GATE_SUBSTITUTIONS + _HONORIFICS)) + r")[.!?] ?\Z",
    re.IGNORECASE,
)
_NOT_A_NUMBER_START = re.compile(r"\S+(?:\s*%|\s+(?:time|year)s?\b)", re.IGNORECASE)
_TERMINAL = re.compile(r"[.?!][\])}>\"']*(?=\s|\Z)")
_INITIAL = re.compile(r"(?:^|[ .])[A-Z]\.\Z")
_ELLIPSIS = re.compile(r"\.{2,10}\Z")


def _title(word: str) -> bool:
    return bool(word) and word[0].isupper()


def sentence_segment(text: str) -> list[str]:
    """Sentences as js-rouge's sentenceSegment finds them, for the cases that change tokens:
    a terminal (. ? !, then closing quotes or brackets) followed by space and a capital letter
    or digit ends a sentence, except after an honorific or common abbreviation ("Mr.", "e.g."),
    a name initial ("Albert I. Jones") or an ellipsis; a line break ends a sentence unless the
    text before it starts with a capital (a wrapped line). Rare abbreviation rules are not
    reproduced."""
    pieces: list[str] = []
    start = 0
    for m in _TERMINAL.finditer(text):
        end = m.end()
        rest = text[end:].lstrip(" \t\r\n\"'([{<")
        head = text[start:end]
        before = head[: m.start() - start + 1]
        if rest and not (
            rest[0].isupper()
            or (
                rest[0].isdigit()
                and not _ABBREVIATION.search(before)
                and not _NOT_A_NUMBER_START.match(rest)
            )
        ):
            continue
        if rest:
            if _ELLIPSIS.search(before) or _ABBREV_EXCEPTION.search(before):
                continue
            words = before.split()
            if _INITIAL.search(before) and len(words) > 1 and _title(words[-2]) and _title(rest):
                continue
        pieces.append(head)
        start = end
    pieces.append(text[start:])
    sentences: list[str] = []
    for piece in pieces:
        piece = piece.strip()
        if not piece:
            continue
        if "\n" in piece or "\r" in piece:
            lines = [ln.strip() for ln in re.split(r"[\r\n]+", piece) if ln.strip()]
            if lines and not _title(lines[0]):
                sentences.extend(lines)
                continue
        sentences.append(piece)
    return sentences or [text]


def _f1(precision: float, recall: float) -> float:
    """js-rouge's fMeasure with beta 1, with its operations in its order (same floats)."""
    if precision == recall:
        return precision
    if precision == 0 or recall == 0:
        return 0.0
    if precision > recall:
        return min(precision, recall * (2 / (1 + recall / precision)))
    return min(recall, precision * (2 / (1 + precision / recall)))


def rouge_n(candidate: str, reference: str, n: int = 1) -> float:
    """ROUGE-N as promptfoo computes it (js-rouge `n` with caseSensitive false): the F1 of
    the n-grams both texts share, each counted as often as it occurs in both."""

    def grams(text: str) -> list[tuple[str, ...]]:
        tokens = [t for s in sentence_segment(text) for t in treebank_tokenize(s.lower())]
        return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]

    cand, ref = grams(candidate), grams(reference)
    if not cand or not ref:
        return 0.0
    matches = sum((Counter(cand) & Counter(ref)).values())
    if matches == 0:
        return 0.0
    return _f1(matches / len(cand), matches / len(ref))


# ---------------------------------------------------------------- BLEU / GLEU


def bleu(candidate: str, references: list[str]) -> float:
    """promptfoo's calculateBleuScore: lower-cased whitespace tokens, clipped 1-4-gram
    precisions (best reference per order), 1e-7 smoothing, brevity penalty against the
    reference closest in length."""
    cand = candidate.lower().split()
    if not cand:
        return 0.0
    refs = [r.lower().split() for r in references]
    closest = refs[0]
    for ref in refs[1:]:
        if abs(len(ref) - len(cand)) < abs(len(closest) - len(cand)):
            closest = ref
    log_sum = 0.0
    for n in range(1, 5):
        grams = Counter(_ngrams(cand, n))
        total = sum(grams.values())
        best = 0
        for ref in refs:
            ref_grams = Counter(_ngrams(ref, n))
            best = max(best, sum(min(c, ref_grams[g]) for g, c in grams.items()))
        precision = best / total if total else 0.0
        log_sum += 0.25 * math.log(precision or 1e-7)
    ref_len = len(closest)
    penalty = 1.0 if len(cand) > ref_len else math.exp(1 - len(cand) / ref_len) if ref_len else 1.0
    return penalty * math.exp(log_sum)


def _gleu_words(text: str) -> list[str]:
    return [w.rstrip(".") for w in text.lower().split()]


def gleu(candidate: str, references: list[str]) -> float:
    """promptfoo's calculateGleuScore: min(precision, recall) over all 1-4-grams, best reference."""
    cand = _gleu_words(candidate)
    if not cand:
        return 0.0
    best = 0.0
    for reference in references:
        ref = _gleu_words(reference)
        if ref == cand:
            return 1.0
        matches = cand_total = ref_total = 0
        for n in range(1, 5):
            cg, rg = Counter(_ngrams(cand, n)), Counter(_ngrams(ref, n))
            matches += sum(min(c, rg[g]) for g, c in cg.items())
            cand_total += sum(cg.values())
            ref_total += sum(rg.values())
        if cand_total and ref_total:
            best = max(best, min(matches / cand_total, matches / ref_total))
    return best


# ---------------------------------------------------------------- METEOR

_stemmer: Callable[[str], str] | None = None


def _stem(word: str) -> str:
    global _stemmer
    if _stemmer is None:
        from nltk.stem.porter import PorterStemmer  # lazy: nltk is slow to import

        _stemmer = PorterStemmer(mode=PorterStemmer.ORIGINAL_ALGORITHM).stem
    stem: str = _stemmer(word)
    return stem


def _match(
    cand: list[tuple[int, str]], ref: list[tuple[int, str]]
) -> tuple[list[tuple[int, int]], list[tuple[int, str]], list[tuple[int, str]]]:
    """Greedy matching from the end, as promptfoo's matchExactEnums does."""
    cand, ref = list(cand), list(ref)
    pairs: list[tuple[int, int]] = []
    for i in range(len(cand) - 1, -1, -1):
        for j in range(len(ref) - 1, -1, -1):
            if cand[i][1] == ref[j][1]:
                pairs.append((cand[i][0], ref[j][0]))
                del cand[i]
                del ref[j]
                break
    return pairs, cand, ref


def _meteor_single(
    reference: list[str], candidate: list[str], alpha: float, beta: float, gamma: float
) -> float:
    cand = [(i, w.lower()) for i, w in enumerate(candidate)]
    ref = [(i, w.lower()) for i, w in enumerate(reference)]
    exact, cand_left, ref_left = _match(cand, ref)
    stemmed, _, _ = _match(
        [(i, _stem(w)) for i, w in cand_left], [(i, _stem(w)) for i, w in ref_left]
    )
    matches = sorted(exact + stemmed)
    if not matches or not cand or not ref:
        return 0.0
    precision = len(matches) / len(cand)
    recall = len(matches) / len(ref)
    denominator = alpha * precision + (1 - alpha) * recall
    if denominator == 0:
        return 0.0
    fmean = precision * recall / denominator
    chunks = 1 + sum(
        1 for (c0, r0), (c1, r1) in itertools.pairwise(matches) if c1 != c0 + 1 or r1 != r0 + 1
    )
    penalty: float = gamma * (chunks / len(matches)) ** beta
    return (1 - penalty) * fmean


def meteor(
    candidate: str,
    references: list[str],
    *,
    alpha: float = 0.9,
    beta: float = 3.0,
    gamma: float = 0.5,
) -> float:
    """promptfoo's METEOR (exact, then Porter-stem matches, fragmentation penalty), without its
    third stage, WordNet synonyms: WordNet data is not available offline here, so scores can be
    lower than promptfoo's when the output uses synonyms of the reference's words."""
    if not candidate:
        return 0.0

    def words(text: str) -> list[str]:
        return [w.rstrip(".") for w in re.split(r"\s+", text)]

    cand = words(candidate)
    return max(_meteor_single(words(r), cand, alpha, beta, gamma) for r in references)


# ---------------------------------------------------------------- checks


def _scored(inp: CheckInput, name: str, score: float, threshold: float) -> GradingResult:
    passed = (score >= threshold) != inp.inverse
    shown = 1 - score if inp.inverse else score  # also when a not- form fails, as promptfoo
    limit = js_string(float(threshold))
    if name == "ROUGE-N":  # promptfoo's reason, pass or fail
        rel = "greater than or equal to" if score >= threshold else "less than"
        reason = f"{name} score {_to_fixed(score, 2)} is {rel} threshold {limit}"
        return inp.result(passed, reason, score=shown)
    if passed:
        rel = ">=" if score >= threshold else "<"
        return inp.result(True, f"{name} score {score:.4f} {rel} threshold {limit}", score=shown)
    # promptfoo's failure reasons, per metric
    if name == "METEOR":
        reason = f"{name} score {score:.4f} did not meet threshold {limit}"
    else:
        rel = "greater" if inp.inverse else "less"
        reason = f"{name} score {score:.4f} is {rel} than threshold {limit}"
    return inp.result(False, reason, score=shown)


def _to_fixed(value: float, digits: int) -> str:
    """JavaScript's Number.prototype.toFixed: the exact binary value, halves rounded up
    (0.125 -> "0.13", where Python's format gives "0.12")."""
    if not math.isfinite(value):
        return js_string(value)
    exact = Decimal(value).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return f"{exact:.{digits}f}"


def _threshold(inp: CheckInput, default: float) -> float:
    threshold = inp.assertion.threshold
    return default if threshold is None else threshold


def check_rouge_n(inp: CheckInput) -> GradingResult:
    if not isinstance(inp.value, str):
        raise ValueError('"rouge-n" assertion type must be a string value')
    # js-rouge throws on empty text; an empty output scores nothing
    score = rouge_n(inp.text, inp.value) if inp.text and inp.value else 0.0
    return _scored(inp, "ROUGE-N", score, _threshold(inp, 0.75))


def check_bleu(inp: CheckInput) -> GradingResult:
    return _scored(inp, "BLEU", bleu(inp.text, _references(inp)), _threshold(inp, 0.5))


def check_gleu(inp: CheckInput) -> GradingResult:
    return _scored(inp, "GLEU", gleu(inp.text, _references(inp)), _threshold(inp, 0.5))


def check_meteor(inp: CheckInput) -> GradingResult:
    cfg: dict[str, Any] = inp.assertion.config
    score = meteor(
        inp.text,
        _references(inp),
        alpha=float(cfg.get("alpha", 0.9)),
        beta=float(cfg.get("beta", 3.0)),
        gamma=float(cfg.get("gamma", 0.5)),
    )
    return _scored(inp, "METEOR", score, _threshold(inp, 0.5))
