"""The results matrix of a run, one page at a time: cases as rows, prompt x provider as columns.

A row is a case (and sample, when the run repeated cases); a cell is one trial. The page is
cut in SQL, so a 100,000-trial run answers as fast as its one grouped scan:

1. one statement reads each trial's verdict on the filters and its sort value, groups them by
   (case_index, sample) into rows (a row matches when any of its trials does), counts all
   rows and the matching ones with window functions, and keeps one page of matching rows,
   each with the lowest and highest index of its trials;
2. one more reads those trials by primary-key ranges (the plan numbers a case's trials
   together), with only the first characters of their output, vars and error; the whole
   trial is one `trial()` call away.

No index beyond the primary keys: at 100,000 trials the grouped scan takes 0.1-0.3 s on
SQLite and PostgreSQL whatever the filter (a text search on PostgreSQL ~0.5 s), figures in
docs/benchmarks.md. A covering index on (run_id, case_index, sample, idx) made the unfiltered
page ~3x faster on SQLite, but nothing else, at a cost to every write: not taken.

Columns come from the run record (its prompts x providers, the plan's order) with the stored
summary's per-pair stats; a run still in progress, or a record without them, gets them from
one aggregate over its trials instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import sqlalchemy as sa

from promptyard.core.stats import wilson_interval
from promptyard.core.types import TrialResult
from promptyard.errors import NotFound
from promptyard.store import codec
from promptyard.store.part import StorePart
from promptyard.store.schema import scores, trials
from promptyard.store.store import RunRecord

STATUSES = ("pass", "fail", "error")
SORTS = ("case", "score", "cost", "latency")
PREVIEW_CHARS = 240  # what a cell shows of an output, an error or a row's vars
_FETCH_CHARS = 1000  # what SQL hands over to cut a preview from (JSON escapes take room)
_CHUNK = 500  # keys per IN (...) list
_SPANS = 100  # index ranges per statement

t = trials


@dataclass(frozen=True, slots=True)
class MatrixQuery:
    """Which rows, in which order. A row matches when any of its trials matches every filter:
    `status` (pass, fail or error), `assertion` (an assertion of this type failed on the
    trial), `text` (in the output, error, vars, description or an assertion's reason,
    ignoring case). `sort` orders rows by case (the plan's order), or by the mean score, the
    summed cost or the mean latency of the row's trials; with `column` (an index into the
    columns) by that column's trial alone. Rows without a value sort last."""

    status: str | None = None
    assertion: str | None = None
    text: str | None = None
    sort: str = "case"
    descending: bool = False
    column: int | None = None
    limit: int = 50
    offset: int = 0

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}, not {self.status!r}")
        if self.sort not in SORTS:
            raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {self.sort!r}")

    @property
    def filtered(self) -> bool:
        return bool(self.status or self.assertion or self.text)


@dataclass(frozen=True, slots=True)
class Group:
    """A row of a page: its case and sample, the lowest and highest index of its trials and
    how many it has."""

    case_index: int
    sample: int
    lo: int
    hi: int
    n: int


@dataclass(slots=True)
class MatrixColumn:
    """A prompt x provider; `stats` are its summary (pass rate with its 95% Wilson interval,
    mean score, cost, tokens, latency p50/p95), `live` when counted from the trials of a run
    that has no summary yet (then without latency percentiles)."""

    index: int
    prompt_id: str
    prompt_label: str
    provider_id: str
    provider_label: str
    stats: dict[str, Any] | None = None
    live: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.prompt_id, self.provider_id, self.provider_label)

    def to_dict(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "prompt_id": self.prompt_id,
            "prompt_label": self.prompt_label,
            "provider_id": self.provider_id,
            "provider_label": self.provider_label,
            "stats": self.stats,
            "live": self.live,
        }


@dataclass(slots=True)
class MatrixPage:
    """One page of rows. `total` rows match the filters out of `cases` rows in all; each row's
    `cells` line up with `columns` (None where the run has no trial)."""

    run_id: str
    columns: list[MatrixColumn]
    rows: list[dict[str, Any]]
    total: int
    cases: int
    limit: int
    offset: int
    repeated: bool  # the run sampled cases more than once: rows are (case, sample)
    query: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "columns": [c.to_dict() for c in self.columns],
            "rows": self.rows,
            "total": self.total,
            "cases": self.cases,
            "limit": self.limit,
            "offset": self.offset,
            "repeated": self.repeated,
            "query": self.query,
        }


