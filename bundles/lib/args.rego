# Small, type-safe argument validators shared by the tool modules. Each one is false/undefined (never
# an error) for values of the wrong type, so tools can write `not args.string_max(x, 200)` safely.
package regent.lib.args

# string_between(x, lo, hi): a string whose length (in characters) is within [lo, hi].
string_between(x, lo, hi) if {
	is_string(x)
	count(x) >= lo
	count(x) <= hi
}

# matches(pattern, x): x is a string matching pattern. Patterns use ASCII classes only ([a-z0-9_-]):
# \w and \s match Unicode in regorus but ASCII in OPA.
matches(pattern, x) if {
	is_string(x)
	regex.match(pattern, x)
}

# matches_any(patterns, x): x matches at least one pattern of the array/set.
matches_any(patterns, x) if {
	is_string(x)
	some p in patterns
	regex.match(p, x)
}

# int_between(x, lo, hi): an integral number within [lo, hi].
int_between(x, lo, hi) if {
	is_number(x)
	x == floor(x)
	x >= lo
	x <= hi
}

# string_array(x, lo, hi, pattern): an array of lo..hi strings, each matching pattern.
string_array(x, lo, hi, pattern) if {
	is_array(x)
	count(x) >= lo
	count(x) <= hi
	every s in x {
		matches(pattern, s)
	}
}

# as_set(x): the string elements of an array or set, as a set (anything else: empty set).
as_set(x) := {s | some s in x; is_string(s)} if is_array(x)

as_set(x) := {s | some s in x; is_string(s)} if is_set(x)

as_set(x) := set() if {
	not is_array(x)
	not is_set(x)
}

# one_of(x, allowed): x is a member of the set/array `allowed`.
one_of(x, allowed) if {
	some a in allowed
	a == x
}
