# Human approvals for sensitive actions, read from input.context.approvals.
#
# An approval {"id", "approver", "action", "granted_at", "expires_at"} satisfies `action` when:
# - its `action` equals the action id (by convention the tool name, e.g. "deploy.release");
# - it is well formed (string id and approver, valid RFC 3339 times, expires_at after granted_at);
# - it is in force at context.time: granted_at <= now < expires_at;
# - the approver is neither the requesting user nor the agent itself (four-eyes principle);
# - when the caller names allowed approvers (e.g. the user's manager), the approver is one of them.
#
# Usage from a tool module:
#   deny contains r if { needs_approval; some r in approvals.deny("deploy.release", set()) }
#   obligations contains approvals.obligation("deploy.release", set()) if { needs_approval; not approvals.satisfied("deploy.release", set()) }
package regent.lib.approvals

import data.regent.lib.ctx
import data.regent.lib.decision.reason
import data.regent.lib.timewin

# All approval objects in the input (absent or malformed list = none).
all := [a | some a in input.context.approvals; is_object(a)] if {
	is_object(input.context)
	is_array(input.context.approvals)
}

default all := []

# Every approval in the input, checked once per decision: rules are evaluated once, functions on every
# call, and satisfied/deny/obligation are called several times per decision. `issues` holds the codes
# that do not depend on who may approve (approval_wrong_approver is added per call, in issues/2).
reviewed := [review(a) | some a in all]

# validities: [] when the approval is malformed, else [[granted_at, expires_at]] (computed once).
review(a) := {"approval": a, "issues": period_issues(validities) | person_issues(a)} if {
	validities := [v | v := validity(a)]
}

matching(action) := [r | some r in reviewed; r.approval.action == action]

# satisfied(action, approvers): at least one matching approval has no issue. `approvers` is a set of
# user ids allowed to approve; the empty set means "anyone but the requester and the agent".
satisfied(action, approvers) if {
	some r in matching(action)
	count(issues(r, approvers)) == 0
}

# deny(action, approvers): the reasons why no approval satisfies the action (empty when one does).
deny(action, approvers) := set() if satisfied(action, approvers)

deny(action, approvers) := {reason("approval_missing", msg)} if {
	not satisfied(action, approvers)
	count(matching(action)) == 0
	msg := sprintf("%s needs an approval from another person; none was supplied", [action])
}

deny(action, approvers) := {reason(code, issue_message(code, r.approval, action)) |
	some r in matching(action)
	some code in issues(r, approvers)
} if {
	not satisfied(action, approvers)
	count(matching(action)) > 0
}

# The obligation a tool adds while an approval is outstanding: the runtime asks for one and retries.
obligation(action, approvers) := {"kind": "require_approval", "action": action} if count(approvers) == 0

obligation(action, approvers) := {"kind": "require_approval", "action": action, "approvers": sort(approvers)} if {
	count(approvers) > 0
}

# --- per-approval checks ---------------------------------------------------------------------------------

# issues(r, approvers): the codes of every check the reviewed approval r fails.
issues(r, approvers) := r.issues | wrong_approver(r.approval, approvers)

wrong_approver(a, approvers) := {"approval_wrong_approver"} if {
	count(approvers) > 0
	not approver_allowed(a, approvers)
}

wrong_approver(_, approvers) := set() if count(approvers) == 0

wrong_approver(a, approvers) := set() if approver_allowed(a, approvers)

approver_allowed(a, approvers) if a.approver in approvers

# validity(a): [granted_at, expires_at] in nanoseconds when the approval is well formed: string id and
# approver, valid RFC 3339 times, expires_at after granted_at.
validity(a) := [granted, expires] if {
	ctx.nonempty(a.id)
	ctx.nonempty(a.approver)
	granted := timewin.parse_ns(a.granted_at)
	expires := timewin.parse_ns(a.expires_at)
	expires > granted
}

period_issues(validities) := {"approval_malformed"} if count(validities) == 0

# Without a valid context.time the approval's validity period cannot be checked: fail closed.
period_issues(validities) := {"approval_unverifiable"} if {
	count(validities) > 0
	not timewin.now_ns
}

period_issues(validities) := {code | some code in ["approval_not_yet_valid", "approval_expired"]; outside(code, validities[0])} if {
	count(validities) > 0
	timewin.now_ns
}

outside("approval_not_yet_valid", v) if timewin.now_ns < v[0]

outside("approval_expired", v) if timewin.now_ns >= v[1]

person_issues(a) := {code | some code in ["approval_self_approved", "approval_by_agent"]; same_person(code, a)}

same_person("approval_self_approved", a) if a.approver == ctx.user_id

same_person("approval_by_agent", a) if a.approver == ctx.agent_id

# --- messages (only ever format strings: regorus' %s of a number differs from OPA's) -------------------

issue_message("approval_malformed", a, action) := sprintf("approval %s for %s is malformed (needs id, approver and valid granted_at < expires_at)", [label(a), action])

issue_message("approval_unverifiable", a, action) := sprintf("approval %s for %s cannot be checked: context.time is missing or invalid", [label(a), action])

issue_message("approval_not_yet_valid", a, action) := sprintf("approval %s for %s is only valid from %s", [label(a), action, a.granted_at])

issue_message("approval_expired", a, action) := sprintf("approval %s for %s expired at %s", [label(a), action, a.expires_at])

issue_message("approval_self_approved", a, action) := sprintf("approval %s for %s was granted by the requesting user %s", [label(a), action, a.approver])

issue_message("approval_by_agent", a, action) := sprintf("approval %s for %s was granted by the agent itself", [label(a), action])

issue_message("approval_wrong_approver", a, action) := sprintf("approval %s for %s was granted by %s, who may not approve it", [label(a), action, approver_label(a)])

label(a) := a.id if ctx.nonempty(a.id)
else := "(without id)"

approver_label(a) := a.approver if ctx.nonempty(a.approver)
else := "(unknown)"
