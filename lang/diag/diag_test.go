package diag

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func sample() (Diagnostics, map[string]*Source) {
	src := NewSource("a.sync", []byte("sync s {\n\tcrm.contact <-> x.y\n  firstnme <-> firstName\n}\n"))
	ds := Diagnostics{
		Errorf(src.Range(32, 40), "unknown-field", "Unknown field", "crm.contact has no field %q. Did you mean %q?", "firstnme", "firstname"),
		Warningf(src.Range(10, 29), "no-identity", "No link or match", "every run creates records"),
	}
	ds[0].Related = []Related{{Message: "declared here", Subject: src.Range(0, 4)}}
	return ds, map[string]*Source{"a.sync": src}
}

func TestWriteText(t *testing.T) {
	ds, srcs := sample()
	var b bytes.Buffer
	if err := Write(&b, ds, srcs, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := `a.sync:3:3: error: Unknown field [unknown-field]
  crm.contact has no field "firstnme". Did you mean "firstname"?
  |
3 |   firstnme <-> firstName
  |   ^^^^^^^^
  a.sync:1:1: declared here
a.sync:2:2: warning: No link or match [no-identity]
  every run creates records
  |
2 |     crm.contact <-> x.y
  |     ^^^^^^^^^^^^^^^^^^^
`
	if b.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", b.String(), want)
	}
	b.Reset()
	_ = Write(&b, ds, srcs, WriteOptions{Color: true})
	if !strings.Contains(b.String(), "\x1b[") {
		t.Error("no colour with Color set")
	}
}

