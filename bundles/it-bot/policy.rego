# it-bot: the IT helpdesk persona.
#
# Entrypoint: data.regent.persona.decision (DecisionV1), folded from lib/core.rego (persona, user, kind,
# tool grant, rate limits), the granted tool's module, and it-bot's data-access rules below.
#
# Data-access scoping:
#   kb_article     by classification and clearance (lib/classification.rego; helpdesk/it_admin are
#                  cleared for confidential articles of their own org)
#   user_account   directory accounts: your own, or - for helpdesk/it_admin - any account in your org;
#                  anything else is denied (account_out_of_scope). Secret fields (password_hash,
#                  mfa_secret, ...) and fields it-bot does not know are never shown: the read is allowed
#                  with a {"kind": "redact"} obligation listing them (reason secret_fields_redacted),
#                  consistently with hr-bot's field redaction.
package regent.persona

import data.regent.lib.args
import data.regent.lib.classification
import data.regent.lib.core
import data.regent.lib.ctx
import data.regent.lib.decision as dec
import data.regent.lib.decision.reason

name := "it-bot"

default decision := {
	"allow": false,
	"reasons": [{"code": "no_decision", "message": "the policy produced no decision (internal error); denied by default"}],
	"obligations": [],
}

decision := dec.build(deny, grants, obligations)

deny contains r if some r in core.deny

grants contains r if some r in core.grants

obligations contains o if some o in core.obligations

# ---- resources it-bot may read ---------------------------------------------------------------------------

resource_types := {"kb_article", "user_account"}

deny contains reason("resource_type_not_allowed", msg) if {
	core.reads_resource
	not ctx.resource_type_is(resource_types)
	msg := sprintf("it-bot may only read resources of type %s", [concat(", ", sort(resource_types))])
}

# ---- kb_article ------------------------------------------------------------------------------------------

deny contains r if {
	core.reads_resource
	ctx.resource_type == "kb_article"
	some r in classification.deny(ctx.resource)
}

grants contains r if {
	core.reads_resource
	ctx.resource_type == "kb_article"
	some r in classification.grants(ctx.resource)
}

# ---- user_account ----------------------------------------------------------------------------------------

account_read if {
	core.reads_resource
	ctx.resource_type == "user_account"
}

deny contains reason("resource_fields_missing", "resource.fields must list the user_account fields to be returned (1 to 30 names)") if {
	account_read
	not fields_listed
}

deny contains reason("account_out_of_scope", "only your own account, or - for helpdesk and it_admin - accounts in your org, may be read") if {
	account_read
	not own_account
	not helpdesk_same_org
}

grants contains reason("account_self", "users may look up their own account") if {
	account_read
	fields_listed
	own_account
}

grants contains reason("account_helpdesk_same_org", sprintf("helpdesk may look up accounts in org %s", [ctx.user_attr("org")])) if {
	account_read
	fields_listed
	not own_account
	helpdesk_same_org
}

grants contains reason("secret_fields_redacted", sprintf("%s never leave the identity provider", [concat(", ", sort(hidden_fields))])) if {
	account_read
	fields_listed
	count(hidden_fields) > 0
}

obligations contains {"kind": "redact", "fields": sort(hidden_fields)} if {
	account_read
	count(hidden_fields) > 0
}

fields_listed if args.string_array(ctx.resource.fields, 1, 30, `^[a-z][a-z0-9_]{0,40}$`)

# Everything not explicitly visible is hidden: the listed secrets and any field it-bot does not know.
hidden_fields := args.as_set(ctx.resource.fields) - {f | some f in data.regent.persona.account_fields.visible}

own_account if {
	ctx.user_id
	ctx.resource.id == ctx.user_id
}

helpdesk_same_org if {
	ctx.has_any_role({"helpdesk", "it_admin"})
	ctx.user_attr("org") == ctx.resource_attr("org")
}
