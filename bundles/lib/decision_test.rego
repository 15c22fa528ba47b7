package regent.lib.decision_test

import data.regent.lib.decision

r(code) := decision.reason(code, concat(" ", ["because", code]))

test_allow_needs_a_grant_and_no_deny if {
	d := decision.build(set(), {r("b"), r("a")}, {{"kind": "redact", "fields": ["salary"]}})
	d.allow == true
	[x.code | some x in d.reasons] == ["a", "b"]
	d.obligations == [{"kind": "redact", "fields": ["salary"]}]
}

test_deny_reports_only_deny_reasons_and_keeps_only_require_approval if {
	d := decision.build({r("z"), r("y")}, {r("a")}, {{"kind": "redact", "fields": ["x"]}, {"kind": "require_approval", "action": "t"}})
	d.allow == false
	[x.code | some x in d.reasons] == ["y", "z"]
	d.obligations == [{"kind": "require_approval", "action": "t"}]
}

test_nothing_granted_is_a_deny if {
	d := decision.build(set(), set(), {{"kind": "notify", "channel": "c"}})
	d == {"allow": false, "reasons": [decision.no_grant], "obligations": []}
}
