package check_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/lang"
	"github.com/synclang/synclang/lang/check"
	"github.com/synclang/synclang/lang/diag"
)

// TestCacheGivesWhatCheckGives: checking with a Cache gives the
// diagnostics and the plan checking without one gives, for every case of
// testdata, with one Cache carried from case to case (same file names,
// other connections and syncs), each case checked as it is, with its
// files moved down a line (every position changes), and as it is again.
func TestCacheGivesWhatCheckGives(t *testing.T) {
	cases, _ := filepath.Glob("testdata/*.txtar")
	cache, reg := &check.Cache{}, registry() // kinds are told apart by identity too
	for _, path := range cases {
		ar, err := txtar.ParseFile(path)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(path), ".txtar")
		snapshot := stableSnapshots(ar)
		for _, shift := range []string{"", "\n", ""} {
			var inputs []lang.Input
			for _, f := range ar.Files {
				if strings.HasSuffix(f.Name, ".sync") {
					inputs = append(inputs, lang.Input{Name: f.Name, Src: append([]byte(shift), f.Data...)})
				}
			}
			opts := lang.Options{Registry: reg, Snapshot: snapshot}.CheckOptions()
			want := checkRendered(t, inputs, opts)
			opts.Cache = cache
			if got := checkRendered(t, inputs, opts); got != want {
				t.Errorf("%s (shifted %q): with the cache\n%s\nwithout\n%s", name, shift, got, want)
			}
		}
	}
}

// stableSnapshots reads an archive's snapshots once each, so the cache,
// which tells snapshots apart by identity, can hit.
func stableSnapshots(ar *txtar.Archive) func(conn, file string) (*connector.Schema, string, error) {
	read := map[string]*connector.Schema{}
	return func(conn, file string) (*connector.Schema, string, error) {
		path := filepath.ToSlash(lang.SnapshotFile(conn, file))
		if s, ok := read[path]; ok {
			return s, path, nil
		}
		for _, f := range ar.Files {
			if f.Name != path {
				continue
			}
			var s connector.Schema
			if err := json.Unmarshal(f.Data, &s); err != nil {
				return nil, path, err
			}
			if err := s.Validate(); err != nil {
				return nil, path, err
			}
			read[path] = &s
			return &s, path, nil
		}
		return nil, "", nil
	}
}

// checkRendered checks inputs as lang.CheckParsed does and renders the
// diagnostics (as synclang check prints them, and as JSON) and the plan.
func checkRendered(t *testing.T, inputs []lang.Input, opts check.Options) string {
	t.Helper()
	files, diags := lang.Parse(inputs)
	p, ds := check.Check(files, opts)
	diags = diags.Extend(ds).Sort()
	var buf bytes.Buffer
	if err := diag.Write(&buf, diags, lang.Sources(inputs), diag.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	// The diagnostics as data too: the rendering leaves offsets out.
	if err := json.NewEncoder(&buf).Encode(diags); err != nil {
		t.Fatal(err)
	}
	if p != nil {
		if err := p.Encode(&buf); err != nil {
			t.Fatal(err)
		}
	}
	return buf.String()
}

// TestCacheKeysOnWhatASyncReads: a sync of the same text is checked
// again when what it reads changed: a connection's declarations (here the
// custom attribute a line writes), the
// line it starts on (same offset), its offset (same line), its file.
func TestCacheKeysOnWhatASyncReads(t *testing.T) {
	example, err := os.ReadFile("../../examples/contacts.sync")
	if err != nil {
		t.Fatal(err)
	}
	// A typo (unknown-field, with a range) in every variant, and a comment
	// between the connections and the sync that variants change.
	src := strings.Replace(string(example), "emailaddress1    <-> email", "emailadress1     <-> email", 1)
	src = strings.Replace(src, "\nsync contacts {", "\n# the sync\nsync contacts {", 1)
	declared := `  attribute "JobTitle" string                  # a custom attribute defined in People`
	if !strings.Contains(src, declared) || !strings.Contains(src, "# the sync\nsync contacts {") {
		t.Fatal("examples/contacts.sync changed; adjust this test")
	}
	lineMore := strings.Replace(src, "# the sync", "#\n#he sync", 1)         // same offsets
	offsetMoved := strings.Replace(src, "# the sync", "# the sync, more", 1) // same lines
	// Each variant differs from the one before it in one thing only (a
	// Check forgets the entries it did not use).
	variants := []struct{ name, file, src string }{
		{"as is", "a.sync", src},
		{"undeclared attribute", "a.sync", strings.Replace(src, declared, strings.Repeat(" ", len(declared)), 1)},
		{"as is again", "a.sync", src},
		{"another file", "b.sync", src},
		{"a line more, same offsets", "b.sync", lineMore},
		{"as is in b", "b.sync", src},
		{"same lines, offsets moved", "b.sync", offsetMoved},
	}
	cache, reg := &check.Cache{}, registry()
	for _, v := range variants {
		inputs := []lang.Input{{Name: v.file, Src: []byte(v.src)}}
		opts := lang.Options{Registry: reg, Snapshot: func(string, string) (*connector.Schema, string, error) { return nil, "", nil }}.CheckOptions()
		want := checkRendered(t, inputs, opts)
		opts.Cache = cache
		if got := checkRendered(t, inputs, opts); got != want {
			t.Errorf("%s: with the cache\n%s\nwithout\n%s", v.name, got, want)
		}
	}
}
