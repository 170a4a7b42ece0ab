package lsp

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/synclang/synclang/lang/format"
)

// fixture is the contacts example with a custom attribute whose name is
// not an identifier and a read-only field in a where line.
func fixture(t *testing.T) (c *client, path, src string) {
	t.Helper()
	src = readExample(t, "contacts.sync")
	src = strings.Replace(src, `  attribute "JobTitle" string`, "  attribute \"JobTitle\" string\n  attribute \"Contract Expiry\" date", 1)
	src = strings.Replace(src, "where crm: statecode == 0 ", "where crm: statecode == 0 && createdon != nil", 1)
	dir := t.TempDir()
	path = filepath.Join(dir, "contacts.sync")
	writeFiles(t, dir, map[string]string{"contacts.sync": src})
	c = startServer(t, Options{})
	c.initialize(dir)
	c.open(path, src)
	if p := c.waitDiags(path, version(1)); len(p.Diagnostics) != 0 {
		t.Fatalf("fixture has diagnostics: %+v", p.Diagnostics)
	}
	return c, path, src
}

// at is the position of the n-th byte after the first match of needle.
func at(t *testing.T, src, needle string, n int) Position {
	t.Helper()
	i := strings.Index(src, needle)
	if i < 0 {
		t.Fatalf("no %q in the source", needle)
	}
	return newText(src, false).position(i + n)
}

func posParams(path string, p Position) map[string]any {
	return map[string]any{"textDocument": map[string]any{"uri": pathToURI(path)}, "position": p}
}

type completionList struct {
	Items []completionItem `json:"items"`
}

// completeAfter edits the buffer to text, asks for completions at the
// end of needle's first match and returns the items' new texts.
func completeAt(t *testing.T, c *client, path, src string, ver int, needle string) map[string]completionItem {
	t.Helper()
	c.change(path, ver, contentChange{Text: src})
	var list completionList
	c.mustCall("textDocument/completion", posParams(path, at(t, src, needle, len(needle))), &list)
	m := map[string]completionItem{}
	for _, it := range list.Items {
		m[it.TextEdit.NewText] = it
	}
	return m
}

func TestCompletion(t *testing.T) {
	c, path, src := fixture(t)
	ver := 1
	edit := func(old, new string) string {
		t.Helper()
		if !strings.Contains(src, old) {
			t.Fatalf("no %q in the fixture", old)
		}
		return strings.Replace(src, old, new, 1)
	}
	for _, tc := range []struct {
		name, src, needle string
		want, not         []string
	}{
		{"entity after crm.", edit("crm.contact <->", "crm. <->"), "crm.", []string{"contact", "lead"}, []string{"customer"}},
		{"entity after infobip.", edit("<-> infobip.customer", "<-> infobip."), "<-> infobip.", []string{"customer", "lead"}, []string{"contact"}},
		{"pair connection", edit("crm.contact <->", " <->"), "sync contacts {\n", []string{"crm", "infobip"}, nil},
		{"left field", edit("  firstname        <-> firstName", "  first"), "  first", []string{"firstname", "lastname", "link ", "lower("}, []string{"firstName"}},
		{"right field", edit("  firstname        <-> firstName", "  firstname <-> first"), "  firstname <-> first", []string{"firstName", "custom.JobTitle", `custom["Contract Expiry"]`}, []string{"firstname"}},
		{"custom quoted", edit("jobtitle -> custom.JobTitle", `jobtitle -> custom["Con`), `jobtitle -> custom["Con`, []string{`custom["Contract Expiry"]`, `custom["JobTitle"]`}, []string{"firstName"}},
		{"custom dot", edit("jobtitle -> custom.JobTitle", `jobtitle -> custom.`), `jobtitle -> custom.`, []string{"custom.JobTitle", `custom["Contract Expiry"]`}, []string{"firstName"}},
		{"link right", edit("link  contactid <-> externalId", "link  contactid <-> ext"), "contactid <-> ext", []string{"externalId"}, []string{"contactid", "lower("}},
		{"where side", edit("where crm: statecode", "where "), "where ", []string{"crm: ", "infobip: "}, nil},
		{"where fields", edit("where crm: statecode", "where crm: state"), "where crm: state", []string{"statecode", "lower("}, []string{"firstName"}},
		{"choice options", edit("where crm: statecode == 0", "where crm: gendercode == "), "where crm: gendercode == ", []string{"1", "2"}, []string{"gendercode"}},
		{"enum values", edit("where crm: statecode == 0 && createdon != nil", "where infobip: gender == "), "where infobip: gender == ", []string{`"MALE"`, `"FEMALE"`}, nil},
		{"conflict", edit("conflict newest", "conflict "), "conflict ", []string{"newest", "crm", "infobip"}, nil},
		{"delete", edit("conflict newest", "delete "), "delete ", []string{"ignore", "propagate", "crm: "}, nil},
		{"settings", edit("  tenant        = env(\"AZURE_TENANT_ID\")\n", "  tenant        = env(\"AZURE_TENANT_ID\")\n  \n"), "AZURE_TENANT_ID\")\n  ", []string{"api_version = "}, []string{"url = ", "tenant = ", "api_key = "}},
		{"setting value", edit(`url           = env("DYNAMICS_URL")`, `url           = `), "url           = ", []string{`env("CRM_URL")`}, nil},
		{"secret setting", edit(`api_key = secret("INFOBIP_API_KEY")`, `api_key = `), "api_key = ", []string{`secret("INFOBIP_API_KEY")`}, []string{`env("INFOBIP_API_KEY")`}},
		{"declaration type", edit(`attribute "JobTitle" string`, `attribute "JobTitle" `), `attribute "JobTitle" `, []string{"string", "date"}, nil},
		{"kind", edit("connection crm dynamics {", "connection crm "), "connection crm ", []string{"dynamics", "people"}, nil},
		{"top level", src + "\n", "every 1m\n}\n", []string{"connection", "sync"}, []string{"firstname"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ver++
			got := completeAt(t, c, path, tc.src, ver, tc.needle)
			for _, w := range tc.want {
				if _, ok := got[w]; !ok {
					t.Errorf("no completion %q; got %v", w, keys(got))
				}
			}
			for _, n := range tc.not {
				if _, ok := got[n]; ok {
					t.Errorf("completion %q offered", n)
				}
			}
		})
	}
}