class MatrixStore(StorePart):
    """Read-only views of one run's trials for the results matrix."""

    def page(self, run: RunRecord, query: MatrixQuery) -> MatrixPage:
        """One page of the matrix of `run` (from Store.get_run) under `query`."""
        if self.engine.dialect.name == "postgresql":  # its text cannot hold NUL (codec)
            query = replace(query, text=codec.strip_nul(query.text),
                            assertion=codec.strip_nul(query.assertion))  # fmt: skip
        what = f"read the results matrix of run {run.id}"
        with self._errors(what), self.engine.connect() as conn:
            columns = self._columns(conn, run)
            if query.column is not None and not 0 <= query.column < len(columns):
                raise ValueError(
                    f"column {query.column} does not exist: the run has {len(columns)}"
                )
            groups, total, cases, repeated = self._groups(conn, run.id, query, columns)
            cells = self._cells(conn, run.id, query, groups)
        rows = _rows(groups, cells, columns)
        return MatrixPage(run.id, columns, rows, total, cases, query.limit, query.offset,
                          repeated, _echo(query))  # fmt: skip

    def assertions(self, run_id: str) -> list[dict[str, Any]]:
        """The run's assertion types with how many verdicts each gave and how many failed."""
        s = scores
        failed = sa.func.sum(sa.case((sa.not_(s.c.passed), 1), else_=0))
        q = (
            sa.select(s.c.assertion_type, sa.func.count().label("total"), failed.label("failed"))
            .where(s.c.run_id == run_id, s.c.assertion_type.is_not(None))
            .group_by(s.c.assertion_type)
            .order_by(s.c.assertion_type)
        )
        with self._errors(f"read the assertions of run {run_id}"), self.engine.connect() as c:
            rows = c.execute(q).all()
        return [{"type": r.assertion_type, "total": int(r.total), "failed": int(r.failed or 0)}
                for r in rows]  # fmt: skip

    def trial(self, run_id: str, index: int) -> TrialResult:
        """The whole trial `index` of the run, or NotFound."""
        q = sa.select(t).where(t.c.run_id == run_id, t.c.idx == index)
        with self._errors(f"read trial {index} of run {run_id}"), self.engine.connect() as c:
            row = c.execute(q).first()
        if row is None:
            raise NotFound(f"run {run_id} has no trial {index}")
        return codec.trial_from_row(row)

    # -- columns ---------------------------------------------------------------------------

    def _columns(self, conn: sa.Connection, run: RunRecord) -> list[MatrixColumn]:
        columns = _record_columns(run)
        pairs = (run.summary or {}).get("pairs")
        if columns and isinstance(pairs, list):
            by_pair = {(p.get("prompt_id"), p.get("provider_label")): p for p in pairs
                       if isinstance(p, dict)}  # fmt: skip
            for c in columns:
                pair = by_pair.get((c.prompt_id, c.provider_label))
                c.stats = None if pair is None else _with_ci(pair)
            return columns
        # No summary yet (or an unusual record): count what the trials say, one scan.
        known = {c.key: c for c in columns}
        for r in conn.execute(self._live_stats(run.id)):
            key = (r.prompt_id, r.provider_id, r.provider_label)
            col = known.get(key)
            if col is None:
                col = MatrixColumn(len(columns), r.prompt_id, r.prompt_label, r.provider_id,
                                   r.provider_label)  # fmt: skip
                known[key] = col
                columns.append(col)
            col.stats, col.live = _live(r), True
        return columns

    @staticmethod
    def _live_stats(run_id: str) -> sa.Select[Any]:
        ok = sa.and_(t.c.error.is_(None), t.c.success)
        bad = sa.and_(t.c.error.is_(None), sa.not_(t.c.success))
        return (
            sa.select(
                t.c.prompt_id,
                t.c.provider_id,
                t.c.provider_label,
                sa.func.min(t.c.prompt_label).label("prompt_label"),
                sa.func.count().label("total"),
                sa.func.sum(sa.case((ok, 1), else_=0)).label("passed"),
                sa.func.sum(sa.case((bad, 1), else_=0)).label("failed"),
                sa.func.sum(sa.case((t.c.error.is_not(None), 1), else_=0)).label("errors"),
                sa.func.avg(t.c.score).label("mean_score"),
                sa.func.sum(sa.case((sa.not_(t.c.cached), t.c.cost), else_=None)).label("cost"),
                sa.func.sum(t.c.prompt_tokens).label("prompt_tokens"),
                sa.func.sum(t.c.completion_tokens).label("completion_tokens"),
                sa.func.sum(t.c.total_tokens).label("total_tokens"),
            )
            .where(t.c.run_id == run_id)
            .group_by(t.c.prompt_id, t.c.provider_id, t.c.provider_label)
            .order_by(sa.func.min(t.c.idx))
        )

    # -- rows ------------------------------------------------------------------------------

    def _groups(
        self, conn: sa.Connection, run_id: str, query: MatrixQuery, columns: list[MatrixColumn]
    ) -> tuple[list[Group], int, int, bool]:
        """The page's rows, the matching and all row counts, and whether any case has more
        than one sample."""
        # Per trial first: whether it matches and its sort value, so that grouping sorts
        # narrow rows of numbers, not the text the filters read. OFFSET 0 keeps PostgreSQL
        # from merging this into the grouping (which then sorted ~1 KB rows on disk: 0.5 s
        # instead of 0.15 s at 100,000 trials); SQLite runs either form as fast.
        match = _predicate(run_id, query)
        value, agg = _sort_value(query, columns)
        per_trial = (
            sa.select(
                t.c.case_index,
                t.c.sample,
                t.c.idx,
                (sa.literal_column("1") if match is None else sa.case((match, 1), else_=0)).label(
                    "hit"
                ),
                value.label("v"),
            )
            .where(t.c.run_id == run_id)
            .offset(0)
            .subquery("t1")
        )
        p = per_trial.c
        grouped = (
            sa.select(
                p.case_index,
                p.sample,
                sa.func.min(p.idx).label("lo"),
                sa.func.max(p.idx).label("hi"),
                sa.func.count().label("n"),
                sa.func.max(p.hit).label("hit"),
                agg(p.v).label("k"),
            )
            .group_by(p.case_index, p.sample)
            .subquery("g")
        )
        g = grouped.c
        counted = sa.select(
            grouped,
            sa.func.count().over().label("cases"),
            sa.func.sum(g.hit).over().label("total"),
            sa.func.max(g.sample).over().label("top_sample"),
        ).subquery("c")
        c = counted.c
        # Matching rows first, so that past the last match the page still carries the counts
        # (from a row that does not match, dropped below) without a second scan.
        order: list[Any] = [c.hit.desc()]
        if query.sort != "case":
            order.append(c.k.desc().nulls_last() if query.descending else c.k.asc().nulls_last())
        if query.sort == "case" and query.descending:
            order += [c.case_index.desc(), c.sample.desc()]
        else:
            order += [c.case_index, c.sample]
        page = (
            sa.select(
                c.case_index, c.sample, c.lo, c.hi, c.n, c.hit, c.cases, c.total, c.top_sample
            )
            .order_by(*order)
            .limit(query.limit)
            .offset(query.offset)
        )
        rows = conn.execute(page).all()
        if rows:
            first = rows[0]
            total, cases, top = int(first.total), int(first.cases), first.top_sample
        else:  # past the last row: count without a page
            n = sa.select(
                sa.func.count(), sa.func.coalesce(sa.func.sum(g.hit), 0), sa.func.max(g.sample)
            ).select_from(grouped)
            cases, total, top = conn.execute(n).one()
            cases, total = int(cases), int(total)
        rows = [r for r in rows if r.hit == 1]
        groups = [Group(r.case_index, r.sample, r.lo, r.hi, r.n) for r in rows]
        return groups, total, cases, (top or 0) > 0

    def _cells(
        self, conn: sa.Connection, run_id: str, query: MatrixQuery, groups: Sequence[Group]
    ) -> list[Any]:
        """The trials of the page's rows. In the plan's order a row's trials lie between its
        lowest and highest index, so they are read by primary-key ranges; a run stored in
        another order (ranges far wider than the rows) has its cases looked up by number
        instead (a scan of the run)."""
        match = _predicate(run_id, query, correlated=True)
        cols = [
            t.c.idx, t.c.case_index, t.c.sample, t.c.prompt_id, t.c.prompt_label,
            t.c.provider_id, t.c.provider_label, t.c.success, t.c.score, t.c.cost,
            t.c.latency_ms, t.c.total_tokens, t.c.cached,
            _head(t.c.description, text=True).label("description"),
            _head(t.c.vars).label("vars"),
            _head(t.c.output).label("output"),
            _head(t.c.error, text=True).label("error"),
            (sa.true() if match is None else sa.case((match, True), else_=False)).label("match"),
        ]  # fmt: skip
        keys = {(g.case_index, g.sample) for g in groups}
        spans = _merge((g.lo, g.hi) for g in groups)
        found: list[Any] = []
        if sum(hi - lo + 1 for lo, hi in spans) <= 4 * sum(g.n for g in groups) + 256:
            for i in range(0, len(spans), _SPANS):
                near = [t.c.idx.between(lo, hi) for lo, hi in spans[i : i + _SPANS]]
                found += conn.execute(sa.select(*cols).where(t.c.run_id == run_id,
                                                             sa.or_(*near))).all()  # fmt: skip
        else:
            numbers = sorted({g.case_index for g in groups})
            for i in range(0, len(numbers), _CHUNK):
                chunk = t.c.case_index.in_(numbers[i : i + _CHUNK])
                found += conn.execute(sa.select(*cols).where(t.c.run_id == run_id, chunk)).all()
        return [r for r in found if (r.case_index, r.sample) in keys]


