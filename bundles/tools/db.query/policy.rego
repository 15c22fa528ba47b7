# db.query - run one SQL statement against an application database. Shared by it-bot and dev-bot.
#
# Statement rules (lib/sql.rego classifies; anything it cannot classify is refused):
#   read (SELECT/WITH/EXPLAIN/SHOW)   allowed anywhere; the runtime caps rows (limit_results obligation)
#   dml  (INSERT/UPDATE/DELETE/...)   only where the persona allows writes; never in production;
#                                     UPDATE/DELETE need a WHERE clause
#   ddl  (DROP/TRUNCATE/ALTER/...)    only where the persona allows writes; never in production;
#                                     outside production only with an approval for "db.query"
# A writing statement must be sent as a state_change, so the audit trail shows it as one.
# Per persona (data.regent.persona.tool_config.db_query): databases, allow_writes.
package regent.tools.db_query

import data.regent.lib.approvals
import data.regent.lib.args
import data.regent.lib.ctx
import data.regent.lib.decision.reason
import data.regent.lib.sql

name := "db.query"

server := "db-mcp"

kinds := {"tool_call", "data_access", "state_change"}

# Every rule below starts with `called`, so the module only ever speaks for its own tool, also when it is
# evaluated as a whole (tests, lib/core_test.rego). Personas reach it through grant.rego.
called if input.action.tool.name == name

cfg := object.union(data.regent.tools.db_query.config, persona_cfg)

persona_cfg := data.regent.persona.tool_config.db_query

default persona_cfg := {}

deny contains reason("database_not_allowed", msg) if {
	called
	not args.one_of(ctx.arg("database"), cfg.databases)
	msg := sprintf("this persona may query only: %s", [concat(", ", cfg.databases)])
}

deny contains reason("statement_invalid", msg) if {
	called
	not statement_ok
	msg := sprintf("args.statement must be one SQL statement of 1 to %s characters", [format_int(cfg.max_statement_length, 10)])
}

deny contains reason("sql_comment_not_allowed", "SQL comments are refused: they can hide statements from review") if {
	called
	statement_ok
	sql.has_comment(stmt)
}

deny contains reason("sql_multiple_statements", "exactly one statement per call") if {
	called
	statement_ok
	sql.multiple_statements(stmt)
}

deny contains reason("sql_unrecognized", "the statement does not start with a known read verb (SELECT, WITH, EXPLAIN, SHOW)") if {
	called
	class == "unknown"
}

deny contains reason("max_rows_invalid", msg) if {
	called
	ctx.arg("max_rows") != null
	not args.int_between(ctx.arg("max_rows"), 1, cfg.max_rows)
	msg := sprintf("args.max_rows must be an integer from 1 to %s", [format_int(cfg.max_rows, 10)])
}

# ---- writes ----------------------------------------------------------------------------------------------

deny contains reason("action_kind_mismatch", "this statement modifies data; send it as a state_change action") if {
	called
	writes
	ctx.kind != "state_change"
}

deny contains reason("writes_not_allowed", "this persona may only read (its db.query configuration has allow_writes: false)") if {
	called
	writes
	not cfg.allow_writes
}

deny contains reason("destructive_sql_in_prod", msg) if {
	called
	writes
	ctx.production
	msg := sprintf("%s statements are never run by an agent in production (environment: %s)", [upper(class), ctx.environment])
}

deny contains reason("sql_unbounded_write", "UPDATE and DELETE need a WHERE clause") if {
	called
	writes
	sql.unbounded_write(stmt)
}

deny contains r if {
	called
	ddl_outside_prod
	some r in approvals.deny(name, set())
}

obligations contains approvals.obligation(name, set()) if {
	called
	ddl_outside_prod
	not approvals.satisfied(name, set())
}

# ---- grants and obligations ----------------------------------------------------------------------------

grants contains reason("read_only_query", sprintf("read-only query on %s", [ctx.args.database])) if {
	called
	class == "read"
}

grants contains reason("write_query_non_prod", sprintf("data change on %s outside production", [ctx.args.database])) if {
	called
	class == "dml"
	not ctx.production
}

grants contains reason("ddl_non_prod_approved", sprintf("approved schema change on %s outside production", [ctx.args.database])) if {
	called
	ddl_outside_prod
	approvals.satisfied(name, set())
}

obligations contains {"kind": "limit_results", "max": max_rows} if {
	called
	class == "read"
}

# --- helpers --------------------------------------------------------------------------------------------

stmt := ctx.args.statement

statement_ok if args.string_between(ctx.arg("statement"), 1, cfg.max_statement_length)

# Only ever classify a string (upper() of a non-string is a built-in error).
class := sql.class(stmt) if statement_ok

writes if class in {"dml", "ddl"}

ddl_outside_prod if {
	class == "ddl"
	not ctx.production
}

max_rows := ctx.args.max_rows if {
	args.int_between(ctx.arg("max_rows"), 1, cfg.max_rows)
} else := cfg.default_rows
