# Source-repository scoping shared by the git tools and the dev-bot's source_file resources.
#
# The persona configures data.regent.persona.repositories:
#   {"allow": ["^acme/[a-z0-9._-]{1,100}$"], "deny": ["^acme/(security|secrets)-"]}
# A repository is allowed when it matches an allow pattern and no deny pattern. No configuration = no
# repository is allowed (fail closed).
package regent.lib.scm

import data.regent.lib.args

repo_allowed(repo) if {
	args.matches_any(data.regent.persona.repositories.allow, repo)
	not args.matches_any(deny_patterns, repo)
}

deny_patterns := data.regent.persona.repositories.deny

default deny_patterns := []

# Branch names: ASCII, no "..", no leading "-" or "/", no trailing "/" or ".lock" (git's own rules, trimmed).
branch_valid(b) if {
	args.matches(`^[A-Za-z0-9_][A-Za-z0-9._/-]{0,199}$`, b)
	not contains(b, "..")
	not contains(b, "//")
	not endswith(b, "/")
	not endswith(b, ".lock")
}

# protected(b): branches nobody (and no agent) pushes to directly.
protected_patterns := [`^main$`, `^master$`, `^release/`, `^hotfix/`]

protected(b) if args.matches_any(protected_patterns, b)
