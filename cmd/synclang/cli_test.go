package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestExitCodes pins the typed exit codes: 0 ok, 1 errors, 2 usage.
func TestExitCodes(t *testing.T) {
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
		{[]string{"schema", "push"}, exitUsage, "Usage: synclang schema"},
		{[]string{"version"}, exitOK, ""},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := Main(tt.args, Stdio{Out: &out, Err: &errb})
		if code != tt.code || !strings.Contains(errb.String(), tt.err) {
			t.Errorf("synclang %s: exit %d, stderr %q; want exit %d with %q", strings.Join(tt.args, " "), code, errb.String(), tt.code, tt.err)
		}
	}
}