func keys(m map[string]completionItem) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

func TestHover(t *testing.T) {
	c, path, src := fixture(t)
	for _, tc := range []struct {
		needle string
		n      int
		want   []string
	}{
		{"emailaddress1    <->", 3, []string{"emailaddress1", "`string`", "max length 100", "crm.contact"}},
		{"createdon", 2, []string{"read-only"}},
		{"gendercode ==", 1, []string{"Options:", "`1` Male", "`2` Female"}},
		{"-> gender", 4, []string{"`MALE`", "`FEMALE`", "infobip.customer"}},
		{"custom.JobTitle", 9, []string{"custom.JobTitle", "custom", "Declared in"}},
		{"lower(email)", 1, []string{"lower(s string) string", "Lower-cases"}},
		{"crm.contact <->", 1, []string{"connection crm", "(dynamics)", `client_secret = secret("AZURE_CLIENT_SECRET")`, "contact"}},
		{"infobip.customer", 9, []string{"infobip.customer", "key `id`"}},
		{"api_key", 2, []string{"api_key", "secret"}},
	} {
		var h hoverResult
		c.mustCall("textDocument/hover", posParams(path, at(t, src, tc.needle, tc.n)), &h)
		for _, w := range tc.want {
			if !strings.Contains(h.Contents.Value, w) {
				t.Errorf("hover on %q: no %q in\n%s", tc.needle, w, h.Contents.Value)
			}
		}
	}
	var h *hoverResult
	c.mustCall("textDocument/hover", posParams(path, at(t, src, "# Dynamics", 3)), &h)
	if h != nil {
		t.Errorf("hover on a comment: %+v", h)
	}
	if err := c.call("textDocument/hover", posParams(path, Position{Line: 1000, Character: 0}), nil); rpcCode(err) != -32602 {
		t.Errorf("hover past the end: %v", err)
	}
	if err := c.call("textDocument/hover", posParams(filepath.Join(filepath.Dir(path), "none.sync"), Position{}), nil); rpcCode(err) != -32602 {
		t.Errorf("hover in a file that does not exist: %v", err)
	}
}

func TestNavigation(t *testing.T) {
	c, path, src := fixture(t)
	var locs []Location
	c.mustCall("textDocument/definition", posParams(path, at(t, src, "where crm", 7)), &locs)
	if want := at(t, src, "connection crm", len("connection ")); len(locs) != 1 || locs[0].Range.Start != want {
		t.Errorf("definition of crm: %+v, want %+v", locs, want)
	}
	c.mustCall("textDocument/definition", posParams(path, at(t, src, "custom.JobTitle", 8)), &locs)
	if want := at(t, src, `attribute "JobTitle"`, 0); len(locs) != 1 || locs[0].Range.Start != want {
		t.Errorf("definition of custom.JobTitle: %+v, want %+v", locs, want)
	}
	params := posParams(path, at(t, src, "crm.contact", 0))
	params["context"] = map[string]any{"includeDeclaration": true}
	c.mustCall("textDocument/references", params, &locs)
	if len(locs) != 3 { // declaration, pair, where
		t.Errorf("references of crm: %+v", locs)
	}
	params = posParams(path, at(t, src, "lower(emailaddress1)", 7))
	params["context"] = map[string]any{"includeDeclaration": false}
	c.mustCall("textDocument/references", params, &locs)
	if len(locs) != 2 { // match, field line
		t.Errorf("references of emailaddress1: %+v", locs)
	}
	var syms []documentSymbol
	c.mustCall("textDocument/documentSymbol", map[string]any{"textDocument": map[string]any{"uri": pathToURI(path)}}, &syms)
	var names []string
	for _, s := range syms {
		names = append(names, s.Name)
	}
	if strings.Join(names, ",") != "crm,infobip,contacts" || syms[2].Detail != "sync crm.contact <-> infobip.customer" || len(syms[1].Children) != 4 {
		t.Errorf("symbols: %+v", syms)
	}
}

