package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestExitCodes pins the typed exit codes: 0 ok, 1 errors, 2 usage.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		code int
		err  string
	}{
		{nil, exitUsage, "Usage: synclang COMMAND"},
		{[]string{"help"}, exitOK, "Commands:"},
		{[]string{"frobnicate"}, exitUsage, `unknown command "frobnicate"`},
		{[]string{"check", "--bogus"}, exitUsage, "unknown flag"},
		{[]string{"check", "--format", "xml", "../../examples"}, exitUsage, "--format must be one of"},
		{[]string{"check", "--help"}, exitOK, "Usage: synclang check"},
		{[]string{"check", "../../examples"}, exitOK, ""},
		{[]string{"check", "no/such/dir"}, exitError, "no/such/dir"},
		{[]string{"fmt", "--check", "../../examples"}, exitOK, ""},
		{[]string{"test", "../../examples"}, exitOK, "ok: 10 tests passed"},
		{[]string{"test", "../../examples/people-to-dynamics"}, exitOK, "ok: 3 tests passed"},
		{[]string{"test", "--run", "qualified", "../../examples"}, exitOK, "ok: 1 test passed"},
		{[]string{"test", "--format", "xml", "../../examples"}, exitUsage, "--format must be one of"},
		{[]string{"test", "--run", "(", "../../examples"}, exitUsage, "--run: error parsing regexp"},
		{[]string{"test", "no/such/dir"}, exitError, "no/such/dir"},
		{[]string{"schema", "push"}, exitUsage, "Usage: synclang schema"},
		{[]string{"version"}, exitOK, ""},
		{[]string{"run", "--help"}, exitOK, "Usage: synclang run"},
		{[]string{"plan", "--help"}, exitOK, "terraform plan -detailed-exitcode"},
		{[]string{"serve", "--help"}, exitOK, "Usage: synclang serve"},
		{[]string{"status", "--help"}, exitOK, "Usage: synclang status"},
		{[]string{"rejects", "--help"}, exitOK, "synclang rejects retry"},
		{[]string{"demo", "--help"}, exitOK, "Usage: synclang demo"},
		{[]string{"run", "no/such/dir"}, exitError, "no/such/dir"},
		{[]string{"plan", "--bogus"}, exitUsage, "unknown flag"},
		{[]string{"serve", "--sync", "nope", "../../examples"}, exitUsage, `no sync "nope"`},
		{[]string{"rejects", "--limit", "-1", "../../examples"}, exitUsage, "--limit must be 0 or more"},
		{[]string{"demo", "--limits", "fast"}, exitUsage, "--limits must be one of off, real"},
		{[]string{"demo", "extra"}, exitUsage, `unexpected argument "extra"`},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := Main(tt.args, Stdio{Out: &out, Err: &errb})
		if code != tt.code || !strings.Contains(errb.String(), tt.err) {
			t.Errorf("synclang %s: exit %d, stderr %q; want exit %d with %q", strings.Join(tt.args, " "), code, errb.String(), tt.code, tt.err)
		}
	}
}
