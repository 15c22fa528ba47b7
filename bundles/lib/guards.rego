# Pre-execution checks for destructive actions (deploys, restarts, privileged grants, schema changes).
#
#   guards.preexec("deploy.release")   change window + approval, the standard production gate
#   guards.window(w)                   only the change window
#   guards.time_required               only "context.time must be present and valid"
#
# Each returns a set of deny reasons; empty means the gate is passed. Tools decide WHEN a gate applies
# (e.g. only in production, only for destructive commands) and add approvals.obligation(...) so the
# runtime knows an approval would unblock the action.
package regent.lib.guards

import data.regent.lib.approvals
import data.regent.lib.decision.reason
import data.regent.lib.timewin

preexec(action) := window(timewin.change_window) | approvals.deny(action, set())

time_required := {reason("time_missing", "context.time is missing or not a valid RFC 3339 timestamp; time-dependent checks fail closed")} if {
	not timewin.now_ns
}

default time_required := set()

window(_) := time_required if not timewin.now_ns

window(w) := set() if timewin.in_window(timewin.now_ns, w)

window(w) := {reason("outside_change_window", msg)} if {
	timewin.now_ns
	not timewin.in_window(timewin.now_ns, w)
	msg := sprintf("changes are only allowed %s; it is %s %s", [
		timewin.describe_window(w), time.weekday(timewin.now_ns), input.context.time,
	])
}
