# Rate limits from context.usage, which the agent runtime fills with its own counters:
#   {"tool_calls_last_minute": 3, "tool_calls_last_hour": 40}
# Counters count calls made BEFORE this one, so a limit of N allows N calls per window: the call is
# refused when used >= N. Limits are integers (no float thresholds; regorus numbers are f64).
package regent.lib.rate

import data.regent.lib.decision.reason

# limit name -> usage counter
counters := {"per_minute": "tool_calls_last_minute", "per_hour": "tool_calls_last_hour"}

windows := {"per_minute": "minute", "per_hour": "hour"}

# deny(limits): reasons for every limit in `limits` ({"per_minute": 30, "per_hour": 600}) that is hit.
# A missing or non-numeric counter cannot be checked, so it denies too (fail closed).
deny(limits) := {r | some name, limit in limits; some r in check(name, limit)}

check(name, _) := {reason("usage_missing", msg)} if {
	counter := counters[name]
	not is_number(object.get(usage, counter, null))
	msg := sprintf("context.usage.%s is missing, so the rate limit cannot be enforced", [counter])
}

check(name, limit) := {reason("rate_limit_exceeded", msg)} if {
	counter := counters[name]
	used := usage[counter]
	is_number(used)
	used >= limit
	msg := sprintf("rate limit of %s tool calls per %s reached (%s already made)", [
		format_int(limit, 10), windows[name], format_int(used, 10),
	])
}

usage := input.context.usage if {
	is_object(input.context)
	is_object(input.context.usage)
}

default usage := {}

# effective(a, b): the stricter of two limit objects, key by key (a key in only one of them is kept).
effective(a, b) := {name: min(values) |
	some name in object.keys(a) | object.keys(b)
	values := {v | some limits in [a, b]; v := limits[name]}
}