# -- SQL pieces -----------------------------------------------------------------------------


def _predicate(
    run_id: str, query: MatrixQuery, *, correlated: bool = False
) -> sa.ColumnElement[bool] | None:
    """Whether a trial matches every filter of `query`; None when there is none.

    Conditions on the trial's verdicts are `idx IN (the run's matching scores)` for a scan of
    the whole run (one pass over its scores), or `correlated` EXISTS lookups by primary key
    for a few trials."""
    parts: list[sa.ColumnElement[bool]] = []
    if query.status == "error":
        parts.append(t.c.error.is_not(None))
    elif query.status == "pass":
        parts.append(sa.and_(t.c.error.is_(None), t.c.success))
    elif query.status == "fail":
        parts.append(sa.and_(t.c.error.is_(None), sa.not_(t.c.success)))
    s = scores

    def verdict(*where: sa.ColumnElement[bool]) -> sa.ColumnElement[bool]:
        if correlated:
            return sa.exists().where(s.c.run_id == t.c.run_id, s.c.trial_index == t.c.idx, *where)
        return t.c.idx.in_(sa.select(s.c.trial_index).where(s.c.run_id == run_id, *where))

    if query.assertion:
        parts.append(verdict(s.c.assertion_type == query.assertion, sa.not_(s.c.passed)))
    if query.text:
        needle = query.text
        # JSON columns hold JSON text (non-ASCII and quotes escaped): look for the escaped form.
        escaped = codec.json_dumps(needle)[1:-1]
        parts.append(
            sa.or_(
                sa.cast(t.c.output, sa.Text).icontains(escaped, autoescape=True),
                sa.cast(t.c.vars, sa.Text).icontains(escaped, autoescape=True),
                t.c.description.icontains(needle, autoescape=True),
                t.c.error.icontains(needle, autoescape=True),
                verdict(s.c.reason.icontains(needle, autoescape=True)),
            )
        )
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else sa.and_(*parts)


