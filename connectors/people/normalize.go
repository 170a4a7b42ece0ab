package people

import (
	"slices"
	"strings"

	"github.com/synclang/synclang/connectors/connector"
)

// Normalize returns a value as People stores it when Upsert writes it (see
// encode), which is what a read returns: phone numbers without "+" and
// separators, email addresses without surrounding spaces, lists of them
// (and tags) without blanks and duplicates, and an empty string or list as
// no value (Upsert clears the attribute). Other values are returned as
// they are. Both entities store alike.
func (c *Conn) Normalize(entity, field string, v any) any {
	switch field {
	case "email", "phone":
		s, ok := v.(string)
		if !ok {
			return v
		}
		if field == "email" {
			s = normalizeEmail(s)
		} else {
			s = normalizePhone(s)
		}
		if s == "" {
			return nil
		}
		return s
	case "emails", "phones", "tags":
		list, ok := v.([]any)
		if !ok {
			return v
		}
		var out []string
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				return v
			}
			s = strings.TrimSpace(s)
			switch field {
			case "emails":
				s = normalizeEmail(s)
			case "phones":
				s = normalizePhone(s)
			}
			if s != "" {
				out = append(out, s)
			}
		}
		out = dedupe(out, field == "emails")
		if len(out) == 0 {
			return nil
		}
		return toAny(out)
	}
	if s, ok := v.(string); ok && s == "" && slices.Contains(stdStrings, field) {
		return nil
	}
	return v
}

var _ connector.Normalizer = (*Conn)(nil)
