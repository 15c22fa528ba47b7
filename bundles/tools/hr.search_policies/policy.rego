# hr.search_policies - full-text search over the HR handbook (policies, benefits, leave rules).
#
# The handbook is internal-only and holds no personal data, so any employee may search it. Two things
# keep the search from becoming a side door into personal data: queries naming an employee id are
# refused (use hr.get_employee_record, which scopes fields), and the result count is capped with a
# `limit_results` obligation the runtime applies to what it hands back to the model.
package regent.tools.hr_search_policies

import data.regent.lib.args
import data.regent.lib.ctx
import data.regent.lib.decision.reason

name := "hr.search_policies"

server := "hr-kb-mcp"

kinds := {"tool_call", "data_access"}

# Every rule below starts with `called`, so the module only ever speaks for its own tool, also when it is
# evaluated as a whole (tests, lib/core_test.rego). Personas reach it through grant.rego.
called if input.action.tool.name == name

collections := {"handbook", "benefits", "leave", "travel"}

default_max_results := 10

max_results_cap := 25

deny contains reason("query_invalid", "args.query must be a string of 3 to 200 characters") if {
	called
	not args.string_between(ctx.arg("query"), 3, 200)
}

deny contains reason("query_targets_employee", "the query names an employee id; look people up with hr.get_employee_record, which applies field scoping") if {
	called
	is_string(ctx.args.query) # lower() of a non-string is a built-in error
	regex.match(`(^|[^a-z0-9])[eu]-[0-9]{1,10}([^0-9]|$)`, lower(ctx.args.query))
}

deny contains reason("collection_not_allowed", msg) if {
	called
	"collection" in object.keys(ctx.args)
	not ctx.arg("collection") in collections
	msg := sprintf("args.collection must be one of %s", [concat(", ", sort(collections))])
}

deny contains reason("max_results_invalid", msg) if {
	called
	"max_results" in object.keys(ctx.args)
	not args.int_between(ctx.arg("max_results"), 1, max_results_cap)
	msg := sprintf("args.max_results must be an integer from 1 to %s", [format_int(max_results_cap, 10)])
}

grants contains reason("policy_search", "searching the internal HR handbook is open to every employee") if {
	called
	args.string_between(ctx.args.query, 3, 200)
}

obligations contains {"kind": "limit_results", "max": max_results} if called

max_results := ctx.args.max_results if {
	args.int_between(ctx.args.max_results, 1, max_results_cap)
} else := default_max_results
