package regent.lib.rate_test

import data.regent.lib.rate

usage(m, h) := {"context": {"usage": {"tool_calls_last_minute": m, "tool_calls_last_hour": h}}}

codes(s) := {r.code | some r in s}

limits := {"per_minute": 10, "per_hour": 100}

test_under_limits if {
	count(rate.deny(limits)) == 0 with input as usage(9, 99)
}

test_limit_reached if {
	codes(rate.deny(limits)) == {"rate_limit_exceeded"} with input as usage(10, 0)
	count(rate.deny(limits)) == 2 with input as usage(10, 100)
}

test_missing_usage_fails_closed if {
	codes(rate.deny(limits)) == {"usage_missing"} with input as {"context": {}}
	codes(rate.deny(limits)) == {"usage_missing"} with input as {"context": {"usage": {"tool_calls_last_minute": 1}}}
	codes(rate.deny(limits)) == {"usage_missing"} with input as usage("1", 1)
}

test_effective_takes_the_stricter_limit if {
	rate.effective({"per_minute": 30, "per_hour": 600}, {"per_minute": 5}) == {"per_minute": 5, "per_hour": 600}
	rate.effective({"per_minute": 30}, {}) == {"per_minute": 30}
}
