package regent.lib.sql_test

import data.regent.lib.sql

test_classes if {
	sql.class("select * from orders where id = 1") == "read"
	sql.class("  WITH x AS (SELECT 1) SELECT * FROM x") == "read"
	sql.class("update orders set state = 'x' where id = 1") == "dml"
	sql.class("INSERT INTO t VALUES (1)") == "dml"
	sql.class("drop table orders") == "ddl"
	sql.class("WITH gone AS (DELETE FROM t RETURNING *) SELECT * FROM gone") == "dml"
	sql.class("SELECT 1; DROP TABLE t") == "ddl"
	sql.class("(SELECT 1)") == "unknown"
}

test_column_names_are_not_keywords if {
	sql.class("SELECT created_at, last_update, deleted FROM t") == "read"
}

test_comments_and_multiple_statements if {
	sql.has_comment("SELECT 1 -- hi")
	sql.has_comment("SELECT /* x */ 1")
	not sql.has_comment("SELECT 1")
	sql.multiple_statements("SELECT 1; SELECT 2")
	not sql.multiple_statements("SELECT 1;")
	not sql.multiple_statements("SELECT 1 ; ")
}

test_unbounded_writes if {
	sql.unbounded_write("DELETE FROM orders")
	sql.unbounded_write("update t set a = 1")
	not sql.unbounded_write("DELETE FROM orders WHERE id = 7")
	not sql.unbounded_write("SELECT * FROM t")
}
