# Time handling: safe RFC 3339 parsing, "now" from context.time, change windows, calendar helpers.
#
# Policies never call time.now_ns(): a decision must be reproducible from its logged input, so "now" is
# input.context.time. time.parse_rfc3339_ns raises on a bad string (and our engine's built-in errors are
# strict), so every timestamp is validated first: a strict pattern (uppercase T/Z only - regorus also
# accepts "z" and a space, OPA does not), plus a day-of-month check (Feb 30 matches the pattern but both
# engines refuse to parse it). Years are limited to 1900-2099, well inside the int64-nanosecond range.
package regent.lib.timewin

ts_pattern := `^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$`

date_pattern := `^(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$`

# valid(ts): ts is a string that time.parse_rfc3339_ns accepts in both OPA and regorus.
valid(ts) if {
	is_string(ts)
	regex.match(ts_pattern, ts)
	real_date(substring(ts, 0, 10))
}

# valid_date(s): s is a real calendar date "YYYY-MM-DD".
valid_date(s) if {
	is_string(s)
	regex.match(date_pattern, s)
	real_date(s)
}

# real_date("YYYY-MM-DD") (pattern already checked): rejects day 29-31 where the month is shorter.
real_date(d) if {
	md := substring(d, 5, 5)
	not md in {"02-30", "02-31", "04-31", "06-31", "09-31", "11-31"}
	not feb29_in_common_year(d)
}

feb29_in_common_year(d) if {
	substring(d, 5, 5) == "02-29"
	not leap_year(substring(d, 0, 4))
}

# Leap years from the 4-digit year string, without to_number (which rejects leading zeros in OPA and
# regorus alike) - the last two digits decide divisibility by 4; "00" years need divisibility by 400.
leap_year(y) if {
	yy := substring(y, 2, 2)
	yy != "00"
	yy in leap_yy
}

leap_year(y) if y in {"1600", "2000", "2400"}

# The two-digit year endings divisible by 4 (a literal: a comprehension would be rebuilt on every
# decision that reads this package).
leap_yy := {
	"00", "04", "08", "12", "16", "20", "24", "28", "32", "36", "40", "44", "48",
	"52", "56", "60", "64", "68", "72", "76", "80", "84", "88", "92", "96",
}

# parse_ns(ts): nanoseconds since the epoch (UTC), undefined when ts is not valid.
parse_ns(ts) := time.parse_rfc3339_ns(ts) if valid(ts)

# date_ns("YYYY-MM-DD"): midnight UTC of that date, undefined when invalid.
date_ns(s) := time.parse_rfc3339_ns(concat("", [s, "T00:00:00Z"])) if valid_date(s)

# now_ns: the decision time. Undefined when context.time is absent or malformed; guards that need it
# then deny with `time_missing`.
now_ns := parse_ns(input.context.time) if is_object(input.context)

# date_int(ns): the UTC calendar date as an integer yyyymmdd, e.g. 20261124 (comparable with <, >=).
date_int(ns) := (d[0] * 10000 + d[1] * 100) + d[2] if d := time.date(ns)

# day_of_month(ns): 1..31, UTC.
day_of_month(ns) := time.date(ns)[2]

# --- change windows ------------------------------------------------------------------------------------
# A window is {"days": ["Monday", ...], "start_hour": 9, "end_hour": 16}: the listed UTC weekdays, from
# start_hour:00 inclusive to end_hour:00 exclusive. Integers only (no float thresholds).

default_window := {"days": ["Monday", "Tuesday", "Wednesday", "Thursday"], "start_hour": 9, "end_hour": 16}

# The persona may set its own window at data.regent.persona.change_window.
change_window := w if {
	w := data.regent.persona.change_window
} else := default_window

in_window(ns, w) if {
	time.weekday(ns) in w.days
	hour := time.clock(ns)[0]
	hour >= w.start_hour
	hour < w.end_hour
}

describe_window(w) := sprintf("%s %s:00-%s:00 UTC", [
	concat("/", w.days),
	format_int(w.start_hour, 10),
	format_int(w.end_hour, 10),
])
