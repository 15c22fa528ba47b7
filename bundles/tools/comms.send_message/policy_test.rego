package regent.tools_test.comms_send_message

import data.regent.tools.comms_send_message as tool

msg(tool_args) := {"action": {"kind": "state_change", "tool": {"name": "comms.send_message", "server": "comms-mcp", "args": tool_args}}}

ok := {"to": ["ana@example.com"], "subject": "Your laptop", "body": "It is ready for pickup."}

codes(s) := {r.code | some r in s}

test_internal_message if {
	codes(tool.grants) == {"internal_message"} with input as msg(ok)
	count(tool.deny) == 0 with input as msg(ok)
}

test_external_recipient if {
	codes(tool.deny) == {"external_recipient"} with input as msg(object.union(ok, {"to": ["ana@example.com", "x@evil.test"]}))
}

test_recipient_list_checked if {
	codes(tool.deny) == {"recipients_invalid"} with input as msg(object.union(ok, {"to": []}))
	codes(tool.deny) == {"recipients_invalid"} with input as msg(object.union(ok, {"to": "ana@example.com"}))
	codes(tool.deny) == {"recipients_invalid"} with input as msg(object.union(ok, {"to": [sprintf("u%s@example.com", [format_int(i, 10)]) | some i in numbers.range(1, 11)]}))
}

test_sizes if {
	codes(tool.deny) == {"subject_invalid"} with input as msg(object.union(ok, {"subject": ""}))
	codes(tool.deny) == {"body_invalid"} with input as msg(json.remove(ok, ["body"]))
}

test_dlp if {
	codes(tool.deny) == {"sensitive_content"} with input as msg(object.union(ok, {"body": "SSN 123-45-6789"}))
	codes(tool.deny) == {"sensitive_content"} with input as msg(object.union(ok, {"body": "card 4111 1111 1111 1111 thanks"}))
	codes(tool.deny) == {"sensitive_content"} with input as msg(object.union(ok, {"subject": "key AKIAABCDEFGHIJKLMNOP"}))
	count(tool.deny) == 0 with input as msg(object.union(ok, {"body": "ticket 123-45 is done"}))
}

test_attachments_follow_persona_config if {
	with_file := object.union(ok, {"attachments": ["report.pdf"]})
	count(tool.deny) == 0 with input as msg(with_file) with data.regent.persona.tool_config.comms_send_message as {"allow_attachments": true}
	codes(tool.deny) == {"attachments_not_allowed"} with input as msg(with_file) with data.regent.persona.tool_config.comms_send_message as {"allow_attachments": false}
}
