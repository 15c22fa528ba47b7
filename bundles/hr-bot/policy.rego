# hr-bot: the HR assistant persona.
#
# Entrypoint: data.regent.persona.decision (DecisionV1). The decision folds together
#   - the checks every persona applies (lib/core.rego: persona, user, kind, tool grant, rate limits),
#   - the granted tool's module (tools/<name>/policy.rego),
#   - hr-bot's own data-access rules below, for resources the agent reads.
#
# Data-access scoping for employee records - redact, never deny, for field visibility:
#   directory fields (data.json employee_fields.directory)   visible to every employee
#   every other field (personal, compensation, and unknown   visible to the record's owner, and to users
#   fields, which count as sensitive: fail closed)           with hr_admin whose org == the record's org
# A request that includes fields the user may not see is ALLOWED with a {"kind": "redact", "fields": [...]}
# obligation listing exactly those fields: the agent still answers with what it may show. The reason
# code says which rule applied (own_record, salary_access_hr_admin_same_org, hr_admin_same_org,
# directory_fields_only, redacted_not_hr_admin, redacted_other_org).
package regent.persona

import data.regent.lib.args
import data.regent.lib.classification
import data.regent.lib.core
import data.regent.lib.ctx
import data.regent.lib.decision as dec
import data.regent.lib.decision.reason

name := "hr-bot"

default decision := {
	"allow": false,
	"reasons": [{"code": "no_decision", "message": "the policy produced no decision (internal error); denied by default"}],
	"obligations": [],
}

decision := dec.build(deny, grants, obligations)

deny contains r if some r in core.deny

grants contains r if some r in core.grants

obligations contains o if some o in core.obligations

# ---- resources hr-bot may read ---------------------------------------------------------------------------

resource_types := {"employee_record", "hr_document"}

deny contains reason("resource_type_not_allowed", msg) if {
	core.reads_resource
	not ctx.resource_type_is(resource_types)
	msg := sprintf("hr-bot may only read resources of type %s", [concat(", ", sort(resource_types))])
}

# ---- hr_document: handbook pages, policies, case files - by classification (lib/classification.rego) ----

deny contains r if {
	core.reads_resource
	ctx.resource_type == "hr_document"
	some r in classification.deny(ctx.resource)
}

grants contains r if {
	core.reads_resource
	ctx.resource_type == "hr_document"
	some r in classification.grants(ctx.resource)
}

# ---- employee_record: field-level scoping ------------------------------------------------------------------

employee_record if {
	core.reads_resource
	ctx.resource_type == "employee_record"
}

# The runtime must say which fields it will return; without that list nothing can be scoped.
deny contains reason("resource_fields_missing", "resource.fields must list the employee_record fields to be returned (1 to 50 names)") if {
	employee_record
	not fields_listed
}

grants contains reason(record_basis, record_message) if {
	employee_record
	fields_listed
}

fields_listed if args.string_array(ctx.resource.fields, 1, 50, `^[a-z][a-z0-9_]{0,40}$`)

obligations contains {"kind": "redact", "fields": sort(sensitive_requested)} if {
	employee_record
	startswith(record_basis, "redacted_")
}

requested := args.as_set(ctx.resource.fields)

directory_fields := {f | some f in data.regent.persona.employee_fields.directory}

compensation_fields := {f | some f in data.regent.persona.employee_fields.compensation}

# Everything that is not a directory field is sensitive, including fields hr-bot does not know.
sensitive_requested := requested - directory_fields

own_record if {
	ctx.user_id
	ctx.resource.owner == ctx.user_id
}

hr_admin_same_org if {
	ctx.has_role("hr_admin")
	ctx.user_attr("org") == ctx.resource_attr("org")
}

record_basis := "own_record" if {
	own_record
} else := "directory_fields_only" if {
	count(sensitive_requested) == 0
} else := "salary_access_hr_admin_same_org" if {
	hr_admin_same_org
	count(requested & compensation_fields) > 0
} else := "hr_admin_same_org" if {
	hr_admin_same_org
} else := "redacted_other_org" if {
	ctx.has_role("hr_admin")
} else := "redacted_not_hr_admin"

record_message := "employees may see their whole own record" if {
	record_basis == "own_record"
} else := "only directory fields were requested; they are visible to every employee" if {
	record_basis == "directory_fields_only"
} else := sprintf("hr_admin of org %s may see compensation of employees in that org", [ctx.user_attr("org")]) if {
	record_basis == "salary_access_hr_admin_same_org"
} else := sprintf("hr_admin of org %s may see personal data of employees in that org", [ctx.user_attr("org")]) if {
	record_basis == "hr_admin_same_org"
} else := sprintf("%s redacted: hr_admins see them only for employees of their own org", [concat(", ", sort(sensitive_requested))]) if {
	record_basis == "redacted_other_org"
} else := sprintf("%s redacted: only the employee and hr_admins of the same org may see them", [concat(", ", sort(sensitive_requested))])