def _sort_value(
    query: MatrixQuery, columns: list[MatrixColumn]
) -> tuple[sa.ColumnElement[Any], Any]:
    """A trial's sort value and how a row aggregates its trials' values: the mean (the sum for
    cost), or, sorting by one column, that column's trial's value alone."""
    if query.sort == "case":  # the order is the row's own key
        return sa.literal_column("0"), sa.func.max
    value = {"score": t.c.score, "cost": t.c.cost, "latency": t.c.latency_ms}[query.sort]
    if query.column is not None:
        col = columns[query.column]
        same = sa.and_(t.c.prompt_id == col.prompt_id, t.c.provider_id == col.provider_id,
                       t.c.provider_label == col.provider_label)  # fmt: skip
        return sa.case((same, value), else_=None), sa.func.max
    return value, sa.func.sum if query.sort == "cost" else sa.func.avg


def _head(column: sa.Column[Any], *, text: bool = False) -> sa.ColumnElement[Any]:
    """The first characters of a column, as text (JSON columns: their JSON)."""
    source = column if text else sa.cast(column, sa.Text)
    return sa.func.substr(source, 1, _FETCH_CHARS)


# -- shaping ---------------------------------------------------------------------------------


def _record_columns(run: RunRecord) -> list[MatrixColumn]:
    """prompts x providers of the run record, in the plan's order, without repeats."""
    seen: dict[tuple[str, str, str], MatrixColumn] = {}
    for p in run.prompts or []:
        for v in run.providers or []:
            if not (isinstance(p, dict) and isinstance(v, dict)) or "id" not in p:
                continue
            pid, vid = str(p["id"]), str(v.get("id", ""))
            vlabel = str(v.get("label") or vid)
            key = (pid, vid, vlabel)
            if key not in seen:
                seen[key] = MatrixColumn(len(seen), pid, str(p.get("label") or pid), vid, vlabel)
    return list(seen.values())


def _with_ci(pair: dict[str, Any]) -> dict[str, Any]:
    stats = dict(pair)
    if not stats.get("pass_rate_ci"):
        total, passed = int(stats.get("total") or 0), int(stats.get("passed") or 0)
        if 0 <= passed <= total:
            stats["pass_rate_ci"] = list(wilson_interval(passed, total))
    return stats


