package regent.tools_test.db_query

import data.regent.tools.db_query as tool

q(kind, env, statement) := {
	"agent": {"id": "dev-bot-1"},
	"user": {"id": "u-1"},
	"action": {"kind": kind, "tool": {"name": "db.query", "server": "db-mcp", "args": {"database": "app", "statement": statement}}},
	"context": {"time": "2026-11-24T10:15:00Z", "environment": env},
}

rw := {"databases": ["app"], "allow_writes": true}

codes(s) := {r.code | some r in s}

test_select_is_read_only_with_row_cap if {
	inp := q("tool_call", "prod", "SELECT id, state FROM orders WHERE id = 7")
	count(tool.deny) == 0 with input as inp with data.regent.persona.tool_config.db_query as rw
	codes(tool.grants) == {"read_only_query"} with input as inp with data.regent.persona.tool_config.db_query as rw
	tool.obligations == {{"kind": "limit_results", "max": 100}} with input as inp with data.regent.persona.tool_config.db_query as rw
}

test_writes_never_in_prod if {
	inp := q("state_change", "prod", "DELETE FROM orders WHERE id = 7")
	codes(tool.deny) == {"destructive_sql_in_prod"} with input as inp with data.regent.persona.tool_config.db_query as rw
}

test_unknown_environment_counts_as_prod if {
	inp := json.remove(q("state_change", "x", "UPDATE orders SET state = 'x' WHERE id = 7"), ["context/environment"])
	codes(tool.deny) == {"destructive_sql_in_prod"} with input as inp with data.regent.persona.tool_config.db_query as rw
}

test_writes_in_staging if {
	inp := q("state_change", "staging", "UPDATE orders SET state = 'x' WHERE id = 7")
	count(tool.deny) == 0 with input as inp with data.regent.persona.tool_config.db_query as rw
	codes(tool.grants) == {"write_query_non_prod"} with input as inp with data.regent.persona.tool_config.db_query as rw
	codes(tool.deny) == {"sql_unbounded_write"} with input as q("state_change", "staging", "DELETE FROM orders") with data.regent.persona.tool_config.db_query as rw
	codes(tool.deny) == {"action_kind_mismatch"} with input as q("tool_call", "staging", "INSERT INTO t VALUES (1)") with data.regent.persona.tool_config.db_query as rw
}

test_read_only_persona if {
	inp := q("state_change", "staging", "INSERT INTO t VALUES (1)")
	codes(tool.deny) == {"writes_not_allowed"} with input as inp with data.regent.persona.tool_config.db_query as {"databases": ["app"]}
}

test_ddl_outside_prod_needs_approval if {
	inp := q("state_change", "staging", "ALTER TABLE orders ADD COLUMN note text")
	codes(tool.deny) == {"approval_missing"} with input as inp with data.regent.persona.tool_config.db_query as rw
	tool.obligations == {{"kind": "require_approval", "action": "db.query"}} with input as inp with data.regent.persona.tool_config.db_query as rw
}

test_smuggling_refused if {
	codes(tool.deny) == {"sql_multiple_statements", "destructive_sql_in_prod", "action_kind_mismatch"} with input as q("tool_call", "prod", "SELECT 1; DROP TABLE orders")
		with data.regent.persona.tool_config.db_query as rw
	codes(tool.deny) == {"sql_comment_not_allowed"} with input as q("tool_call", "prod", "SELECT * FROM t /* just a note */") with data.regent.persona.tool_config.db_query as rw
}

test_database_allowlist if {
	codes(tool.deny) == {"database_not_allowed"} with input as q("tool_call", "prod", "SELECT 1") with data.regent.persona.tool_config.db_query as {"databases": ["cmdb"]}
}
