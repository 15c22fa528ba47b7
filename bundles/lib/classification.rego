# Document classification vs. user clearance, shared by every persona's document-like resources
# (HR handbook pages, IT knowledge-base articles, engineering design docs).
#
# Levels: public 0 < internal 1 < confidential 2 < restricted 3. A resource without a known
# classification is treated as restricted (fail closed). A user's clearance is the highest level any of
# their roles grants in the persona's data.regent.persona.clearance map ({"employee": 1, "hr_admin": 2});
# no matching role = public only. Confidential and restricted documents additionally require the user's
# org to equal the document's org.
package regent.lib.classification

import data.regent.lib.ctx
import data.regent.lib.decision.reason

levels := {"public": 0, "internal": 1, "confidential": 2, "restricted": 3}

level(resource) := lvl if lvl := levels[resource.classification]
else := 3

clearance := max({lvl | some role in ctx.roles; lvl := data.regent.persona.clearance[role]} | {0})

org_bound(resource) if level(resource) >= 2

label(resource) := resource.classification if levels[resource.classification]
else := "unclassified (treated as restricted)"

# deny(resource): why the user may not see the resource (empty set when they may).
deny(resource) := {reason("classification_exceeds_clearance", msg)} if {
	level(resource) > clearance
	msg := sprintf("the document is %s, above the user's clearance", [label(resource)])
} else := {reason("document_other_org", msg)} if {
	org_bound(resource)
	not same_org(resource)
	msg := sprintf("%s documents are visible only inside their own org", [label(resource)])
} else := set()

# grants(resource): why the user may see it (empty set when deny(resource) is not empty).
grants(resource) := set() if {
	count(deny(resource)) > 0
} else := {reason("classification_cleared_same_org", msg)} if {
	org_bound(resource)
	msg := sprintf("the document is %s, within the user's clearance and in the user's org", [label(resource)])
} else := {reason("classification_cleared", msg)} if {
	msg := sprintf("the document is %s and within the user's clearance", [label(resource)])
}

same_org(resource) if {
	ctx.nonempty(resource.org)
	resource.org == ctx.user_attr("org")
}
