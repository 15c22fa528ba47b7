package regent.tools_test.git_push

import data.regent.tools.git_push as tool

repos := {"allow": ["^acme/[a-z0-9._-]{1,100}$"], "deny": ["^acme/secrets-"]}

push(tool_args) := {"action": {"kind": "state_change", "tool": {"name": "git.push", "server": "scm-mcp", "args": tool_args}}}

codes(s) := {r.code | some r in s}

test_feature_branch if {
	inp := push({"repo": "acme/payments", "branch": "feat/retry-refunds"})
	count(tool.deny) == 0 with input as inp with data.regent.persona.repositories as repos
	codes(tool.grants) == {"push_feature_branch"} with input as inp with data.regent.persona.repositories as repos
}

test_protected_branches if {
	codes(tool.deny) == {"protected_branch"} with input as push({"repo": "acme/payments", "branch": "main"}) with data.regent.persona.repositories as repos
	codes(tool.deny) == {"protected_branch"} with input as push({"repo": "acme/payments", "branch": "release/2026.11"}) with data.regent.persona.repositories as repos
}

test_repositories if {
	codes(tool.deny) == {"repo_not_allowed"} with input as push({"repo": "acme/secrets-prod", "branch": "feat/x"}) with data.regent.persona.repositories as repos
	codes(tool.deny) == {"repo_not_allowed"} with input as push({"repo": "other/payments", "branch": "feat/x"}) with data.regent.persona.repositories as repos
	codes(tool.deny) == {"repo_not_allowed"} with input as push({"repo": "acme/payments", "branch": "feat/x"}) with data.regent.persona.repositories as {}
}

test_force_push_only_on_agent_branches if {
	codes(tool.deny) == {"force_push_not_allowed"} with input as push({"repo": "acme/payments", "branch": "feat/x", "force": true}) with data.regent.persona.repositories as repos
	count(tool.deny) == 0 with input as push({"repo": "acme/payments", "branch": "agent/fix-42", "force": true}) with data.regent.persona.repositories as repos
}

test_branch_names if {
	codes(tool.deny) == {"branch_invalid"} with input as push({"repo": "acme/payments", "branch": "feat/../main"}) with data.regent.persona.repositories as repos
	codes(tool.deny) == {"branch_invalid"} with input as push({"repo": "acme/payments", "branch": "-f"}) with data.regent.persona.repositories as repos
	codes(tool.deny) == {"branch_invalid"} with input as push({"repo": "acme/payments"}) with data.regent.persona.repositories as repos
}
