# Builds the DecisionV1 object every persona returns from its `deny`, `grants` and `obligations` sets.
#
#   {"allow": bool, "reasons": [{"code", "message"}], "obligations": [{"kind", ...}]}
#
# Rules of composition (documented in bundles/README.md):
# - allow  <=> no deny reason AND at least one grant. Nothing granted = deny ("no_grant"): fail closed.
# - allow  -> reasons are the grants (why it is allowed); every obligation must be honoured by the runtime.
# - deny   -> reasons are the deny reasons only; the only obligations kept are `require_approval`
#             (they tell the runtime what would make a retry succeed). Other obligations are dropped:
#             they only mean something for an action that actually runs.
# - reasons and obligations are arrays built with sort() over sets, so the output is byte-stable. The
#   order of objects is the same in OPA and regorus (both compare objects key by key, then value).
package regent.lib.decision

# reason(code, message) is the one way to build a reason object.
reason(code, message) := {"code": code, "message": message}

no_grant := reason("no_grant", "no rule granted this action; Regent denies anything not explicitly allowed")

build(deny, grants, obligations) := {
	"allow": true,
	"reasons": sort(grants),
	"obligations": sort(obligations),
} if {
	count(deny) == 0
	count(grants) > 0
}

build(deny, _, obligations) := {
	"allow": false,
	"reasons": sort(deny),
	"obligations": sort({o | some o in obligations; o.kind == "require_approval"}),
} if {
	count(deny) > 0
}

build(deny, grants, _) := {
	"allow": false,
	"reasons": [no_grant],
	"obligations": [],
} if {
	count(deny) == 0
	count(grants) == 0
}
