# comms.send_message - send an e-mail from the agent's mailbox. Shared by hr-bot and it-bot.
#
# An outbound message is the easiest way for an agent to leak data, so: internal recipients only
# (allowed_domains), a bounded recipient list, bounded sizes, attachments only where the persona allows
# them, and a DLP scan of subject and body (lib/dlp.rego). The tool's rate limit (data.json, 5/min)
# tightens the persona's.
#
# Configuration: data.json `config`, overridden per persona by data.regent.persona.tool_config.comms_send_message
# (hr-bot turns attachments off).
package regent.tools.comms_send_message

import data.regent.lib.args
import data.regent.lib.ctx
import data.regent.lib.decision.reason
import data.regent.lib.dlp

name := "comms.send_message"

server := "comms-mcp"

kinds := {"tool_call", "state_change"}

# Every rule below starts with `called`, so the module only ever speaks for its own tool, also when it is
# evaluated as a whole (tests, lib/core_test.rego). Personas reach it through grant.rego.
called if input.action.tool.name == name

cfg := object.union(data.regent.tools.comms_send_message.config, persona_cfg)

persona_cfg := data.regent.persona.tool_config.comms_send_message

default persona_cfg := {}

email_pattern := `^[a-z0-9._+-]{1,64}@[a-z0-9.-]{1,253}$`

deny contains reason("recipients_invalid", msg) if {
	called
	not args.string_array(ctx.arg("to"), 1, cfg.max_recipients, email_pattern)
	msg := sprintf("args.to must list 1 to %s lower-case e-mail addresses", [format_int(cfg.max_recipients, 10)])
}

deny contains reason("external_recipient", msg) if {
	called
	count(external) > 0
	msg := sprintf("only %s addresses may be messaged; refused: %s", [concat(", ", cfg.allowed_domains), concat(", ", sort(external))])
}

deny contains reason("subject_invalid", msg) if {
	called
	not args.string_between(ctx.arg("subject"), 1, cfg.max_subject)
	msg := sprintf("args.subject must be 1 to %s characters", [format_int(cfg.max_subject, 10)])
}

deny contains reason("body_invalid", msg) if {
	called
	not args.string_between(ctx.arg("body"), 1, cfg.max_body)
	msg := sprintf("args.body must be 1 to %s characters", [format_int(cfg.max_body, 10)])
}

deny contains reason("attachments_not_allowed", "this persona may not send attachments") if {
	called
	has_attachments
	not cfg.allow_attachments
}

deny contains reason("sensitive_content", msg) if {
	called
	found := dlp.findings(ctx.args.subject) | dlp.findings(ctx.args.body)
	count(found) > 0
	msg := sprintf("the message appears to contain %s", [concat(" and ", sort(found))])
}

grants contains reason("internal_message", "a message to internal recipients that passed the content checks") if {
	called
	args.string_array(ctx.args.to, 1, cfg.max_recipients, email_pattern)
}

# --- helpers --------------------------------------------------------------------------------------------

external := {addr |
	some addr in args.as_set(ctx.args.to)
	not internal_address(addr)
}

internal_address(addr) if split(addr, "@")[1] in cfg.allowed_domains

has_attachments if {
	is_array(ctx.args.attachments)
	count(ctx.args.attachments) > 0
}
