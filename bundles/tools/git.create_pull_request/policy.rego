# git.create_pull_request - open a pull request (the only way the agent's work reaches protected branches).
#
# Same repository scoping as git.push. The head branch must not be protected (a PR *from* main would
# merge arbitrary upstream state), head and base must differ, title and body are bounded, and the body
# is scanned for secrets (lib/dlp.rego) - PR descriptions are widely readable.
package regent.tools.git_create_pull_request

import data.regent.lib.args
import data.regent.lib.ctx
import data.regent.lib.decision.reason
import data.regent.lib.dlp
import data.regent.lib.scm

name := "git.create_pull_request"

server := "scm-mcp"

kinds := {"tool_call", "state_change"}

# Every rule below starts with `called`, so the module only ever speaks for its own tool, also when it is
# evaluated as a whole (tests, lib/core_test.rego). Personas reach it through grant.rego.
called if input.action.tool.name == name

deny contains reason("repo_not_allowed", "args.repo is not a repository this persona may write to") if {
	called
	not scm.repo_allowed(ctx.arg("repo"))
}

deny contains reason("branch_invalid", "args.head and args.base must be plain branch names") if {
	called
	not branches_valid
}

deny contains reason("head_is_protected", "the head branch of an agent's pull request cannot be a protected branch") if {
	called
	scm.protected(ctx.arg("head"))
}

deny contains reason("same_branch", "head and base are the same branch") if {
	called
	branches_valid
	ctx.args.head == ctx.args.base
}

deny contains reason("title_invalid", "args.title must be 1 to 256 characters") if {
	called
	not args.string_between(ctx.arg("title"), 1, 256)
}

deny contains reason("body_too_long", "args.body must be a string of at most 20000 characters") if {
	called
	ctx.arg("body") != null
	not args.string_between(ctx.arg("body"), 0, 20000)
}

deny contains reason("sensitive_content", msg) if {
	called
	found := dlp.findings(ctx.arg("title")) | dlp.findings(ctx.arg("body"))
	count(found) > 0
	msg := sprintf("the pull request appears to contain %s", [concat(" and ", sort(found))])
}

grants contains reason("pull_request_allowed", sprintf("pull request %s -> %s in an allowed repository", [ctx.args.head, ctx.args.base])) if {
	called
	branches_valid
}

branches_valid if {
	scm.branch_valid(ctx.arg("head"))
	scm.branch_valid(ctx.arg("base"))
}
