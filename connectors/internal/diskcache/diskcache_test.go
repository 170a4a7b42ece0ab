package diskcache

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

type payload struct {
	Stamp  string   `json:"stamp"`
	Tables []string `json:"tables"`
}

func TestSaveLoad(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "synclang")
	path, err := Path(dir, "dynamics-schema", "https://org.crm.dynamics.com\nv9.2")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().Truncate(time.Second)
	if err := Save(path, "k", now, payload{Stamp: "1!x", Tables: []string{"contact"}}); err != nil {
		t.Fatal(err)
	}
	var got payload
	saved, ok := Load(path, "k", &got)
	if !ok || !saved.Equal(now) || got.Stamp != "1!x" || len(got.Tables) != 1 {
		t.Fatalf("load: %v %v %+v", saved, ok, got)
	}
	if runtime.GOOS != "windows" {
		fi, _ := os.Stat(path)
		di, _ := os.Stat(dir)
		if fi.Mode().Perm() != 0o600 || di.Mode().Perm() != 0o700 {
			t.Errorf("file %o, directory %o; want 600, 700", fi.Mode().Perm(), di.Mode().Perm())
		}
	}
	if _, ok := Load(path, "another key", &got); ok {
		t.Error("a file saved under another key loaded")
	}
}

// TestUnusableFilesAreAbsent: whatever is in the file, Load says absent
// rather than failing or filling v with half a value.
func TestUnusableFilesAreAbsent(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.json")
	if err := Save(path, "k", time.Now(), payload{Stamp: "1!x", Tables: []string{"contact", "lead"}}); err != nil {
		t.Fatal(err)
	}
	whole, _ := os.ReadFile(path)
	for name, content := range map[string][]byte{
		"empty":                   {},
		"truncated":               whole[:len(whole)/2],
		"truncated by one":        whole[:len(whole)-2],
		"not JSON":                []byte("\x00\x01garbage"),
		"another format":          []byte(`{"format":99,"key":"k","saved":"2026-01-01T00:00:00Z","data":{}}`),
		"no data":                 []byte(`{"format":1,"key":"k","saved":"2026-01-01T00:00:00Z"}`),
		"data of a type v is not": []byte(`{"format":1,"key":"k","saved":"2026-01-01T00:00:00Z","data":{"stamp":7}}`),
		"saved in the future":     []byte(`{"format":1,"key":"k","saved":"2999-01-01T00:00:00Z","data":{"stamp":"1!x"}}`),
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			got := payload{Stamp: "untouched"}
			if _, ok := Load(path, "k", &got); ok || got.Stamp != "untouched" {
				t.Fatalf("loaded %v %+v", ok, got)
			}
		})
	}
	if _, ok := Load(filepath.Join(dir, "missing.json"), "k", &payload{}); ok {
		t.Error("a missing file loaded")
	}
}
