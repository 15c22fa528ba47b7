# hr.get_employee_record - read one employee record from the HRIS.
#
# This module checks only the *call*: well-formed arguments, and that the resource the runtime attached
# is the record the arguments ask for. It grants nothing itself: whether the user may see the requested
# fields is a data-access question, answered by the persona's employee_record resource rules (field
# scoping, salary redaction). A read tool that granted on its own could leak data those rules redact.
package regent.tools.hr_get_employee_record

import data.regent.lib.args
import data.regent.lib.ctx
import data.regent.lib.decision.reason

name := "hr.get_employee_record"

server := "hris-mcp"

kinds := {"tool_call", "data_access"}

# Every rule below starts with `called`, so the module only ever speaks for its own tool, also when it is
# evaluated as a whole (tests, lib/core_test.rego). Personas reach it through grant.rego.
called if input.action.tool.name == name

employee_id_pattern := `^e-[0-9]{1,10}$`

field_pattern := `^[a-z][a-z0-9_]{0,40}$`

deny contains reason("employee_id_invalid", "args.employee_id must look like e-123") if {
	called
	not args.matches(employee_id_pattern, ctx.arg("employee_id"))
}

deny contains reason("fields_invalid", "args.fields must list 1 to 30 field names (lower-case, e.g. name, salary)") if {
	called
	not args.string_array(ctx.arg("fields"), 1, 30, field_pattern)
}

# Without the resource description the persona cannot scope fields: fail closed.
deny contains reason("resource_required", "the call must carry the employee_record it reads in action.resource") if {
	called
	not ctx.resource_type_is({"employee_record"})
}

deny contains reason("resource_mismatch", msg) if {
	called
	ctx.resource_type == "employee_record"
	args.matches(employee_id_pattern, ctx.args.employee_id)
	ctx.resource.id != ctx.args.employee_id
	msg := sprintf("args.employee_id %s does not match the attached record", [ctx.args.employee_id])
}

# The fields scoped by the persona must be exactly the fields the tool will return.
deny contains reason("resource_mismatch", "args.fields and resource.fields differ; the tool must return exactly the scoped fields") if {
	called
	ctx.resource_type == "employee_record"
	args.string_array(ctx.args.fields, 1, 30, field_pattern)
	args.as_set(ctx.args.fields) != args.as_set(ctx.resource.fields)
}
