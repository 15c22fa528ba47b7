# A conservative SQL statement classifier for database tools.
#
# It does not parse SQL; it refuses what it cannot classify safely:
# - comments (--, /*, #) are refused: they can hide a second statement or keywords;
# - more than one statement (a ';' anywhere but at the very end) is refused;
# - a statement is "ddl" if any DDL keyword appears as a word, else "dml" if any DML keyword appears,
#   else "read" if it starts with a read verb, else "unknown". Keywords inside string literals count
#   too - a false positive denies, which is the safe direction.
package regent.lib.sql

read_verbs := {"SELECT", "WITH", "EXPLAIN", "SHOW", "DESCRIBE", "VALUES"}

dml_keywords := {"INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "COPY", "CALL", "EXEC", "EXECUTE"}

ddl_keywords := {"DROP", "TRUNCATE", "ALTER", "CREATE", "GRANT", "REVOKE", "RENAME", "VACUUM"}

normalized(stmt) := upper(trim_space(stmt))

has_comment(stmt) if contains(stmt, "--")

has_comment(stmt) if contains(stmt, "/*")

has_comment(stmt) if contains(stmt, "#")

multiple_statements(stmt) if contains(trim_right(trim_space(stmt), "; "), ";")

# verb(stmt): the first word, upper-cased; undefined if the statement does not start with a letter.
verb(stmt) := regex.find_n(`^[A-Z]+`, normalized(stmt), 1)[0]

# A keyword counts only as a whole word: not preceded or followed by a letter, digit or underscore.
# One pattern per class (an alternation of its keywords), so a statement costs two matches, not 17.
ddl_pattern := keyword_pattern(ddl_keywords)

dml_pattern := keyword_pattern(dml_keywords)

keyword_pattern(keywords) := concat("", [`(^|[^A-Z0-9_])(`, concat("|", sort(keywords)), `)([^A-Z0-9_]|$)`])

# class(stmt): "ddl" if any DDL keyword appears, else "dml" if any DML keyword appears, else "read" if
# it starts with a read verb, else "unknown".
class(stmt) := "ddl" if {
	regex.match(ddl_pattern, normalized(stmt))
} else := "dml" if {
	regex.match(dml_pattern, normalized(stmt))
} else := "read" if {
	starts_with_read_verb(stmt)
} else := "unknown"

starts_with_read_verb(stmt) if verb(stmt) in read_verbs

writes(stmt) if class(stmt) in {"dml", "ddl"}

# unbounded_write(stmt): UPDATE/DELETE without a WHERE clause (touches every row).
unbounded_write(stmt) if {
	verb(stmt) in {"UPDATE", "DELETE"}
	not regex.match(`(^|[^A-Z0-9_])WHERE([^A-Z0-9_]|$)`, normalized(stmt))
}