func TestFormatting(t *testing.T) {
	c, path, src := fixture(t)
	messy := strings.Replace(src, "  firstname        <-> firstName", "firstname<->firstName", 1)
	c.change(path, 2, contentChange{Text: messy})
	var edits []TextEdit
	c.mustCall("textDocument/formatting", map[string]any{"textDocument": map[string]any{"uri": pathToURI(path)}, "options": map[string]any{"tabSize": 2}}, &edits)
	want, _ := format.Source(path, []byte(messy))
	if len(edits) != 1 || edits[0].NewText != string(want) || edits[0].Range.Start != (Position{}) {
		t.Fatalf("edits: %+v", edits)
	}
	applied, err := newText(messy, false).apply(contentChange{Range: &edits[0].Range, Text: edits[0].NewText})
	if canonical, _ := format.Source(path, []byte(src)); err != nil || applied != string(canonical) {
		t.Errorf("formatted buffer differs from the formatted example (%v)", err)
	}
	c.change(path, 3, contentChange{Text: src + "\nsync {\n"})
	if err := c.call("textDocument/formatting", map[string]any{"textDocument": map[string]any{"uri": pathToURI(path)}}, &edits); rpcCode(err) != -32803 {
		t.Errorf("formatting a file with a syntax error: %v", err)
	}
}

// TestCodeActions applies each fix the checker suggests and gets a
// project without that diagnostic.
func TestCodeActions(t *testing.T) {
	c, path, src := fixture(t)
	oneWay := "\nsync leads {\n  crm.lead -> infobip.lead\n  link leadid <-> externalId\n  lastname <- lastName\n}\n"
	for i, tc := range []struct {
		name, old, new, code, title string
	}{
		{"did you mean", "emailaddress1    <-> email", "emailadress1    <-> email", "unknown-field", `Change to emailaddress1`},
		{"custom", "-> custom.JobTitle", `-> custom["Contract Expry"]`, "unknown-field", `Change to custom["Contract Expiry"]`},
		{"option", `? "MALE" :`, `? "Male" :`, "unknown-option", `Change to "MALE"`},
		{"arrow", "every 1m\n}\n", "every 1m\n}\n" + oneWay, "direction-mismatch", "Use ->"},
		{"secret literal", `api_key = secret("INFOBIP_API_KEY")`, `api_key = "0123456789abcdef"`, "secret-literal", `Read it with secret("INFOBIP_API_KEY")`},
		{"secret env", `client_secret = secret("AZURE_CLIENT_SECRET")`, `client_secret = env("AZURE_CLIENT_SECRET")`, "secret-env", `Read it with secret("AZURE_CLIENT_SECRET")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ver := 10 * (i + 1)
			broken := strings.Replace(src, tc.old, tc.new, 1)
			c.change(path, ver, contentChange{Text: broken})
			p := c.waitDiags(path, version(ver))
			var d *Diagnostic
			for i := range p.Diagnostics {
				if p.Diagnostics[i].Code == tc.code {
					d = &p.Diagnostics[i]
				}
			}
			if d == nil {
				t.Fatalf("no %s diagnostic: %+v", tc.code, p.Diagnostics)
			}
			var actions []codeAction
			c.mustCall("textDocument/codeAction", map[string]any{"textDocument": map[string]any{"uri": pathToURI(path)},
				"range": d.Range, "context": map[string]any{"diagnostics": []Diagnostic{*d}}}, &actions)
			if len(actions) != 1 || actions[0].Title != tc.title {
				t.Fatalf("actions: %+v", actions)
			}
			edit := actions[0].Edit.Changes[pathToURI(path)][0]
			fixed, err := newText(broken, false).apply(contentChange{Range: &edit.Range, Text: edit.NewText})
			if err != nil {
				t.Fatal(err)
			}
			c.change(path, ver+1, contentChange{Text: fixed})
			p = c.waitDiags(path, version(ver+1))
			if strings.Contains(codes(p), tc.code) {
				t.Errorf("after the fix: %s", codes(p))
			}
		})
	}
}
