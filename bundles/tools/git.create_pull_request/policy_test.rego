package regent.tools_test.git_create_pull_request

import data.regent.tools.git_create_pull_request as tool

repos := {"allow": ["^acme/[a-z0-9._-]{1,100}$"]}

pr(tool_args) := {"action": {"kind": "state_change", "tool": {"name": "git.create_pull_request", "server": "scm-mcp", "args": tool_args}}}

ok := {"repo": "acme/payments", "head": "agent/fix-42", "base": "main", "title": "Retry refunds on timeout", "body": "Fixes #42."}

codes(s) := {r.code | some r in s}

test_pull_request_into_main if {
	count(tool.deny) == 0 with input as pr(ok) with data.regent.persona.repositories as repos
	codes(tool.grants) == {"pull_request_allowed"} with input as pr(ok) with data.regent.persona.repositories as repos
}

test_head_rules if {
	codes(tool.deny) == {"head_is_protected"} with input as pr(object.union(ok, {"head": "main", "base": "release/1"})) with data.regent.persona.repositories as repos
	codes(tool.deny) == {"same_branch", "head_is_protected"} with input as pr(object.union(ok, {"head": "main"})) with data.regent.persona.repositories as repos
}

test_secrets_in_body if {
	leak := object.union(ok, {"body": "use AKIAABCDEFGHIJKLMNOP for the test"})
	codes(tool.deny) == {"sensitive_content"} with input as pr(leak) with data.regent.persona.repositories as repos
}

test_title_required if {
	codes(tool.deny) == {"title_invalid"} with input as pr(json.remove(ok, ["title"])) with data.regent.persona.repositories as repos
}
