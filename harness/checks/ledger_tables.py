"""The ledger's queries: the run's write attempts against the read-back, for every service at
once, down to counts and the few rows the verdict lists (:mod:`harness.checks.ledger`).

Computed once per run (a run with a ledger check per service pays once). A three-hour run at
1 000 requests/s has millions of write attempts and as many read-back rows, so:

* the whole-run passes keep no strings: write keys and resource ids become 64-bit hashes,
  versions integers, and joins run on those (2-3 times faster than on strings in Polars, and a
  fraction of the memory);
* only the rows that are listed (:data:`LIMIT` per service and category) get their strings
  back, from a second, filtered pass over the attempts and the read-back.

Two different keys with the same 64-bit hash would be merged: with 10 million keys the chance
is about 3 in a million.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeAlias

import polars as pl

from harness.checks.windows import Requests, request_table
from harness.readback import ReadBack
from harness.readback.table import readback_table

ReadBackInput: TypeAlias = pl.LazyFrame | pl.DataFrame | Mapping[str, ReadBack]
"""The read-back as a table (:mod:`harness.readback.table`), or by key (tests)."""

LIMIT = 200
"""Rows listed per service and category (the counts are always complete)."""

COUNTS = ("attempted", "acknowledged", "lost", "stale", "duplicated", "unexpected", "indeterminate", "stale_reads")


@dataclass(frozen=True)
class LedgerTables:
    """``counts``: one row per service, a column per name of :data:`COUNTS`. The others list at
    most :data:`LIMIT` rows per service (every one has ``service``): ``lost`` and ``stale`` one
    per acknowledgement, by time (``write_key``, ``resource_id``, ``version`` or
    ``acknowledged_version``/``found_version``, ``message_id``, ``instance_uid``, ``t``,
    ``served_by``, ``datacenter``); ``duplicated``, ``unexpected``, ``indeterminate`` one per
    key, by first attempt (``write_key``, ``first_t``; ``ids`` found as ``Type/id``, and
    ``sources`` or ``errors``); ``stale_reads`` one per read that saw less than an acknowledged
    write."""

    counts: pl.DataFrame
    lost: pl.DataFrame
    stale: pl.DataFrame
    duplicated: pl.DataFrame
    unexpected: pl.DataFrame
    indeterminate: pl.DataFrame
    stale_reads: pl.DataFrame

    def of_service(self, service: str) -> LedgerTables:
        only = pl.col("service") == service
        return LedgerTables(*(frame.filter(only) for frame in (
            self.counts, self.lost, self.stale, self.duplicated, self.unexpected, self.indeterminate,
            self.stale_reads)))

    def count(self, name: str) -> int:
        return int(self.counts.get_column(name).sum())


def version_number(column: str) -> pl.Expr:
    """A version as a number (FHIR's versionId is a string: "10" must sort after "9"); null if
    it is not one, and a comparison with null is never true (such a pair is not judged stale)."""
    return pl.col(column).cast(pl.String).cast(pl.Int64, strict=False)


def _readback_lazy(readback: ReadBackInput) -> pl.LazyFrame:
    if isinstance(readback, pl.LazyFrame):
        return readback
    if isinstance(readback, pl.DataFrame):
        return readback.lazy()
    return readback_table(readback.values()).lazy()


def _hash_or_null(column: pl.Expr) -> pl.Expr:
    return pl.when(column.is_not_null()).then(column.hash())


# Acknowledged: answered with an id -- FHIR's, MSH-10 (HL7), the SOP Instance UID (DICOM), or
# the downtime id of an order the care application queued (created in the EHR later).
_ACK_IDS = ("resource_id", "message_id", "instance_uid", "downtime_id")
ACKNOWLEDGED = pl.col("ok") & pl.any_horizontal(pl.col(c).is_not_null() for c in _ACK_IDS)
"""A write attempt the client was told succeeded (the ledger's "acknowledged")."""


def ledger_tables(requests: Requests, readback: ReadBackInput) -> LedgerTables:
    """The ledger of every write in ``requests`` against ``readback`` (see the class)."""
    table = request_table(requests)
    found_table = _readback_lazy(readback)
    slash = pl.col("resource_id").str.find("/", literal=True)
    # Found resources are named "<the key's type>/<id>": an acknowledged "Observation/o1" under the
    # key "Observation?identifier=..." matches the id "o1" found under that key.
    attempts = (table.filter(pl.col("write_key").is_not_null())
                .select("service", "t", "duration", "version",
                        kh=pl.col("write_key").hash(), is_ack=ACKNOWLEDGED,
                        fhir=pl.col("resource_id").is_not_null(),
                        ih=_hash_or_null(pl.col("resource_id").str.slice(slash + 1)),
                        rh=_hash_or_null(pl.col("resource_id")),
                        same_type=(pl.col("write_key").str.slice(slash, 1) == "?")
                        & (pl.col("write_key").str.slice(0, slash) == pl.col("resource_id").str.slice(0, slash)))
                .collect().lazy())
    found = (found_table.select(kh=pl.col("key").hash(), ih=_hash_or_null(pl.col("id")),
                                has_id=pl.col("id").is_not_null(), failed=pl.col("error").is_not_null(),
                                found_version=pl.col("version").cast(pl.Categorical))
             .collect().lazy())
    per_key = found.group_by("kh").agg(failed=pl.col("failed").any(), copies=pl.col("has_id").sum())
    keys = (attempts.group_by("kh")
            .agg(service=pl.col("service").first(), first_t=pl.col("t").min(), acked=pl.col("is_ack").any())
            .join(per_key, on="kh", how="left")
            .with_columns(read=pl.col("copies").is_not_null() & ~pl.col("failed").fill_null(True))
            .collect().lazy())
    readable = keys.filter("read")
    acks = attempts.filter("is_ack")
    fhir = acks.filter("fhir").join(readable.select("kh"), on="kh", how="semi").with_row_index("ack").collect()
    by_id = found.filter("has_id").select("kh", "ih", "found_version", hit=pl.lit(True))
    matched = fhir.lazy().join(by_id, on=["kh", "ih"], how="left").with_columns(
        present=pl.col("same_type") & pl.col("hit").is_not_null()).collect()
    if matched.height > fhir.height:
        # an id found twice under one key: the last copy read counts, as in the read-back
        matched = matched.unique("ack", keep="last", maintain_order=True)
    del fhir
    by_ack = ("service", "kh", "t")
    lost = pl.concat([
        matched.lazy().filter(~pl.col("present")).select(by_ack),
        # HL7 results, images, queued orders: acknowledged without a resource id, so anything found
    # under the key is it
        acks.filter(~pl.col("fhir")).join(readable.filter(pl.col("copies") == 0).select("kh"), on="kh",
                                          how="semi").select(by_ack)]).sort("t")
    older = version_number("found_version") < version_number("version")
    stale = matched.lazy().filter(pl.col("present") & older).select(
        *by_ack, found_version=pl.col("found_version").cast(pl.String)).sort("t")
    by_key = ("service", "kh", "first_t")
    duplicated = readable.filter(pl.col("copies") > 1).select(by_key).sort("first_t", "kh")
    unexpected = readable.filter((pl.col("copies") > 0) & ~pl.col("acked")).select(by_key).sort("first_t", "kh")
    indeterminate = keys.filter(~pl.col("read")).select(by_key).sort("first_t", "kh")
    stale_reads = _stale_reads(table, acks)
    categories = {"lost": lost, "stale": stale, "duplicated": duplicated, "unexpected": unexpected,
                  "indeterminate": indeterminate, "stale_reads": stale_reads}
    counted = pl.collect_all(
        [keys.group_by("service").agg(attempted=pl.len(), acknowledged=pl.col("acked").sum())]
        + [frame.group_by("service").agg(pl.len().alias(name)) for name, frame in categories.items()]
        + [frame.group_by("service", maintain_order=True).head(LIMIT) for frame in categories.values()])
    counts = counted[0]
    for frame in counted[1:len(categories) + 1]:
        counts = counts.join(frame, on="service", how="left")
    counts = counts.fill_null(0).with_columns(pl.col("service").cast(pl.String))
    listed = dict(zip(categories, counted[len(categories) + 1:], strict=True))
    return _with_strings(table, found_table, counts, listed)


def _with_strings(table: pl.LazyFrame, found_table: pl.LazyFrame, counts: pl.DataFrame,
                  listed: dict[str, pl.DataFrame]) -> LedgerTables:
    """The listed rows with their strings, from one filtered pass over the attempts and one over
    the read-back (only the listed keys)."""
    wanted = pl.concat([listed[name].select("kh") for name in
                        ("lost", "stale", "duplicated", "unexpected", "indeterminate")]).unique()["kh"]
    attempts = (table.filter(pl.col("write_key").is_not_null())
                .filter(pl.col("write_key").hash().is_in(wanted.implode()))
                .select("t", "write_key", "resource_id", "message_id", "instance_uid",
                        *(pl.col(c).cast(pl.String) for c in ("version", "error", "served_by", "datacenter")),
                        kh=pl.col("write_key").hash(), is_ack=ACKNOWLEDGED))
    found = (found_table.filter(pl.col("key").hash().is_in(wanted.implode()) & pl.col("id").is_not_null())
             .select(kh=pl.col("key").hash(), source=pl.col("source").fill_null("None"),
                     name=pl.col("key").str.split_exact("?", 1).struct.field("field_0") + "/" + pl.col("id")))
    attempts_frame, found_frame = pl.collect_all([attempts, found])
    write_keys = attempts_frame.group_by("kh").agg(pl.col("write_key").first())
    acks = attempts_frame.filter("is_ack").unique(["kh", "t"], keep="first")
    names = found_frame.group_by("kh").agg(ids=pl.col("name").unique().sort(), sources=pl.col("source").sort())
    errors = attempts_frame.group_by("kh").agg(errors=pl.col("error").fill_null("None").unique().sort())

    def per_ack(frame: pl.DataFrame) -> pl.DataFrame:
        return frame.join(acks, on=["kh", "t"], how="left").with_columns(pl.col("service").cast(pl.String)) \
            .sort("t").drop("kh", "is_ack", "error")

    def per_key(frame: pl.DataFrame, *extra: pl.DataFrame) -> pl.DataFrame:
        out = frame.join(write_keys, on="kh", how="left")
        for more in extra:
            out = out.join(more, on="kh", how="left")
        return out.with_columns(pl.col("service").cast(pl.String)).sort("first_t", "write_key").drop("kh")

    stale = per_ack(listed["stale"]).rename({"version": "acknowledged_version"})
    return LedgerTables(counts, per_ack(listed["lost"]), stale, per_key(listed["duplicated"], names),
                        per_key(listed["unexpected"], names, errors), per_key(listed["indeterminate"]),
                        listed["stale_reads"].with_columns(pl.col("service").cast(pl.String)))


def _stale_reads(table: pl.LazyFrame, acks: pl.LazyFrame) -> pl.LazyFrame:
    """Reads that saw less than an earlier acknowledged write of the same resource (same
    service): the latest acknowledged write of each resource, joined to the reads of it that
    started after it was acknowledged, kept when the read answered 404 or an older version."""
    latest = (acks.filter("fhir").sort("t").group_by("service", "rh")
              .agg(acknowledged_at=(pl.col("t") + pl.col("duration")).last(),
                   acknowledged_version=pl.col("version").last()))
    reads = (table.filter(pl.col("write_key").is_null() & pl.col("resource_id").is_not_null())
             .select("resource_id", "t", "ok", "status", "service", "version", "served_by",
                     rh=pl.col("resource_id").hash()))
    return (reads.join(latest, on=["service", "rh"]).filter(pl.col("t") >= pl.col("acknowledged_at"))
            .filter((pl.col("status") == 404).fill_null(False)
                    | (pl.col("ok")
                       & (version_number("version") < version_number("acknowledged_version")).fill_null(False)))
            .sort("t")
            .select("service", "resource_id", "t", "acknowledged_at",
                    acknowledged_version=pl.col("acknowledged_version").cast(pl.String),
                    read=pl.when(pl.col("status") == 404).then(pl.lit("not found"))
                    .otherwise(pl.lit("version ") + pl.col("version").cast(pl.String).fill_null("None")),
                    served_by=pl.col("served_by").cast(pl.String)))
