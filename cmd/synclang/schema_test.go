package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synclang/synclang/connectors/connector"
	peopleemu "github.com/synclang/synclang/connectors/people/emulator"
)

// TestSchemaPullThenCheck pulls a People account's custom attributes into a
// snapshot, and check then knows an attribute it rejected before.
func TestSchemaPullThenCheck(t *testing.T) {
	t.Parallel()
	emu, srv := peopleemu.NewTestServer(t, peopleemu.Options{Limits: "off"})
	if err := emu.DefineAttribute("Loyalty Tier", "STRING"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	src := `connection crm dynamics {
  url           = "https://org0000000.crm4.dynamics.com"
  tenant        = "contoso.onmicrosoft.com"
  client_id     = "11111111-2222-3333-4444-555555555555"
  client_secret = secret("AZURE_CLIENT_SECRET")
}

connection infobip people {
  url     = env("INFOBIP_BASE_URL")
  api_key = secret("INFOBIP_API_KEY")
}

sync contacts {
  crm.contact -> infobip.customer
  link contactid <-> externalId
  jobtitle -> custom["Loyalty Tier"]
}
`
	if err := os.WriteFile(filepath.Join(dir, "a.sync"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"INFOBIP_BASE_URL": srv.URL, "INFOBIP_API_KEY": emu.APIKey()}
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := Main(args, Stdio{Out: &out, Err: &errb, Getenv: func(k string) string { return env[k] }})
		return code, out.String(), errb.String()
	}
	if code, _, stderr := run("check", dir); code != exitError || !strings.Contains(stderr, `no custom attribute "Loyalty Tier"`) {
		t.Fatalf("before the pull: exit %d, %s", code, stderr)
	}
	code, stdout, stderr := run("schema", "pull", "infobip", dir)
	if code != exitOK {
		t.Fatalf("schema pull: exit %d: %s", code, stderr)
	}
	snap := filepath.Join(dir, "infobip.schema.json")
	if !strings.Contains(stdout, "wrote "+filepath.ToSlash(snap)) {
		t.Errorf("stdout %q", stdout)
	}
	s, err := connector.ReadSchemaFile(snap)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := s.Entity("customer"); !ok {
		t.Fatal("no customer entity")
	} else if f, ok := e.Field("custom.Loyalty Tier"); !ok || !f.Custom {
		t.Fatalf("snapshot lacks the attribute: %+v", e.FieldNames())
	}
	if code, _, stderr := run("check", dir); code != exitOK {
		t.Fatalf("after the pull: exit %d, %s", code, stderr)
	}
	// A wrong key is an error that names the connection, not the key.
	env["INFOBIP_API_KEY"] = "wrong-key-value"
	code, _, stderr = run("schema", "pull", "infobip", dir)
	if code != exitError || !strings.Contains(stderr, "infobip") || strings.Contains(stderr, "wrong-key-value") {
		t.Errorf("bad key: exit %d, %s", code, stderr)
	}
}
