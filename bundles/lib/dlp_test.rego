package regent.lib.dlp_test

import data.regent.lib.dlp

test_findings if {
	dlp.findings("my ssn is 123-45-6789.") == {"a US social security number"}
	dlp.findings("-----BEGIN RSA PRIVATE KEY-----") == {"a private key"}
	dlp.findings("pay to DE89370400440532013000 today") == {"an IBAN"}
	dlp.findings("order 1234-5678 shipped") == set()
	dlp.findings(42) == set()
}
