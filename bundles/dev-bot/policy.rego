# dev-bot: the developer assistant persona.
#
# Entrypoint: data.regent.persona.decision (DecisionV1), folded from lib/core.rego (persona, user, kind,
# tool grant, rate limits), the granted tool's module, and dev-bot's data-access rules below.
#
# Data-access scoping:
#   source_file   only repositories allowed by data.json `repositories` (the same scoping the git tools
#                 use, lib/scm.rego); files that typically hold secrets (.env, keys, secrets/ folders -
#                 data.json `secret_paths`) are denied outright: redaction cannot make a key file safe
#   design_doc    by classification and clearance (lib/classification.rego)
package regent.persona

import data.regent.lib.args
import data.regent.lib.classification
import data.regent.lib.core
import data.regent.lib.ctx
import data.regent.lib.decision as dec
import data.regent.lib.decision.reason
import data.regent.lib.scm

name := "dev-bot"

default decision := {
	"allow": false,
	"reasons": [{"code": "no_decision", "message": "the policy produced no decision (internal error); denied by default"}],
	"obligations": [],
}

decision := dec.build(deny, grants, obligations)

deny contains r if some r in core.deny

grants contains r if some r in core.grants

obligations contains o if some o in core.obligations

# ---- resources dev-bot may read --------------------------------------------------------------------------

resource_types := {"source_file", "design_doc"}

deny contains reason("resource_type_not_allowed", msg) if {
	core.reads_resource
	not ctx.resource_type_is(resource_types)
	msg := sprintf("dev-bot may only read resources of type %s", [concat(", ", sort(resource_types))])
}

# ---- design_doc ------------------------------------------------------------------------------------------

deny contains r if {
	core.reads_resource
	ctx.resource_type == "design_doc"
	some r in classification.deny(ctx.resource)
}

grants contains r if {
	core.reads_resource
	ctx.resource_type == "design_doc"
	some r in classification.grants(ctx.resource)
}

# ---- source_file -----------------------------------------------------------------------------------------

source_read if {
	core.reads_resource
	ctx.resource_type == "source_file"
}

deny contains reason("repo_not_allowed", "resource.repo is not a repository dev-bot may read") if {
	source_read
	not scm.repo_allowed(ctx.resource_field("repo"))
}

deny contains reason("path_invalid", "resource.path must be a relative path inside the repository") if {
	source_read
	not path_ok
}

deny contains reason("secret_file", msg) if {
	source_read
	path_ok
	args.matches_any(data.regent.persona.secret_paths, ctx.resource.path)
	msg := sprintf("%s looks like a secret or key file; the agent never reads those", [ctx.resource.path])
}

grants contains reason("source_file_in_allowed_repo", sprintf("%s in %s", [ctx.resource.path, ctx.resource.repo])) if {
	source_read
	path_ok
	scm.repo_allowed(ctx.resource_field("repo"))
}

# Relative, no parent references, ASCII only.
path_ok if {
	args.matches(`^[A-Za-z0-9._][A-Za-z0-9._/-]{0,299}$`, ctx.resource_field("path"))
	not contains(ctx.resource.path, "..")
}
