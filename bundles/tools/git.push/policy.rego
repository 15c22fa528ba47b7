# git.push - push commits to a branch of a source repository.
#
# Repositories: the persona's allow/deny patterns (lib/scm.rego, data.regent.persona.repositories).
# Protected branches (main, master, release/*, hotfix/*) only change through reviewed pull requests, so
# the agent never pushes to them. Force-pushes rewrite history: allowed only on the agent's own branches
# (agent/...), where nobody else's work can be lost.
package regent.tools.git_push

import data.regent.lib.args
import data.regent.lib.ctx
import data.regent.lib.decision.reason
import data.regent.lib.scm

name := "git.push"

server := "scm-mcp"

kinds := {"tool_call", "state_change"}

# Every rule below starts with `called`, so the module only ever speaks for its own tool, also when it is
# evaluated as a whole (tests, lib/core_test.rego). Personas reach it through grant.rego.
called if input.action.tool.name == name

deny contains reason("repo_not_allowed", msg) if {
	called
	not scm.repo_allowed(ctx.arg("repo"))
	msg := "args.repo is not a repository this persona may write to"
}

deny contains reason("branch_invalid", "args.branch must be a plain branch name (ASCII, no '..', no leading '-')") if {
	called
	not scm.branch_valid(ctx.arg("branch"))
}

deny contains reason("protected_branch", msg) if {
	called
	scm.protected(ctx.arg("branch"))
	msg := sprintf("%s is protected; changes go through a pull request", [ctx.args.branch])
}

deny contains reason("force_push_not_allowed", "force-push is allowed only on the agent's own branches (agent/...)") if {
	called
	ctx.arg("force") == true
	not startswith_agent_prefix
}

grants contains reason("push_feature_branch", sprintf("push to feature branch %s", [ctx.args.branch])) if {
	called
	scm.branch_valid(ctx.arg("branch"))
}

startswith_agent_prefix if {
	is_string(ctx.args.branch) # startswith() of a non-string is a built-in error
	startswith(ctx.args.branch, "agent/")
}
