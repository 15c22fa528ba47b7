# deploy.release - roll a service version out to staging or production.
#
# The canonical destructive action, with every pre-execution check:
#   staging   users with role developer or deployer; no further gate
#   prod      role deployer; an approval for "deploy.release" from someone else (not expired, not the
#             requester, not the agent); inside the change window (persona's, default Mon-Thu
#             09:00-16:00 UTC); not during a freeze period (data.json, UTC dates, inclusive)
# args.environment must equal the environment the action runs in (context.environment, else the agent's
# env label); an unknown environment never matches, so an unlabelled agent cannot deploy anywhere.
package regent.tools.deploy_release

import data.regent.lib.approvals
import data.regent.lib.args
import data.regent.lib.ctx
import data.regent.lib.decision.reason
import data.regent.lib.guards
import data.regent.lib.timewin

name := "deploy.release"

server := "deploy-mcp"

kinds := {"state_change"}

# Every rule below starts with `called`, so the module only ever speaks for its own tool, also when it is
# evaluated as a whole (tests, lib/core_test.rego). Personas reach it through grant.rego.
called if input.action.tool.name == name

cfg := data.regent.tools.deploy_release.config

deny contains reason("service_unknown", msg) if {
	called
	not args.one_of(ctx.arg("service"), cfg.services)
	msg := sprintf("args.service must be one of %s", [concat(", ", cfg.services)])
}

# Plain x.y.z with an optional pre-release tag; no "v" prefix (regorus' semver rejects it, OPA's accepts).
deny contains reason("version_invalid", "args.version must be a version like 1.4.2 or 1.4.2-rc.1") if {
	called
	not args.matches(`^[0-9]{1,4}\.[0-9]{1,4}\.[0-9]{1,4}(-[a-z0-9.]{1,20})?$`, ctx.arg("version"))
}

deny contains reason("environment_invalid", "args.environment must be staging or prod") if {
	called
	not args.one_of(ctx.arg("environment"), cfg.environments)
}

deny contains reason("environment_mismatch", msg) if {
	called
	args.one_of(ctx.arg("environment"), cfg.environments)
	ctx.args.environment != ctx.environment
	msg := sprintf("args.environment is %s but the action runs in %s", [ctx.args.environment, ctx.environment])
}

deny contains reason("role_missing", "deploying to staging needs the developer or deployer role") if {
	called
	target == "staging"
	not ctx.has_any_role({"developer", "deployer"})
}

deny contains reason("role_missing", "deploying to production needs the deployer role") if {
	called
	target == "prod"
	not ctx.has_role("deployer")
}

# ---- production gate -----------------------------------------------------------------------------------

deny contains r if {
	called
	target == "prod"
	some r in guards.preexec(name)
}

obligations contains approvals.obligation(name, set()) if {
	called
	target == "prod"
	not approvals.satisfied(name, set())
}

deny contains reason("change_freeze", msg) if {
	called
	target == "prod"
	some period in cfg.freeze_periods
	today := timewin.date_int(timewin.now_ns)
	today >= period.from
	today <= period.to
	msg := sprintf("production is frozen (%s)", [period.name])
}

grants contains reason("deploy_staging", sprintf("deploying %s to staging", [ctx.args.service])) if {
	called
	target == "staging"
	args.one_of(ctx.arg("service"), cfg.services)
}

grants contains reason("deploy_prod_approved", sprintf("approved production deploy of %s inside the change window", [ctx.args.service])) if {
	called
	target == "prod"
	args.one_of(ctx.arg("service"), cfg.services)
}

# Every production deploy is announced where on-call engineers watch.
obligations contains {"kind": "notify", "channel": "deploys"} if {
	called
	target == "prod"
}

# --- helpers --------------------------------------------------------------------------------------------

target := ctx.args.environment if args.one_of(ctx.arg("environment"), cfg.environments)
