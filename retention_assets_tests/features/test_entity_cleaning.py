"""Cleaning repairs are applied, counted and reported; duplicate keys follow the stated policy.

The SQL cleaning runs on a DuckDB engine and must equal the pandas cleaning it replaced, kept below
as `reference_clean_entity` (the oracle of the property test).
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retention_assets.core.columns import SOURCE_ROW
from retention_assets.core.errors import DataValidationError
from retention_assets.engine.dialect import SPARK
from retention_assets.engine.duckdb_engine import DuckDBEngine
from retention_assets.exploration.recommendations import Recommendation
from retention_assets.features.entity import (
    CleaningPlan,
    CleaningStatistics,
    ColumnStatistics,
    EntityCleaningReport,
    binary_target_sql,
    check_binary_target,
    clean_entity_table,
    cleaned_sql,
    column_cleanings,
    deduplicated_sql,
    statistics_sql,
)

RAW, BRONZE = "raw_customers", "bronze_entity"


# --------------------------------------------------------------------------------------------------
# helpers


def iqr_fences(values: pd.Series, multiplier: float) -> tuple[float, float] | None:
    """Tukey's fences with numpy's percentiles: the reference the SQL must reproduce."""
    present = values.dropna()
    if present.empty:
        return None
    q1, q3 = np.percentile(present.to_numpy(dtype=float), [25, 75])
    return float(q1 - multiplier * (q3 - q1)), float(q3 + multiplier * (q3 - q1))


@pytest.fixture
def engine(tmp_path):
    with DuckDBEngine(tmp_path / "tables", temp_dir=tmp_path / "spill") as eng:
        yield eng


def write_raw(engine: DuckDBEngine, table: pa.Table | pd.DataFrame, name: str = RAW) -> str:
    """A raw entity table as the raw layer writes it: the columns plus the 1-based file row."""
    if isinstance(table, pd.DataFrame):
        table = pa.Table.from_pandas(table, preserve_index=False).replace_schema_metadata(None)
    table = table.add_column(0, SOURCE_ROW, pa.array(range(1, table.num_rows + 1), pa.int64()))
    engine.write_frame(name, table)
    return engine.relation(name)


def read(engine: DuckDBEngine, table: str = BRONZE) -> pd.DataFrame:
    """A written table as pandas reads it (the shape the old pandas cleaning returned)."""
    return pd.read_parquet(engine.location(table))


def clean(engine: DuckDBEngine, frame: pd.DataFrame | pa.Table, plan: CleaningPlan, **kwargs):
    report = clean_entity_table(engine, relation=write_raw(engine, frame), key="cid", plan=plan, target=BRONZE,
                                **kwargs)
    return read(engine), report


def entity() -> pd.DataFrame:
    return pd.DataFrame({
        "cid": ["a", "b", "c", "d", "e", "f"],
        "age": [30.0, 31.0, np.nan, 33.0, 32.0, 400.0],
        "plan": [" Basic", "basic", None, "PRO", "pro", "basic"],
    })


def default_plan(engine: DuckDBEngine, frame: pd.DataFrame, multiplier: float = 3.0) -> CleaningPlan:
    return CleaningPlan.default_for(engine.column_kinds(write_raw(engine, frame, "kinds")), "cid", multiplier)


def rec(action: str, column: str, status: str = "accepted", **params) -> Recommendation:
    return Recommendation(id=f"bronze_entity:c.{column}:{action}", layer="bronze_entity", dataset="c",
                          column=column, action=action, params=params, status=status)


# --------------------------------------------------------------------------------------------------
# the behaviours of the pandas cleaning, on the engine


def test_outliers_are_capped_at_the_iqr_fences_and_counted(engine):
    cleaned, report = clean(engine, entity(), default_plan(engine, entity(), 1.5))
    q1, q3 = np.percentile([30.0, 31.0, 33.0, 32.0, 400.0], [25, 75])
    assert cleaned["age"].max() == pytest.approx(q3 + 1.5 * (q3 - q1))
    assert report.caps["age"] == {"lower": q1 - 1.5 * (q3 - q1), "upper": q3 + 1.5 * (q3 - q1), "n_capped": 1}


def test_missing_numbers_get_the_median_after_capping_and_a_flag(engine):
    cleaned, report = clean(engine, entity(), default_plan(engine, entity(), 1.5))
    upper = report.caps["age"]["upper"]
    median = float(np.median([30.0, 31.0, 33.0, 32.0, upper]))
    assert report.imputations["age"] == {"strategy": "median", "value": median, "n_filled": 1}
    assert cleaned.loc[2, "age"] == report.imputations["age"]["value"]
    assert cleaned["age_was_missing"].tolist() == [0, 0, 1, 0, 0, 0]
    assert list(cleaned.columns) == ["cid", "age", "plan", "age_was_missing"]  # flags follow the columns


def test_a_column_with_every_value_missing_is_filled_with_zero(engine):
    frame = pd.DataFrame({"cid": ["a", "b"], "age": pa.array([None, None], pa.float64())})
    cleaned, report = clean(engine, frame, CleaningPlan(cap_iqr={"age": 1.5}, impute_median=["age"]))
    assert cleaned["age"].tolist() == [0.0, 0.0] and cleaned["age_was_missing"].tolist() == [1.0, 1.0]
    assert "age" not in report.caps and report.imputations["age"]["value"] == 0.0


def test_nan_counts_as_missing(engine):
    write_raw(engine, pd.DataFrame({"cid": ["a", "b", "c"], "age": [1.0, 2.0, 3.0]}), "finite")
    nan = "CASE WHEN cid = 'b' THEN CAST('NaN' AS DOUBLE) ELSE age END"
    engine.write_table(RAW, f"SELECT {SOURCE_ROW}, cid, {nan} AS age FROM {engine.relation('finite')}")
    report = clean_entity_table(engine, relation=engine.relation(RAW), key="cid", target=BRONZE,
                                plan=CleaningPlan(impute_median=["age"]))
    assert read(engine)["age"].tolist() == [1.0, 2.0, 3.0]
    assert report.imputations["age"]["n_filled"] == 1


def test_numbers_without_a_plan_stay_missing_and_are_doubles(engine):
    frame = pa.table({"cid": ["a", "b", "c"], "visits": pa.array([1, None, 500], pa.int64())})
    cleaned, report = clean(engine, frame, CleaningPlan())
    assert report.table.columns["visits"] == "DOUBLE"
    assert cleaned["visits"].tolist()[::2] == [1.0, 500.0] and pd.isna(cleaned.loc[1, "visits"])
    assert not report.caps and not report.imputations


def test_text_is_trimmed_lowercased_and_missing_becomes_a_category(engine):
    cleaned, report = clean(engine, entity(), default_plan(engine, entity()))
    assert cleaned["plan"].tolist() == ["basic", "basic", "missing", "pro", "pro", "basic"]
    assert report.imputations["plan"]["n_filled"] == 1
    assert report.type_fixes == {"plan: trimmed/lower-cased": 2}


@pytest.mark.parametrize("space", ["\t", "\n", "\xa0", "\u3000", "\u2028"])
def test_text_loses_the_whitespace_python_strips(engine, space):
    frame = pd.DataFrame({"cid": ["a", "b"], "plan": [f"{space}Pro{space}", space]})
    cleaned, report = clean(engine, frame, CleaningPlan(impute_constant={"plan": "unknown"}))
    assert cleaned["plan"].tolist() == ["pro", "unknown"]
    assert report.type_fixes["plan: trimmed/lower-cased"] == 2


def test_booleans_are_text_not_numbers(engine):
    frame = pa.table({"cid": ["a", "b", "c"], "vip": pa.array([True, None, False])})
    cleaned, report = clean(engine, frame, CleaningPlan(cap_iqr={"vip": 1.5}, impute_constant={"vip": "missing"}))
    assert cleaned["vip"].tolist() == ["true", "missing", "false"]
    assert "vip" not in report.caps and "vip_was_missing" not in cleaned


def test_timestamps_key_and_passthrough_columns_are_untouched(engine):
    signup = [datetime(2024, 1, d, tzinfo=timezone.utc) for d in (1, 2)] + [None]
    frame = pa.table({"cid": [" A", "b", "c"], "signup": pa.array(signup, pa.timestamp("us", tz="UTC")),
                      "tenure": pa.array([1, None, 900], pa.int64()), "code": [" X", None, "y"]})
    plan = CleaningPlan(cap_iqr={"tenure": 0.0}, impute_median=["tenure"], impute_constant={"code": "m", "signup": "m"})
    cleaned, report = clean(engine, frame, plan, passthrough=("tenure", "code"))
    assert report.table.columns["tenure"] == "BIGINT"
    assert read(engine).equals(frame.to_pandas())
    assert not report.caps and not report.imputations and not report.type_fixes


@pytest.mark.parametrize("policy, kept_plan", [("keep_first", "basic"), ("keep_last", "pro")])
def test_duplicate_keys_follow_the_policy(engine, policy, kept_plan):
    frame = pd.DataFrame({"cid": ["a", "b", "a"], "plan": ["basic", "x", "pro"]})
    cleaned, report = clean(engine, frame, CleaningPlan(), duplicate_policy=policy)
    assert report.duplicates_dropped == 1
    assert cleaned.loc[cleaned["cid"] == "a", "plan"].item() == kept_plan


def test_kept_rows_stay_in_file_order_without_the_row_number(engine):
    frame = pd.DataFrame({"cid": ["a", "b", "a", "c"], "plan": ["1", "2", "3", "4"]})
    cleaned, _ = clean(engine, frame, CleaningPlan(), duplicate_policy="keep_last")
    assert cleaned["plan"].tolist() == ["2", "3", "4"] and SOURCE_ROW not in cleaned


def test_keep_last_orders_by_the_given_column(engine):
    frame = pd.DataFrame({"cid": ["a", "a"], "updated": [2, 1], "plan": ["new", "old"]})
    cleaned, _ = clean(engine, frame, CleaningPlan(), duplicate_policy="keep_last", order_by="updated")
    assert cleaned["plan"].tolist() == ["new"]


@pytest.mark.parametrize("policy, kept", [("keep_first", ["null", "tie 1"]), ("keep_last", ["top 2", "tie 3"])])
def test_ties_in_the_order_keep_file_order_and_missing_orders_come_first(engine, policy, kept):
    frame = pa.table({"cid": ["a", "a", "a", "a", "b", "b", "b"],
                      "updated": pa.array([5, None, 5, 1, 2, 2, 2], pa.int64()),
                      "plan": ["top 1", "null", "top 2", "low", "tie 1", "tie 2", "tie 3"]})
    cleaned, _ = clean(engine, frame, CleaningPlan(), duplicate_policy=policy, order_by="updated")
    assert sorted(cleaned["plan"]) == sorted(kept)


def test_only_the_planned_repairs_happen_and_are_reported(engine):
    plan = CleaningPlan.from_recommendations([rec("cap_iqr", "age", multiplier=1.5), rec("drop_column", "plan")])
    cleaned, report = clean(engine, entity(), plan)
    assert "plan" not in cleaned and report.dropped == ["plan"]
    assert pd.isna(cleaned.loc[2, "age"]) and "age_was_missing" not in cleaned  # imputation was not planned
    assert report.caps["age"]["n_capped"] == 1
    assert report.applied == ["bronze_entity:c.age:cap_iqr", "bronze_entity:c.plan:drop_column"]


def test_extra_drops_remove_columns_and_their_recommendations_are_not_applied(engine):
    plan = CleaningPlan.from_recommendations([rec("cap_iqr", "age", multiplier=1.5), rec("impute_constant", "plan")])
    cleaned, report = clean(engine, entity(), plan, drop=("age", "cid"))
    assert list(cleaned.columns) == ["cid", "plan"]  # the key is never dropped
    assert report.applied == ["bronze_entity:c.plan:impute_constant"] and report.dropped == []


def test_without_a_constant_imputation_missing_text_stays_missing(engine):
    cleaned, report = clean(engine, entity(), CleaningPlan())
    assert cleaned.loc[2, "plan"] is None and "plan" not in report.imputations


def test_the_relation_must_carry_the_key_and_the_file_row(engine):
    engine.write_frame("no_row", pd.DataFrame({"cid": ["a"]}))
    with pytest.raises(ValueError, match=SOURCE_ROW):
        clean_entity_table(engine, relation=engine.relation("no_row"), key="cid", plan=CleaningPlan(), target=BRONZE)
    with pytest.raises(ValueError, match="'id'"):
        clean_entity_table(engine, relation=write_raw(engine, entity()), key="id", plan=CleaningPlan(), target=BRONZE)
    assert not engine.exists(BRONZE)


def test_an_unknown_duplicate_policy_is_refused(engine):
    with pytest.raises(ValueError, match="keep_newest"):
        clean(engine, entity(), CleaningPlan(), duplicate_policy="keep_newest")


def test_default_plan_follows_column_kinds(engine):
    frame = pa.table({"cid": ["a"], "n": pa.array([1], pa.int64()), "x": [1.5], "t": ["u"], "b": [True],
                      "ts": pa.array([datetime(2024, 1, 1, tzinfo=timezone.utc)], pa.timestamp("us", tz="UTC"))})
    plan = CleaningPlan.default_for(engine.column_kinds(write_raw(engine, frame)), "cid", 1.5)
    assert plan.cap_iqr == {"n": 1.5, "x": 1.5} and plan.impute_median == ["n", "x"]
    assert plan.impute_constant == {"t": "missing", "b": "missing"}


# --------------------------------------------------------------------------------------------------
# the target column


def target_values(engine: DuckDBEngine, values: list, arrow_type: pa.DataType = pa.string()) -> list:
    relation = write_raw(engine, pa.table({"cid": [str(i) for i in range(len(values))],
                                           "t": pa.array(values, arrow_type)}))
    return [r[0] for r in engine.rows(f"SELECT {binary_target_sql(engine.dialect, 't')} FROM {relation} "
                                      f"ORDER BY {SOURCE_ROW}")]


def test_binary_target_accepts_words_numbers_and_booleans(engine):
    assert target_values(engine, ["yes", " No ", "1", None, "TRUE", "churned\t", "Active"]) == [1, 0, 1, None, 1, 1, 0]
    assert target_values(engine, [1.0, 0.0, None], pa.float64()) == [1, 0, None]
    assert target_values(engine, [1, 0], pa.int64()) == [1, 0]
    assert target_values(engine, [True, False], pa.bool_()) == [1, 0]


def test_bad_target_values_are_named_with_their_file_rows(engine):
    relation = write_raw(engine, pd.DataFrame({"cid": ["a", "b", "c", "d"], "t": ["yes", "maybe", None, " 2 "]}))
    check_binary_target(engine, f"(SELECT * FROM {relation} WHERE t IS NULL OR t = 'yes')", "t", "f.csv")
    with pytest.raises(DataValidationError, match=r"f.csv, column 't'.*2 row\(s\).*rows 2, 4; values 'maybe', ' 2 '"):
        check_binary_target(engine, relation, "t", "f.csv")


def test_bad_target_rows_are_file_rows_after_de_duplication(engine):
    relation = write_raw(engine, pd.DataFrame({"cid": ["a", "a", "b"], "t": ["no", "yes", "perhaps"]}))
    with pytest.raises(DataValidationError) as caught:
        check_binary_target(engine, deduplicated_sql(engine.dialect, relation, "cid", "keep_last", None), "t", "f.csv")
    assert caught.value.rows == [3] and caught.value.examples == ["perhaps"]


def test_only_five_bad_targets_are_shown_but_all_are_counted(engine):
    relation = write_raw(engine, pd.DataFrame({"cid": [str(i) for i in range(8)], "t": ["x"] * 8}))
    with pytest.raises(DataValidationError, match=r"8 row\(s\)") as caught:
        check_binary_target(engine, relation, "t", "f.csv")
    assert caught.value.rows == [1, 2, 3, 4, 5]


# --------------------------------------------------------------------------------------------------
# Spark: the same SQL through the other dialect


def test_the_generated_sql_names_no_duckdb_function_under_spark():
    kinds = {SOURCE_ROW: "integer", "cid": "string", "age": "float", "plan": "string", "vip": "boolean"}
    plan = CleaningPlan(cap_iqr={"age": 1.5}, impute_median=["age"], impute_constant={"plan": "m"})
    columns = column_cleanings(kinds, "cid", plan, (), ())
    deduped = deduplicated_sql(SPARK, "cat.db.raw", "cid", "keep_last", "age")
    stats = CleaningStatistics(3, 2, {"age": ColumnStatistics(1, (0.0, 9.0), 1, 2.0), "plan": ColumnStatistics(1),
                                      "vip": ColumnStatistics()})
    sql = " ".join([statistics_sql(SPARK, "cat.db.raw", deduped, columns),
                    cleaned_sql(SPARK, deduped, columns, stats), binary_target_sql(SPARK, "`t`")])
    assert "percentile(" in sql and "`__source_row`" in sql
    for duckdb_only in ("quantile_cont", '"', "VARCHAR", "::", "read_parquet"):
        assert duckdb_only not in sql


# --------------------------------------------------------------------------------------------------
# property: the SQL cleaning equals the pandas cleaning it replaced


def reference_deduplicate(df: pd.DataFrame, key: str, policy: str, order_by: str | None) -> tuple[pd.DataFrame, int]:
    """The pandas de-duplication the SQL replaced: a stable sort by `order_by`, then first or last."""
    if policy == "error":
        return df, 0
    ordered = df.sort_values(order_by, kind="mergesort", na_position="first") if order_by else df
    kept = ordered.drop_duplicates(subset=[key], keep="first" if policy == "keep_first" else "last")
    kept = kept.sort_index()
    return kept.reset_index(drop=True), len(df) - len(kept)


def reference_clean_entity(df: pd.DataFrame, key: str, plan: CleaningPlan, *, duplicate_policy: str = "error",
                           order_by: str | None = None,
                           passthrough: tuple[str, ...] = ()) -> tuple[pd.DataFrame, EntityCleaningReport]:
    """The pandas cleaning the SQL replaced, verbatim."""
    report = EntityCleaningReport()
    out, report.duplicates_dropped = reference_deduplicate(df, key, duplicate_policy, order_by)
    dropped = [c for c in plan.drop if c in out.columns and c != key]
    out = out.drop(columns=dropped).copy()
    report.dropped = dropped
    for column in out.columns:
        if column == key or column in passthrough:
            continue
        series = out[column]
        if pd.api.types.is_datetime64_any_dtype(series):
            continue
        if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
            series = series.astype(float)
            fences = iqr_fences(series, plan.cap_iqr[column]) if column in plan.cap_iqr else None
            if fences is not None:
                lower, upper = fences
                outside = (series < lower) | (series > upper)
                report.caps[column] = {"lower": lower, "upper": upper, "n_capped": int(outside.sum())}
                series = series.clip(lower, upper)
            missing = series.isna()
            if column in plan.impute_median and missing.any():
                median = float(series.median()) if missing.sum() < len(series) else 0.0
                report.imputations[column] = {"strategy": "median", "value": median, "n_filled": int(missing.sum())}
                out[f"{column}_was_missing"] = missing.astype(float)
                series = series.fillna(median)
            out[column] = series
        else:
            text = series.astype("string")
            cleaned = text.str.strip().str.lower()
            changed = int((cleaned != text).fillna(False).sum())
            if changed:
                report.type_fixes[f"{column}: trimmed/lower-cased"] = changed
            missing = cleaned.isna() | (cleaned == "")
            if column in plan.impute_constant and missing.any():
                fill = plan.impute_constant[column]
                report.imputations[column] = {"strategy": "constant", "value": fill, "n_filled": int(missing.sum())}
                cleaned = cleaned.mask(missing, fill)
            else:
                cleaned = cleaned.mask(missing, pd.NA)
            out[column] = cleaned.astype(object).where(cleaned.notna(), None)
    present = set(df.columns)
    report.applied = sorted(rec_id for k, rec_id in plan.sources.items() if k.split(":", 1)[1] in present)
    return out, report


# Dyadic values and multipliers keep every quartile, fence and median exact in binary, so both sides
# must agree to the last bit (engines interpolate with differently ordered but exact arithmetic here).
NUMBER = st.one_of(st.none(), st.integers(-4, 4).map(float), st.sampled_from([0.5, 2.25, 1000.0, -1000.0]))
COUNT = st.one_of(st.none(), st.integers(0, 3), st.just(10_000))
ORDER = st.one_of(st.none(), st.integers(0, 2))  # few values: ties are common
TEXT = st.one_of(st.none(), st.sampled_from([" Basic", "basic", "PRO", "pro\t", "  ", "\xa0", "Élan", "x  Y", "B "]))
FLAG = st.one_of(st.none(), st.booleans())
STAMP = st.one_of(st.none(), st.integers(1, 28).map(lambda d: datetime(2024, 2, d, tzinfo=timezone.utc)))
NUMERIC, TEXTUAL = ("age", "spend", "visits", "updated"), ("plan", "region", "vip")
COLUMNS = ("cid", *NUMERIC, *TEXTUAL, "signup")


@st.composite
def raw_tables(draw) -> tuple[pa.Table, str]:
    n = draw(st.integers(1, 12))
    policy = draw(st.sampled_from(["error", "keep_first", "keep_last"]))
    keys = ([f"k{i}" for i in range(n)] if policy == "error"
            else draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=n, max_size=n)))

    def column(values: st.SearchStrategy, arrow_type: pa.DataType) -> pa.Array:
        return pa.array(draw(st.lists(values, min_size=n, max_size=n)), arrow_type)

    table = pa.table({
        "cid": keys, "age": column(NUMBER, pa.float64()), "spend": column(NUMBER, pa.float64()),
        "visits": column(COUNT, pa.int64()), "updated": column(ORDER, pa.int64()),
        "plan": column(TEXT, pa.string()), "region": column(TEXT, pa.string()),
        "vip": column(FLAG, pa.bool_()), "signup": column(STAMP, pa.timestamp("us", tz="UTC")),
    })
    return table, policy


@st.composite
def cleaning_requests(draw) -> dict:
    recs = []
    for column in draw(st.lists(st.sampled_from([*NUMERIC, "plan"]), unique=True)):
        recs.append(rec("cap_iqr", column, multiplier=draw(st.sampled_from([0.0, 0.5, 1.5, 3.0]))))
    recs += [rec("impute_median", c) for c in draw(st.lists(st.sampled_from([*NUMERIC, "vip"]), unique=True))]
    recs += [rec("impute_constant", c, value=draw(st.sampled_from(["missing", "Unknown "])))
             for c in draw(st.lists(st.sampled_from([*TEXTUAL, "age"]), unique=True))]
    drops = draw(st.lists(st.sampled_from([*COLUMNS, "absent"]), unique=True, max_size=2))
    recs += [rec("drop_column", c) for c in drops]
    order_by = draw(st.sampled_from([None, "updated", "signup", "plan"]))
    others = [c for c in COLUMNS if c not in ("cid", order_by)]
    return {
        "plan": CleaningPlan.from_recommendations(recs),
        "order_by": order_by,
        "passthrough": tuple(draw(st.lists(st.sampled_from(others), unique=True, max_size=2))),
        "drop": tuple(draw(st.lists(st.sampled_from(others), unique=True, max_size=2))),
    }


@pytest.fixture(scope="module")
def shared_engine(tmp_path_factory):
    directory = tmp_path_factory.mktemp("property")
    with DuckDBEngine(directory / "tables", temp_dir=directory / "spill") as eng:
        yield eng


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw_tables(), cleaning_requests())
def test_sql_cleaning_equals_the_pandas_cleaning(shared_engine, raw, request):
    table, policy = raw
    relation = write_raw(shared_engine, table)
    report = clean_entity_table(shared_engine, relation=relation, key="cid", plan=request["plan"], target=BRONZE,
                                duplicate_policy=policy, order_by=request["order_by"],
                                passthrough=request["passthrough"], drop=request["drop"])
    # The old asset read the raw Parquet with pandas and dropped the extra columns before cleaning.
    as_read = pd.read_parquet(shared_engine.location(RAW)).drop(columns=[SOURCE_ROW, *request["drop"]])
    expected, expected_report = reference_clean_entity(
        as_read, "cid", request["plan"], duplicate_policy=policy, order_by=request["order_by"],
        passthrough=request["passthrough"])
    pd.testing.assert_frame_equal(read(shared_engine), expected, check_dtype=False)
    assert report.to_dict() == expected_report.to_dict()


@pytest.mark.parametrize("values, problem", [
    ([None, " ", None], "every value of the target is empty (3 rows)"),
    (["yes", "1", None], "the target holds a single class (2 churned, 0 retained, 1 empty)"),
    (["yes", "no", "no", "no"],
     "the target has too few rows of one class (1 churned, 3 retained, 0 empty; at least 2 of each"),
])
def test_a_target_that_cannot_train_a_model_is_named_with_its_class_counts(engine, values, problem):
    from retention_assets.features.entity import check_target_classes

    relation = write_raw(engine, pd.DataFrame({"cid": [str(i) for i in range(len(values))], "t": values}))
    with pytest.raises(DataValidationError) as caught:
        check_target_classes(engine, relation, "t", "f.csv", min_class_rows=2)
    assert str(caught.value).startswith(f"f.csv, column 't': {problem}")


def test_a_usable_target_returns_its_class_counts(engine):
    from retention_assets.features.entity import check_target_classes

    relation = write_raw(engine, pd.DataFrame({"cid": list("abcde"), "t": ["yes", "no", "no", "no", None]}))
    assert check_target_classes(engine, relation, "t", "f.csv", min_class_rows=1) == \
        {"churned": 1, "retained": 3, "empty": 1}
