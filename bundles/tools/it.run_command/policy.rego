# it.run_command - run one catalogued command on a corporate host (no shell).
#
# Commands come from a fixed catalogue (data.json); arguments are separate strings without shell
# metacharacters, so nothing can be chained. Diagnostics (uptime, df, ping, ...) are open to the
# helpdesk. Destructive commands (restart_service, reboot):
#   - need the it_admin role and a state_change action;
#   - in production (context.environment, else the agent's env label; unknown counts as production)
#     need an approval for "it.run_command" from another person and the change window.
package regent.tools.it_run_command

import data.regent.lib.approvals
import data.regent.lib.args
import data.regent.lib.ctx
import data.regent.lib.decision.reason
import data.regent.lib.guards

name := "it.run_command"

server := "ops-mcp"

kinds := {"tool_call", "state_change"}

# Every rule below starts with `called`, so the module only ever speaks for its own tool, also when it is
# evaluated as a whole (tests, lib/core_test.rego). Personas reach it through grant.rego.
called if input.action.tool.name == name

cfg := data.regent.tools.it_run_command.config

deny contains reason("host_not_allowed", "args.host must be a host name under corp.example.com") if {
	called
	not args.matches(cfg.host_pattern, ctx.arg("host"))
}

deny contains reason("command_not_allowed", msg) if {
	called
	not command
	msg := sprintf("args.command must be one of %s", [concat(", ", sort(object.keys(cfg.commands)))])
}

# Letters, digits and . _ / : = @ - only: no spaces, quotes, ; | & $ ` < > or globbing.
deny contains reason("argument_invalid", msg) if {
	called
	ctx.arg("args") != null
	not args.string_array(ctx.arg("args"), 0, cfg.max_args, `^[A-Za-z0-9._/:=@-]{1,100}$`)
	msg := sprintf("args.args must be at most %s plain arguments (no shell metacharacters)", [format_int(cfg.max_args, 10)])
}

deny contains reason("role_missing", "diagnostic commands need the helpdesk or it_admin role") if {
	called
	command
	not destructive
	not ctx.has_any_role({"helpdesk", "it_admin"})
}

# ---- destructive commands ------------------------------------------------------------------------------

deny contains reason("role_missing", "destructive commands need the it_admin role") if {
	called
	destructive
	not ctx.has_role("it_admin")
}

deny contains reason("action_kind_mismatch", "destructive commands must be sent as a state_change action") if {
	called
	destructive
	ctx.kind != "state_change"
}

deny contains r if {
	called
	destructive
	ctx.production
	some r in guards.preexec(name)
}

obligations contains approvals.obligation(name, set()) if {
	called
	destructive
	ctx.production
	not approvals.satisfied(name, set())
}

grants contains reason("diagnostic_command", sprintf("read-only diagnostic %s", [command])) if {
	called
	command
	not destructive
}

grants contains reason("destructive_command_non_prod", sprintf("%s outside production", [command])) if {
	called
	destructive
	not ctx.production
}

grants contains reason("destructive_command_approved", sprintf("approved %s in production inside the change window", [command])) if {
	called
	destructive
	ctx.production
}

# --- helpers --------------------------------------------------------------------------------------------

command := ctx.args.command if cfg.commands[ctx.args.command]

destructive if cfg.commands[command].destructive == true