def _live(r: Any) -> dict[str, Any]:
    total, passed = int(r.total), int(r.passed or 0)
    return {
        "total": total,
        "passed": passed,
        "failed": int(r.failed or 0),
        "errors": int(r.errors or 0),
        "pass_rate": passed / total if total else 0.0,
        "pass_rate_ci": list(wilson_interval(passed, total)),
        "mean_score": float(r.mean_score or 0.0),
        "cost": float(r.cost or 0.0),
        "tokens": {
            "prompt": int(r.prompt_tokens or 0),
            "completion": int(r.completion_tokens or 0),
            "total": int(r.total_tokens or 0),
        },
        "latency_ms": {"p50": None, "p95": None},
    }


def _rows(
    groups: list[Group], cells: Iterable[Any], columns: list[MatrixColumn]
) -> list[dict[str, Any]]:
    by_row: dict[tuple[int, int], list[Any]] = {}
    for c in cells:
        by_row.setdefault((c.case_index, c.sample), []).append(c)
    where = {c.key: c.index for c in columns}
    rows: list[dict[str, Any]] = []
    for g in groups:
        found = sorted(by_row.get((g.case_index, g.sample), []), key=lambda c: int(c.idx))
        first = found[0] if found else None
        row: dict[str, Any] = {
            "case_index": g.case_index,
            "sample": g.sample,
            "description": None if first is None else first.description,
            "vars": "" if first is None else preview(first.vars),
            "cells": [None] * len(columns),
        }
        for c in found:
            key = (c.prompt_id, c.provider_id, c.provider_label)
            pos = where.get(key)
            if pos is None:  # a trial outside the record's prompts x providers: show it anyway
                pos = where[key] = len(columns)
                columns.append(MatrixColumn(pos, c.prompt_id, c.prompt_label, *key[1:]))
                for r in rows:
                    r["cells"].append(None)
                row["cells"].append(None)
            if row["cells"][pos] is None:
                row["cells"][pos] = _cell(c)
        rows.append(row)
    return rows


def _merge(spans: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """Index ranges, sorted, with overlapping and touching ones joined."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(spans):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _cell(c: Any) -> dict[str, Any]:
    error = c.error
    status = "error" if error is not None else "pass" if c.success else "fail"
    return {
        "index": c.idx,
        "status": status,
        "score": c.score,
        "cost": c.cost,
        "latency_ms": round(c.latency_ms, 1),
        "tokens": c.total_tokens,
        "cached": bool(c.cached),
        "output": "" if c.output is None else preview(c.output),
        "error": None if error is None else _cut(error, len(error) >= _FETCH_CHARS),
        "match": bool(c.match),
    }


def _echo(query: MatrixQuery) -> dict[str, Any]:
    return {"status": query.status, "assertion": query.assertion, "q": query.text,
            "sort": query.sort, "desc": query.descending, "column": query.column}  # fmt: skip


_UNICODE = re.compile(r"(\\u[0-9a-fA-F]{4})+")


def preview(json_head: str) -> str:
    """The start of a JSON value, from the start of its JSON text, as a person reads it: a
    string as its text, anything else as its JSON (non-ASCII shown, not escaped), cut to
    PREVIEW_CHARS with an ellipsis. The JSON text may itself be cut (see _head)."""
    cut = len(json_head) >= _FETCH_CHARS
    try:
        value = json.loads(json_head)
    except ValueError:
        value = _partial(json_head)
    else:
        cut = False
    if isinstance(value, str):
        return _cut(value, cut)
    text = json.dumps(value, ensure_ascii=False) if value is not None else json_head
    return _cut(text, cut)


def _partial(head: str) -> Any:
    """A JSON text cut short: a string's readable start, else the text with its \\u escapes
    decoded (good enough for a preview; the trial itself is exact)."""
    if head.startswith('"'):
        body = head[1:]
        for drop in range(12):  # an escape cut in half: drop it
            try:
                return json.loads('"' + body[: len(body) - drop] + '"')
            except ValueError:
                continue
    return _UNICODE.sub(_decode_escapes, head) + "…"


def _decode_escapes(m: re.Match[str]) -> str:
    raw = m.group(0)
    units = bytes.fromhex("".join(raw[i + 2 : i + 6] for i in range(0, len(raw), 6)))
    return units.decode("utf-16-be", errors="replace")


def _cut(text: str, more: bool) -> str:
    if len(text) > PREVIEW_CHARS:
        return text[: PREVIEW_CHARS - 1] + "…"
    return text + "…" if more and not text.endswith("…") else text
