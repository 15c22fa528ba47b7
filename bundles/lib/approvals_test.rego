package regent.lib.approvals_test

import data.regent.lib.approvals

base := {
	"agent": {"id": "dev-bot-1"},
	"user": {"id": "u-1"},
	"context": {"time": "2026-11-24T10:15:00Z"},
}

with_approvals(list) := object.union(base, {"context": {"approvals": list}})

good := {"id": "apr-1", "approver": "u-77", "action": "deploy.release", "granted_at": "2026-11-24T09:00:00Z", "expires_at": "2026-11-24T12:00:00Z"}

codes(s) := {r.code | some r in s}

test_valid_approval if {
	approvals.satisfied("deploy.release", set()) with input as with_approvals([good])
	count(approvals.deny("deploy.release", set())) == 0 with input as with_approvals([good])
}

test_missing if {
	codes(approvals.deny("deploy.release", set())) == {"approval_missing"} with input as base
	codes(approvals.deny("deploy.release", set())) == {"approval_missing"} with input as with_approvals([object.union(good, {"action": "db.query"})])
	codes(approvals.deny("deploy.release", set())) == {"approval_missing"} with input as object.union(base, {"context": {"approvals": "yes"}})
}

test_expired_and_not_yet_valid if {
	expired := object.union(good, {"expires_at": "2026-11-24T10:15:00Z"}) # expiry is exclusive
	codes(approvals.deny("deploy.release", set())) == {"approval_expired"} with input as with_approvals([expired])
	future := object.union(good, {"granted_at": "2026-11-24T11:00:00Z"})
	codes(approvals.deny("deploy.release", set())) == {"approval_not_yet_valid"} with input as with_approvals([future])
}

test_four_eyes if {
	codes(approvals.deny("deploy.release", set())) == {"approval_self_approved"} with input as with_approvals([object.union(good, {"approver": "u-1"})])
	codes(approvals.deny("deploy.release", set())) == {"approval_by_agent"} with input as with_approvals([object.union(good, {"approver": "dev-bot-1"})])
}

test_named_approvers if {
	approvals.satisfied("deploy.release", {"u-77"}) with input as with_approvals([good])
	codes(approvals.deny("deploy.release", {"u-9"})) == {"approval_wrong_approver"} with input as with_approvals([good])
	approvals.obligation("deploy.release", {"u-9"}) == {"kind": "require_approval", "action": "deploy.release", "approvers": ["u-9"]}
	approvals.obligation("deploy.release", set()) == {"kind": "require_approval", "action": "deploy.release"}
}

test_malformed_and_unverifiable if {
	bad_time := object.union(good, {"expires_at": "tomorrow"})
	codes(approvals.deny("deploy.release", set())) == {"approval_malformed"} with input as with_approvals([bad_time])
	backwards := object.union(good, {"expires_at": "2026-11-24T08:00:00Z"})
	codes(approvals.deny("deploy.release", set())) == {"approval_malformed"} with input as with_approvals([backwards])
	no_time := json.remove(with_approvals([good]), ["context/time"])
	codes(approvals.deny("deploy.release", set())) == {"approval_unverifiable"} with input as no_time
}

test_one_good_approval_is_enough if {
	expired := object.union(good, {"id": "apr-0", "expires_at": "2026-11-24T10:00:00Z"})
	approvals.satisfied("deploy.release", set()) with input as with_approvals([expired, good])
}
