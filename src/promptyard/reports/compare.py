"""Compare two runs trial by trial: which cases B fixed, which it broke, and whether it matters.

Trials are paired by the key (case_id, prompt label, provider label, sample):
- `case_id` is the content hash of the case (description, vars, assertions), so a case whose
  assertions changed is a different case;
- prompts and providers are matched by label, so "v2" in run A meets "v2" in run B even when
  the template text behind the label changed (that is usually what is being compared);
- but a dimension with one value on each side is left out of the key: two runs of one prompt
  and one provider each pair by case whatever their labels ("did my prompt change help?"), and
  the pair's label reads "A's label → B's label";
- `prompt_a`/`provider_a` (and the `_b` twins) keep one prompt or provider of a larger run (by
  label or id), which is also how two prompts of one run are compared with each other;
- `sample` pairs the i-th sample of a `--repeat N` run with the i-th of the other.

A trial with an error counts as a fail. Cases present in only one run are counted and named,
never silently dropped. Pass flips are tested with McNemar's test on the discordant pairs, and
the score differences (B - A) with a paired bootstrap.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from promptyard.core.stats import McNemarResult, PairedBootstrap, mcnemar, paired_bootstrap
from promptyard.core.types import TrialResult

PairKey = tuple[str, str, str, int]  # (case_id, prompt label, provider label, sample)
GroupKey = tuple[str, str]  # (prompt label, provider label)


@dataclass(frozen=True, slots=True)
class _Slim:
    """What a comparison keeps of a trial (a 100,000-trial run stays small in memory)."""

    case_index: int
    description: str | None
    success: bool
    score: float


@dataclass(frozen=True, slots=True)
class CaseRef:
    """One paired (or unpaired) trial, named for a person."""

    case_id: str
    case_index: int
    description: str | None
    prompt_label: str
    provider_label: str
    sample: int
    score_a: float | None = None
    score_b: float | None = None

    @property
    def name(self) -> str:
        return self.description or f"case {self.case_index}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "case_index": self.case_index,
            "description": self.description,
            "prompt_label": self.prompt_label,
            "provider_label": self.provider_label,
            "sample": self.sample,
            "score_a": self.score_a,
            "score_b": self.score_b,
        }


@dataclass(slots=True)
class GroupComparison:
    """Counts and tests for one prompt x provider (or for everything, in `Comparison.total`)."""

    prompt_label: str
    provider_label: str
    improved: int = 0  # A failed, B passed
    regressed: int = 0  # A passed, B failed
    both_pass: int = 0
    both_fail: int = 0
    only_a: int = 0
    only_b: int = 0
    mcnemar: McNemarResult = field(default_factory=lambda: mcnemar(0, 0))
    score: PairedBootstrap | None = None
    _diffs: list[float] = field(default_factory=list, repr=False)

    @property
    def paired(self) -> int:
        return self.improved + self.regressed + self.both_pass + self.both_fail

    @property
    def unchanged(self) -> int:
        return self.both_pass + self.both_fail

    def _add(self, a: _Slim, b: _Slim) -> None:
        if a.success and b.success:
            self.both_pass += 1
        elif a.success:
            self.regressed += 1
        elif b.success:
            self.improved += 1
        else:
            self.both_fail += 1
        self._diffs.append(b.score - a.score)

    def _finish(self, resamples: int, seed: int) -> None:
        self.mcnemar = mcnemar(self.improved, self.regressed)
        self.score = paired_bootstrap(self._diffs, resamples, seed) if self._diffs else None
        self._diffs = []

    def to_dict(self) -> dict[str, Any]:
        return {
            "prompt_label": self.prompt_label,
            "provider_label": self.provider_label,
            "paired": self.paired,
            "improved": self.improved,
            "regressed": self.regressed,
            "unchanged": self.unchanged,
            "both_pass": self.both_pass,
            "both_fail": self.both_fail,
            "only_a": self.only_a,
            "only_b": self.only_b,
            "mcnemar": self.mcnemar.to_dict(),
            "score_diff": self.score.to_dict() if self.score is not None else None,
        }


@dataclass(slots=True)
class Comparison:
    run_a: str
    run_b: str
    alpha: float
    total: GroupComparison
    groups: list[GroupComparison]
    regressions: list[CaseRef]
    improvements: list[CaseRef]
    only_in_a: list[CaseRef]
    only_in_b: list[CaseRef]

    @property
    def significant(self) -> bool:
        """McNemar's test on all pairs rejects "A and B pass equally often" at alpha."""
        return self.total.paired > 0 and self.total.mcnemar.p_value < self.alpha

    @property
    def regresses(self) -> bool:
        """B breaks more paired cases than it fixes."""
        return self.total.regressed > self.total.improved

    key: tuple[str, ...] = ("case_id", "prompt_label", "provider_label", "sample")
    selected: dict[str, str | None] = field(default_factory=dict)
    hint: str = ""  # why nothing paired, and what to choose

    @property
    def sentence(self) -> str:
        return verdict_sentence(self)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_a": self.run_a,
            "run_b": self.run_b,
            "key": list(self.key),
            "selected": dict(self.selected),
            "hint": self.hint,
            "alpha": self.alpha,
            "significant": self.significant,
            "sentence": self.sentence,
            "total": self.total.to_dict(),
            "groups": [g.to_dict() for g in self.groups],
            "regressions": [c.to_dict() for c in self.regressions],
            "improvements": [c.to_dict() for c in self.improvements],
            "only_in_a": [c.to_dict() for c in self.only_in_a],
            "only_in_b": [c.to_dict() for c in self.only_in_b],
        }


