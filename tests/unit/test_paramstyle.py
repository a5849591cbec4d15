"""jobu.db.paramstyle: handlers' :name parameters rewritten for psycopg and PyMySQL."""

from __future__ import annotations

import pytest

from jobu.db.paramstyle import to_pyformat


def pg(sql: str) -> str:
    return to_pyformat(sql, "postgres")[0]


def my(sql: str) -> str:
    return to_pyformat(sql, "mysql")[0]


def test_names_become_pyformat_and_are_reported():
    sql, names = to_pyformat("SELECT * FROM t WHERE a = :a AND b IN (:b_1, :b_1)", "postgres")
    assert sql == "SELECT * FROM t WHERE a = %(a)s AND b IN (%(b_1)s, %(b_1)s)"
    assert names == {"a", "b_1"}


def test_postgres_casts_stay_casts_and_a_parameter_may_be_cast():
    assert pg("SELECT x::int, :id::bigint, CAST(:v AS text)") == \
        "SELECT x::int, %(id)s::bigint, CAST(%(v)s AS text)"


def test_percent_signs_are_doubled_everywhere_since_the_driver_formats_the_whole_text():
    assert pg("SELECT 10 % 3, 'a%' LIKE :p") == "SELECT 10 %% 3, 'a%%' LIKE %(p)s"
    assert my("SELECT '%d', \"%s\", `c%`") == "SELECT '%%d', \"%%s\", `c%%`"


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT ':x', 'it''s :y'", "SELECT ':x', 'it''s :y'"),
    ('SELECT "col:x" FROM t', 'SELECT "col:x" FROM t'),
    ("SELECT 1 -- :x\n, :y", "SELECT 1 -- :x\n, %(y)s"),
    ("SELECT /* :x\n :z */ :y", "SELECT /* :x\n :z */ %(y)s"),
    ("SELECT $$ :x $$, $fn$ ':' :y $fn$, :z", "SELECT $$ :x $$, $fn$ ':' :y $fn$, %(z)s"),
    # A backslash ends nothing in a standard string, but escapes in an E'' string.
    ("SELECT 'C:\\', :a", "SELECT 'C:\\', %(a)s"),
    ("SELECT E'\\' :x', :a", "SELECT E'\\' :x', %(a)s"),
    ("SELECT arr[1:n], arr[:lo]", "SELECT arr[1:n], arr[%(lo)s]"),
])
def test_postgres_literals_comments_and_slices_are_left_alone(sql, expected):
    assert pg(sql) == expected


@pytest.mark.parametrize(("sql", "expected"), [
    ("SELECT 'a\\' :x', :y", "SELECT 'a\\' :x', %(y)s"),
    ('SELECT "a\\" :x", :y', 'SELECT "a\\" :x", %(y)s'),
    ("SELECT `odd:name` FROM t", "SELECT `odd:name` FROM t"),
    ("SELECT 1 # :x\n, :y", "SELECT 1 # :x\n, %(y)s"),
    ("SELECT 5--3, :y", "SELECT 5--3, %(y)s"),
    ("SELECT 1 -- :x\n, :y", "SELECT 1 -- :x\n, %(y)s"),
    ("SET @a := :v", "SET @a := %(v)s"),
])
def test_mysql_literals_and_comments_are_left_alone(sql, expected):
    assert my(sql) == expected


def test_a_statement_without_parameters_only_doubles_its_percent_signs():
    assert pg("SELECT 1") == "SELECT 1"
    assert to_pyformat("SELECT '100%'", "mysql") == ("SELECT '100%%'", frozenset())
