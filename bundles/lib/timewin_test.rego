package regent.lib.timewin_test

import data.regent.lib.timewin

test_valid_timestamps if {
	timewin.valid("2026-11-24T10:15:00Z")
	timewin.valid("2026-11-24T10:15:00.123456789Z")
	timewin.valid("2026-11-24T10:15:00+02:00")
	timewin.valid("2024-02-29T00:00:00Z")
	timewin.valid("2000-02-29T00:00:00Z")
}

test_invalid_timestamps_are_rejected_before_parsing if {
	not timewin.valid("2026-11-24t10:15:00z") # regorus would parse it, OPA would not
	not timewin.valid("2026-11-24 10:15:00Z")
	not timewin.valid("2026-02-30T10:00:00Z")
	not timewin.valid("2025-02-29T10:00:00Z")
	not timewin.valid("1900-02-29T10:00:00Z")
	not timewin.valid("2026-04-31T10:00:00Z")
	not timewin.valid("2026-13-01T00:00:00Z")
	not timewin.valid("2026-11-24T24:00:00Z")
	not timewin.valid("2026-11-24T10:15:00+24:00")
	not timewin.valid(1795515300)
	not timewin.valid("yesterday")
}

test_now_from_context if {
	timewin.now_ns == 1795515300000000000 with input as {"context": {"time": "2026-11-24T10:15:00Z"}}
	not timewin.now_ns with input as {"context": {"time": "2026-11-24"}}
	not timewin.now_ns with input as {"context": {}}
	not timewin.now_ns with input as {}
}

test_default_window_mon_thu_9_to_16_utc if {
	w := timewin.default_window
	timewin.in_window(timewin.parse_ns("2026-11-24T09:00:00Z"), w) # Tuesday 09:00
	timewin.in_window(timewin.parse_ns("2026-11-26T15:59:59Z"), w) # Thursday 15:59
	not timewin.in_window(timewin.parse_ns("2026-11-24T16:00:00Z"), w) # end is exclusive
	not timewin.in_window(timewin.parse_ns("2026-11-24T08:59:59Z"), w)
	not timewin.in_window(timewin.parse_ns("2026-11-27T10:00:00Z"), w) # Friday
	not timewin.in_window(timewin.parse_ns("2026-11-24T10:15:00+02:00"), w) # 08:15 UTC
	timewin.in_window(timewin.parse_ns("2026-11-24T08:15:00-02:00"), w) # 10:15 UTC
}

test_calendar_helpers if {
	timewin.date_int(timewin.parse_ns("2026-11-24T23:30:00-02:00")) == 20261125
	timewin.day_of_month(timewin.parse_ns("2026-11-24T10:00:00Z")) == 24
	timewin.date_ns("2026-11-24") == timewin.parse_ns("2026-11-24T00:00:00Z")
	not timewin.date_ns("2026-11-31")
	timewin.describe_window(timewin.default_window) == "Monday/Tuesday/Wednesday/Thursday 9:00-16:00 UTC"
}