func TestWriteJSON(t *testing.T) {
	ds, _ := sample()
	var b bytes.Buffer
	if err := WriteJSON(&b, ds); err != nil {
		t.Fatal(err)
	}
	var rep JSONReport
	if err := json.Unmarshal(b.Bytes(), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Version != 1 || rep.Errors != 1 || rep.Warnings != 1 || len(rep.Diagnostics) != 2 {
		t.Fatalf("report %+v", rep)
	}
	d := rep.Diagnostics[0]
	if d.Severity != Error || d.Code != "unknown-field" || d.Range.File != "a.sync" || d.Range.Start.Line != 3 || d.Range.Start.Column != 3 || d.Range.End.Column != 11 {
		t.Errorf("diagnostic %+v", d)
	}
	// Arrows print as written, and a suggestion travels as data.
	b.Reset()
	arrow := Errorf(Range{}, "direction-mismatch", "Wrong arrow", "write the line with <- not <->.%s", DidYouMean("emailadress1", []string{"emailaddress1"}))
	_ = WriteJSON(&b, Diagnostics{arrow})
	if !strings.Contains(b.String(), "<- not <->") || !strings.Contains(b.String(), `"suggested": "emailaddress1"`) {
		t.Errorf("JSON escapes the arrows or drops the suggestion: %s", b.String())
	}
	b.Reset()
	_ = WriteJSON(&b, nil)
	if !strings.Contains(b.String(), `"diagnostics": []`) {
		t.Errorf("empty report: %s", b.String())
	}
}

func TestWriteGitHubEscapes(t *testing.T) {
	src := NewSource("dir,x/a:b.sync", []byte("x\n"))
	ds := Diagnostics{Errorf(src.Range(0, 1), "syntax", "Syntax error", "100%% wrong\nsecond line")}
	var b bytes.Buffer
	_ = WriteGitHub(&b, ds)
	want := "::error file=dir%2Cx/a%3Ab.sync,line=1,col=1,endLine=1,endColumn=2,title=syntax::Syntax error: 100%25 wrong%0Asecond line\n"
	if b.String() != want {
		t.Errorf("got  %q\nwant %q", b.String(), want)
	}
}

func TestSortDedupAndErr(t *testing.T) {
	ds, _ := sample()
	ds = append(ds, ds[0])
	ds = ds.Sort()
	if len(ds) != 2 || ds[0].Subject.Start.Line != 2 {
		t.Fatalf("sorted %v", ds)
	}
	if ds.Err() == nil || !ds.HasErrors() {
		t.Error("errors not reported")
	}
	if (Diagnostics{ds[0]}).Err() != nil {
		t.Error("a warning alone is not an error")
	}
	got, ok := AsDiagnostics(ds.Err())
	if !ok || len(got) != 2 {
		t.Error("AsDiagnostics lost the list")
	}
}

func TestRangeTextRoundTrip(t *testing.T) {
	for _, r := range []Range{
		{Filename: "examples/contacts.sync", Start: Pos{Line: 3, Column: 5}, End: Pos{Line: 4, Column: 1}},
		{Filename: `C:\work\a-b.sync`, Start: Pos{Line: 10, Column: 2}, End: Pos{Line: 10, Column: 9}},
		{Filename: "only-a-file"},
	} {
		text, _ := r.MarshalText()
		var back Range
		if err := back.UnmarshalText(text); err != nil {
			t.Fatal(err)
		}
		if back != r {
			t.Errorf("%s: round trip gave %+v", text, back)
		}
	}
}

func TestSourcePositions(t *testing.T) {
	s := NewSource("f", []byte("ab\r\ncé\n"))
	if p := s.Pos(4); p.Line != 2 || p.Column != 1 {
		t.Errorf("Pos(4) = %+v", p)
	}
	if s.Line(1) != "ab" || s.Line(2) != "cé" || s.Line(9) != "" {
		t.Errorf("lines %q %q", s.Line(1), s.Line(2))
	}
	if p := s.Pos(1000); p.Offset != len(s.Text) {
		t.Errorf("Pos past the end = %+v", p)
	}
}

func TestClosest(t *testing.T) {
	names := []string{"firstname", "lastname", "emailaddress1", "connection", "sync", "id"}
	for word, want := range map[string]string{
		"firstnme":     "firstname",
		"FirstName":    "firstname", // case only
		"emailadress1": "emailaddress1",
		"conection":    "connection",
		"xyz":          "",
		"is":           "id", // short words: one edit at most
		"ab":           "",
		"firstname":    "", // never the word itself
	} {
		if got := Closest(word, names); got != want {
			t.Errorf("Closest(%q) = %q, want %q", word, got, want)
		}
	}
	if DidYouMean("lastnme", names).String() != ` Did you mean "lastname"?` || DidYouMean("qqqq", names).String() != "" {
		t.Error("DidYouMean")
	}
}

// TestWriteMasksSecret: a masked subject (a secret written as a literal)
// prints as * in the snippet, as the JSON and GitHub formats, which print no
// snippet, never show it either.
func TestWriteMasksSecret(t *testing.T) {
	src := NewSource("a.sync", []byte("connection crm dynamics {\n  client_secret = \"s3cr3t-value\"\n}\n"))
	d := Errorf(src.Range(44, 58), "secret-literal", "Secret written in the file", "client_secret is a secret")
	d.Masked = true
	var b bytes.Buffer
	if err := Write(&b, Diagnostics{d}, map[string]*Source{"a.sync": src}, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "s3cr3t") {
		t.Errorf("the secret is printed:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "client_secret = **************") {
		t.Errorf("the secret is not masked in place:\n%s", b.String())
	}
}

// TestWriteEscapesAndClips: control characters in a file name, a message or
// a source line are escaped, a long line is shown as a window around the
// column, a long message is clipped, and the list is capped.
func TestWriteEscapesAndClips(t *testing.T) {
	long := strings.Repeat("x", 180_000)
	src := NewSource("a\x1b[2J.sync", []byte("\x1b]0;pwned\x07 = 1\n"+long+" <-> y\n"))
	ds := Diagnostics{
		Errorf(src.Range(0, 1), "syntax", "Bad \x1b[31m", "detail \u202e%q", "\x07"),
		Errorf(src.Range(17+179_990, 17+180_000), "syntax", "Long", "unknown field %q", long),
	}
	for i := 0; i < MaxWritten; i++ {
		ds = append(ds, Errorf(src.Range(0, 1), "syntax", "More", "x"))
	}
	var b bytes.Buffer
	if err := Write(&b, ds, map[string]*Source{src.Name: src}, WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if i := strings.IndexFunc(out, func(r rune) bool { return r != '\n' && unsafeRune(r) }); i >= 0 {
		t.Errorf("raw control character at %d: %q", i, out[max(i-20, 0):min(i+20, len(out))])
	}
	if !strings.Contains(out, `a\x1b[2J.sync:1:1`) || !strings.Contains(out, `\x1b]0;pwned\x07 = 1`) {
		t.Errorf("escapes missing:\n%.600s", out)
	}
	if len(out) > 50_000 {
		t.Errorf("%d bytes written for a 180 KB line", len(out))
	}
	if !strings.Contains(out, "... and 2 more not shown") {
		t.Errorf("no count of the diagnostics left out:\n%s", out[len(out)-300:])
	}
	b.Reset()
	_ = WriteGitHub(&b, ds)
	if strings.ContainsAny(b.String(), "\x1b\x07") || !strings.Contains(b.String(), "2 more diagnostics not shown") || b.Len() > 200_000 {
		t.Errorf("GitHub output not escaped, clipped or capped (%d bytes)", b.Len())
	}
	b.Reset()
	_ = WriteJSON(&b, ds)
	var rep JSONReport
	if err := json.Unmarshal(b.Bytes(), &rep); err != nil || rep.Omitted != 2 || rep.Errors != len(ds) || len(rep.Diagnostics) != MaxWritten {
		t.Errorf("JSON: err %v, omitted %d, errors %d, %d shown", err, rep.Omitted, rep.Errors, len(rep.Diagnostics))
	}
}