@dataclass(slots=True)
class _Side:
    """One run's trials by full key, and the prompts and providers they came from."""

    trials: dict[PairKey, _Slim]
    prompts: dict[str, None]  # labels, first-seen order
    providers: dict[str, None]
    all_prompts: dict[str, None]  # before the selection
    all_providers: dict[str, None]


def _matches(value: str | None, label: str, ident: str) -> bool:
    return value is None or value in (label, ident)


def _index(
    trials: Iterable[TrialResult], prompt: str | None = None, provider: str | None = None
) -> _Side:
    # A key seen twice (a resumed run that rewrote a trial) keeps the last one, as the store does.
    side = _Side({}, {}, {}, {}, {})
    for t in trials:
        side.all_prompts[t.prompt_label] = None
        side.all_providers[t.provider_label] = None
        if not (_matches(prompt, t.prompt_label, t.prompt_id)
                and _matches(provider, t.provider_label, t.provider_id)):  # fmt: skip
            continue
        side.prompts[t.prompt_label] = None
        side.providers[t.provider_label] = None
        side.trials[(t.case_id, t.prompt_label, t.provider_label, t.sample)] = _Slim(
            t.case_index, t.description, t.success and t.error is None, t.score
        )
    return side


def _check_selection(side: _Side, name: str, prompt: str | None, provider: str | None) -> None:
    if side.trials or not (prompt or provider):
        return
    if prompt is not None and prompt not in side.all_prompts:
        raise ValueError(f"run {name} has no prompt {prompt!r} (its prompts: "
                         f"{_names(side.all_prompts)})")  # fmt: skip
    if provider is not None and provider not in side.all_providers:
        raise ValueError(f"run {name} has no provider {provider!r} (its providers: "
                         f"{_names(side.all_providers)})")  # fmt: skip
    raise ValueError(f"run {name} has no trial of prompt {prompt!r} with provider {provider!r}")


def _names(labels: Iterable[str]) -> str:
    return ", ".join(repr(label) for label in labels) or "none"


def _arrow(a: str, b: str) -> str:
    return a if a == b else f"{a} → {b}"


def _rekey(a: _Side, b: _Side) -> tuple[str, ...]:
    """Leave out of the key each dimension that has one value on each side (see the module
    docstring); the trials of both sides are re-keyed with the merged label."""
    key = ["case_id", "prompt_label", "provider_label", "sample"]
    merged: dict[int, str] = {}
    for position, (labels_a, labels_b) in ((1, (a.prompts, b.prompts)),
                                           (2, (a.providers, b.providers))):  # fmt: skip
        if len(labels_a) == 1 and len(labels_b) == 1:
            merged[position] = _arrow(next(iter(labels_a)), next(iter(labels_b)))
            key.remove("prompt_label" if position == 1 else "provider_label")
    if merged:
        for side in (a, b):
            side.trials = {
                (k[0], merged.get(1, k[1]), merged.get(2, k[2]), k[3]): v
                for k, v in side.trials.items()
            }
    return tuple(key)


def _hint(a: _Side, b: _Side) -> str:
    """Why no case paired, when labels are the reason, and how to choose."""
    if set(a.prompts) != set(b.prompts) and (len(a.prompts) > 1 or len(b.prompts) > 1):
        return (f"A's prompts are {_names(a.prompts)}, B's {_names(b.prompts)}: choose one "
                "of each (--prompt-a/--prompt-b) to compare them case by case")  # fmt: skip
    if set(a.providers) != set(b.providers) and (len(a.providers) > 1 or len(b.providers) > 1):
        return (f"A's providers are {_names(a.providers)}, B's {_names(b.providers)}: choose "
                "one of each (--provider-a/--provider-b) to compare them case by case")  # fmt: skip
    return ""


