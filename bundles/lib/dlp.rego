# Data-loss prevention: patterns for content an agent must never send out (messages, PR bodies).
# Deliberately few and small (regorus caps compiled regex size; ASCII classes only). This is a seat
# belt, not a classifier: a match denies with `sensitive_content` and names the kind of data found.
package regent.lib.dlp

patterns := {
	"a US social security number": `(^|[^0-9])[0-9]{3}-[0-9]{2}-[0-9]{4}([^0-9]|$)`,
	"a payment card number": `(^|[^0-9])[0-9]{4}[ -]?[0-9]{4}[ -]?[0-9]{4}[ -]?[0-9]{4}([^0-9]|$)`,
	"an AWS access key id": `AKIA[0-9A-Z]{16}`,
	"a private key": `-----BEGIN [A-Z ]{0,20}PRIVATE KEY-----`,
	"an IBAN": `(^|[^A-Z0-9])[A-Z]{2}[0-9]{2}[A-Z0-9]{11,30}([^A-Z0-9]|$)`,
}

# One match over clean text: the patterns combined. Only text that matches is checked pattern by pattern.
any_pattern := concat("|", [concat("", ["(?:", p, ")"]) | some p in patterns])

# findings(text): the names of the patterns found in text (empty set for non-strings).
findings(text) := {name | some name, p in patterns; regex.match(p, text)} if {
	is_string(text)
	regex.match(any_pattern, text)
}

findings(text) := set() if {
	is_string(text)
	not regex.match(any_pattern, text)
}

findings(text) := set() if not is_string(text)
