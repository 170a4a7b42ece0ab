package emulator

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// This file parses the FetchXML a client sends as
// GET <entityset>?fetchXml=<url-encoded fetch> ("Use FetchXML with Web API",
// https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/retrieve-data?tabs=webapi;
// elements: https://learn.microsoft.com/power-apps/developer/data-platform/fetchxml/reference/).
// The query is evaluated in fetch.go.
//
// The parse is bounded: the text may be at most maxFetchBytes long (the Web
// API's URL limit is 32 KB, 64 KB inside $batch: "Compose HTTP requests and
// handle errors", Maximum URL length), elements nest at most maxFetchDepth
// deep and there are at most maxFetchNodes of them, so hostile input is
// refused in time linear in its length.

const (
	maxFetchBytes = 64 << 10
	maxFetchDepth = 24
	maxFetchNodes = 4096
)

// Error codes of FetchXML failures. The Dataverse error-code table
// ("Web service error codes",
// https://learn.microsoft.com/power-apps/developer/data-platform/reference/web-service-error-codes)
// lists InvalidXml 0x80040201 ("Invalid XML."), QueryBuilderNoEntity
// 0x80041102 and QueryBuilderNoAttribute 0x80041103 ("'contact' entity
// doesn't contain attribute with Name = 'x'."). UNCERTAIN: the exact message
// texts of schema violations; the emulator names what it rejects.
const (
	codeInvalidXML    = "0x80040201"
	codeFetchNoEntity = "0x80041102"
	codeFetchNoAttr   = "0x80041103"
)

// invalidFetch is the error of FetchXML that is malformed or does not
// follow the FetchXML schema. What the schema allows but the emulator does
// not implement is refused with the same error (and a message saying so),
// never ignored: a client that is answered as if part of its query were
// absent cannot notice.
func invalidFetch(format string, args ...any) *apiError {
	return errf(http.StatusBadRequest, codeInvalidXML, "Invalid XML. "+format, args...)
}

func notImplementedFetch(what string) *apiError {
	return invalidFetch("The emulator does not implement %s in FetchXML; the query is refused rather than answered without it.", what)
}

// xnode is one element of a parsed FetchXML document.
type xnode struct {
	name  string
	attrs map[string]string
	order []string // attribute names in document order
	kids  []*xnode
	text  strings.Builder
}

func (n *xnode) attr(k string) (string, bool) { v, ok := n.attrs[k]; return v, ok }

// parseXMLTree parses a small XML document into xnodes with the bounds
// above. Namespaces, DTDs and processing instructions other than the XML
// declaration are refused.
func parseXMLTree(src string) (*xnode, *apiError) {
	if len(src) > maxFetchBytes {
		return nil, invalidFetch("The FetchXML is %d bytes long; the limit is %d.", len(src), maxFetchBytes)
	}
	d := xml.NewDecoder(strings.NewReader(src))
	d.Strict = true
	var root *xnode
	var stack []*xnode
	nodes := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, invalidFetch("%s", err.Error())
		}
		switch t := tok.(type) {
		case xml.StartElement:
			nodes++
			if nodes > maxFetchNodes {
				return nil, invalidFetch("The FetchXML has more than %d elements.", maxFetchNodes)
			}
			if len(stack) >= maxFetchDepth {
				return nil, invalidFetch("The FetchXML nests elements more than %d deep.", maxFetchDepth)
			}
			if t.Name.Space != "" {
				return nil, invalidFetch("The element '%s:%s' is not declared.", t.Name.Space, t.Name.Local)
			}
			n := &xnode{name: t.Name.Local, attrs: map[string]string{}}
			for _, a := range t.Attr {
				if a.Name.Space != "" {
					if a.Name.Space == "xmlns" || a.Name.Local == "xmlns" {
						continue
					}
					return nil, invalidFetch("The '%s:%s' attribute is not declared.", a.Name.Space, a.Name.Local)
				}
				if a.Name.Local == "xmlns" {
					continue
				}
				if _, dup := n.attrs[a.Name.Local]; dup {
					return nil, invalidFetch("'%s' is a duplicate attribute name.", a.Name.Local)
				}
				n.attrs[a.Name.Local] = a.Value
				n.order = append(n.order, a.Name.Local)
			}
			if len(stack) == 0 {
				if root != nil {
					return nil, invalidFetch("There are multiple root elements.")
				}
				root = n
			} else {
				p := stack[len(stack)-1]
				p.kids = append(p.kids, n)
			}
			stack = append(stack, n)
		case xml.EndElement:
			stack = stack[:len(stack)-1]
		case xml.CharData:
			if len(stack) == 0 {
				if strings.TrimSpace(string(t)) != "" {
					return nil, invalidFetch("Data at the root level is invalid.")
				}
				continue
			}
			stack[len(stack)-1].text.Write(t)
		case xml.Directive:
			return nil, invalidFetch("DTDs are not allowed in FetchXML.")
		case xml.ProcInst:
			if t.Target != "xml" {
				return nil, invalidFetch("Processing instructions are not allowed in FetchXML.")
			}
		}
	}
	if root == nil {
		return nil, invalidFetch("Root element is missing.")
	}
	return root, nil
}

// checkAttrs refuses an attribute of n that is not in allowed (the schema's
// attributes the emulator implements) and names those the schema has but
// the emulator does not implement.
func checkAttrs(n *xnode, allowed, unimplemented []string) *apiError {
	for _, k := range n.order {
		if has(allowed, k) {
			continue
		}
		if has(unimplemented, k) {
			return notImplementedFetch(fmt.Sprintf("the '%s' attribute of <%s>", k, n.name))
		}
		return invalidFetch("The '%s' attribute is not declared on the '%s' element.", k, n.name)
	}
	return nil
}