def _ref(key: PairKey, slim: _Slim, a: _Slim | None, b: _Slim | None) -> CaseRef:
    return CaseRef(
        key[0],
        slim.case_index,
        slim.description,
        key[1],
        key[2],
        key[3],
        a.score if a else None,
        b.score if b else None,
    )


def compare_runs(
    trials_a: Iterable[TrialResult],
    trials_b: Iterable[TrialResult],
    *,
    run_a: str = "A",
    run_b: str = "B",
    alpha: float = 0.05,
    resamples: int = 2000,
    seed: int = 0,
    prompt_a: str | None = None,
    prompt_b: str | None = None,
    provider_a: str | None = None,
    provider_b: str | None = None,
) -> Comparison:
    """Pair the trials of two runs (see the module docstring for the key) and test the flips.
    `prompt_a` etc. keep one prompt or provider of a run (label or id); ValueError when the run
    has none such."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    side_a = _index(trials_a, prompt_a, provider_a)
    side_b = _index(trials_b, prompt_b, provider_b)
    _check_selection(side_a, "A", prompt_a, provider_a)
    _check_selection(side_b, "B", prompt_b, provider_b)
    pair_key = _rekey(side_a, side_b)
    a_trials, b_trials = side_a.trials, side_b.trials
    total = GroupComparison("*", "*")
    groups: dict[GroupKey, GroupComparison] = {}
    regressions: list[CaseRef] = []
    improvements: list[CaseRef] = []
    only_a: list[CaseRef] = []
    only_b: list[CaseRef] = []

    def group(key: PairKey) -> GroupComparison:
        g = groups.get((key[1], key[2]))
        if g is None:
            g = groups[(key[1], key[2])] = GroupComparison(key[1], key[2])
        return g

    for key, a in a_trials.items():
        b = b_trials.get(key)
        g = group(key)
        if b is None:
            g.only_a += 1
            total.only_a += 1
            only_a.append(_ref(key, a, a, None))
            continue
        g._add(a, b)
        total._add(a, b)
        if a.success != b.success:
            (regressions if a.success else improvements).append(_ref(key, b, a, b))
    for key, b in b_trials.items():
        if key not in a_trials:
            group(key).only_b += 1
            total.only_b += 1
            only_b.append(_ref(key, b, None, b))
    for g in groups.values():
        g._finish(resamples, seed)
    total._finish(resamples, seed)
    order = sorted(groups)
    for refs in (regressions, improvements, only_a, only_b):
        refs.sort(key=lambda r: (r.case_index, r.prompt_label, r.provider_label, r.sample))
    selected = {"prompt_a": prompt_a, "prompt_b": prompt_b,
                "provider_a": provider_a, "provider_b": provider_b}  # fmt: skip
    return Comparison(
        run_a,
        run_b,
        alpha,
        total,
        [groups[k] for k in order],
        regressions,
        improvements,
        only_a,
        only_b,
        key=pair_key,
        selected=selected,
        hint=_hint(side_a, side_b) if total.paired == 0 else "",
    )


def format_p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.2g}"


def _cases(n: int) -> str:
    return f"{n} case" if n == 1 else f"{n} cases"


def verdict_sentence(c: Comparison) -> str:
    """One sentence a person reads, e.g. "B regresses 12 cases and improves 3; the difference
    is significant (McNemar p = 0.01)."""
    t = c.total
    if t.paired == 0:
        head = "A and B share no case to compare"
    elif t.improved == 0 and t.regressed == 0:
        head = f"B and A agree on all {t.paired} paired cases: no pass/fail flips"
    else:
        if t.regressed >= t.improved:
            flips = f"B regresses {_cases(t.regressed)} and improves {t.improved}"
        else:
            flips = f"B improves {_cases(t.improved)} and regresses {t.regressed}"
        p = format_p(t.mcnemar.p_value)
        if c.significant:
            head = f"{flips}; the difference is significant (McNemar {p})"
        else:
            head = f"{flips}; the difference is not significant (McNemar {p})"
    extra = [c.hint] if c.hint else []
    if t.only_a:
        extra.append(f"{_cases(t.only_a)} only in A")
    if t.only_b:
        extra.append(f"{_cases(t.only_b)} only in B")
    return "; ".join([head, *extra]) + "."
