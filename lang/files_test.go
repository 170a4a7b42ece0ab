package lang_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/internal/kinds"
	"github.com/synclang/synclang/lang"
	"github.com/synclang/synclang/lang/parser"
)

const crmSync = `connection crm dynamics {
  url           = "https://org0000000.crm4.dynamics.com"
  tenant        = env("AZURE_TENANT_ID")
  client_id     = env("AZURE_CLIENT_ID")
  client_secret = secret("AZURE_CLIENT_SECRET")
}
connection infobip people {
  url     = "https://xxxxx.api.infobip.com"
  api_key = secret("INFOBIP_API_KEY")
}
sync contacts {
  infobip.customer -> crm.contact
  link externalId <-> contactid
  firstName -> new_f299999
}
`

// TestReadFileRefusesSpecialFiles: only regular files are read. A FIFO
// blocked check forever and a symlink to /dev/zero grew to 7.5 GB.
func TestReadFileRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	link := func(name, target string) string {
		path := filepath.Join(dir, name)
		if err := os.Symlink(target, path); err != nil {
			t.Skip("no symlinks here:", err)
		}
		return path
	}
	fifo := filepath.Join(dir, "fifo.sync")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	ok := write("ok.sync", "# fine\n")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	below := filepath.Join(dir, "sub", "below.sync")
	if err := os.WriteFile(below, []byte("# below\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, want string
	}{
		{fifo, "a named pipe (FIFO); synclang reads only regular files"},
		{"/dev/zero", "a device; synclang reads only regular files"},
		{link("zero.sync", "/dev/zero"), "outside its directory"},
		{link("environ.sync", "/proc/self/environ"), "outside its directory"},
		{link("up.sync", filepath.Join("..", filepath.Base(dir), "ok.sync")), ""},
		{link("fifolink.sync", "fifo.sync"), "a named pipe (FIFO)"},
		{link("sub.sync", "sub/below.sync"), ""},
		{link("dirlink.sync", "sub"), "a directory"},
		{ok, ""},
		{write("big.json", strings.Repeat(" ", 2000)), "larger than 1 KiB"},
	} {
		done := make(chan error, 1)
		go func() {
			_, err := lang.ReadFile(context.Background(), tc.path, 1<<10)
			done <- err
		}()
		select {
		case err := <-done:
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("%s: %v", tc.path, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("%s: got %v, want %q", tc.path, err, tc.want)
			}
		case <-time.After(time.Minute):
			t.Fatalf("%s: ReadFile still reading after a minute", tc.path)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := lang.LoadContext(ctx, []string{ok}); !errors.Is(err, context.Canceled) {
		t.Errorf("LoadContext with a cancelled context: %v", err)
	}
}

// TestLoadKeepsTooLargeForTheParser: a .sync file over the limit is read
// only just past it, and the parser reports it.
func TestLoadKeepsTooLargeForTheParser(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.sync")
	if err := os.WriteFile(path, []byte(strings.Repeat("a", 10<<20)), 0o644); err != nil {
		t.Fatal(err)
	}
	inputs, err := lang.Load([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(inputs[0].Src); n != parser.MaxFileSize+1 {
		t.Errorf("read %d bytes of a 10 MB file", n)
	}
	_, diags := lang.Compile(inputs, lang.Options{Registry: kinds.Registry()})
	if len(diags) != 1 || diags[0].Code != "limit" {
		t.Errorf("diagnostics: %v", diags)
	}
}

// TestLargeSnapshotLoadsInLinearTime: merging a snapshot into the standard
// schema indexed nothing and sorted after every field, so 40,000 fields
// took 10 s and 300,000 never finished. The bound is a minute (about 1 s
// after the fix, hours before).
func TestLargeSnapshotLoadsInLinearTime(t *testing.T) {
	const n = 300_000
	dir := t.TempDir()
	fields := []*connector.Field{{Name: "contactid", Type: connector.ID}}
	for i := range n {
		fields = append(fields, &connector.Field{Name: fmt.Sprintf("new_f%d", i), Type: connector.String})
	}
	entities := []*connector.Entity{{Name: "contact", Key: "contactid", Fields: fields}}
	for i := range 40_000 {
		entities = append(entities, &connector.Entity{Name: fmt.Sprintf("new_t%d", i), Key: "id", Fields: []*connector.Field{{Name: "id", Type: connector.ID}}})
	}
	data, err := json.Marshal(&connector.Schema{Version: connector.SchemaVersion, Kind: "dynamics", Entities: entities})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "crm.schema.json"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "a.sync"), []byte(crmSync), 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		inputs, err := lang.Load([]string{dir})
		if err != nil {
			done <- err
			return
		}
		_, diags := lang.Compile(inputs, lang.Options{Registry: kinds.Registry()})
		done <- diags.Err()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(time.Minute):
		t.Fatal("a snapshot of 300,000 fields is still loading after a minute")
	}
}
