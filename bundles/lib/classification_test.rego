package regent.lib.classification_test

import data.regent.lib.classification

clearance := {"employee": 1, "hr_admin": 2}

user(roles, org) := {"user": {"id": "u-1", "roles": roles, "attributes": {"org": org}}}

codes(s) := {r.code | some r in s}

test_internal_document_for_employee if {
	codes(classification.grants({"classification": "internal"})) == {"classification_cleared"} with input as user(["employee"], "emea")
		with data.regent.persona.clearance as clearance
}

test_confidential_needs_clearance_and_same_org if {
	doc := {"classification": "confidential", "org": "emea"}
	codes(classification.deny(doc)) == {"classification_exceeds_clearance"} with input as user(["employee"], "emea")
		with data.regent.persona.clearance as clearance
	codes(classification.deny(doc)) == {"document_other_org"} with input as user(["hr_admin"], "apac")
		with data.regent.persona.clearance as clearance
	codes(classification.grants(doc)) == {"classification_cleared_same_org"} with input as user(["hr_admin"], "emea")
		with data.regent.persona.clearance as clearance
	count(classification.grants(doc)) == 0 with input as user(["hr_admin"], "apac")
		with data.regent.persona.clearance as clearance
}

test_unclassified_is_restricted if {
	classification.level({"title": "x"}) == 3
	codes(classification.deny({"title": "x"})) == {"classification_exceeds_clearance"} with input as user(["hr_admin"], "emea")
		with data.regent.persona.clearance as clearance
}

test_no_roles_means_public_only if {
	classification.clearance == 0 with input as {"user": {"id": "u-1"}} with data.regent.persona.clearance as clearance
}
