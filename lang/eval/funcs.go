package eval

import (
	"errors"
	"fmt"
	"net/mail"
	"reflect"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/nyaruka/phonenumbers"

	"github.com/synclang/synclang/connectors/connector"
)

// Func documents one function available in field expressions beyond
// expr-lang's builtins. SPEC.md lists every one of them (a test keeps the two
// in step).
type Func struct {
	Name      string
	Signature string
	Doc       string
	Example   string // an expression and its result, "phone(\"020 7946 0958\", \"GB\") == \"+442079460958\""
	option    expr.Option
}

// Funcs lists the domain functions, in the order SPEC.md documents them.
var Funcs = []Func{
	{
		Name: "lower", Signature: "lower(s string) string",
		Doc:     "Lower-cases s. Replaces the expr builtin so that nil gives nil instead of an error.",
		Example: `lower("Ana@Example.COM") == "ana@example.com"`,
		option:  expr.Function("lower", nilSafe1(func(s string) any { return strings.ToLower(s) }), new(func(string) string)),
	},
	{
		Name: "upper", Signature: "upper(s string) string",
		Doc:     "Upper-cases s; nil gives nil.",
		Example: `upper("gb") == "GB"`,
		option:  expr.Function("upper", nilSafe1(func(s string) any { return strings.ToUpper(s) }), new(func(string) string)),
	},
	{
		Name: "trim", Signature: "trim(s string) string",
		Doc:     "Removes leading and trailing white space; nil gives nil.",
		Example: `trim("  Ana ") == "Ana"`,
		option:  expr.Function("trim", nilSafe1(func(s string) any { return strings.TrimSpace(s) }), new(func(string) string)),
	},
	{
		Name: "normEmail", Signature: "normEmail(s string) string",
		Doc: "Normalises an email address: trims it, lower-cases it, and checks it is one address (RFC 5322). " +
			"nil or blank gives nil; anything else that is not an address is an error, which rejects the record. " +
			"(Not named email: People has a field of that name, and fields shadow functions.)",
		Example: `normEmail("  Ana.Lima@Example.com ") == "ana.lima@example.com"`,
		option:  expr.Function("normEmail", normEmail, new(func(string) string)),
	},
	{
		Name: "e164", Signature: "e164(s string, region string) string",
		Doc: "Normalises a phone number to international E.164 form (+ and digits), reading numbers without a country code " +
			"as numbers of region (ISO 3166 code such as \"GB\"; \"\" when every number carries its country code). " +
			"nil or blank gives nil; a number that is not valid is an error, which rejects the record (see isPhone). " +
			"(Not named phone: People has a field of that name, and fields shadow functions.)",
		Example: `e164("020 7946 0958", "GB") == "+442079460958"`,
		option:  expr.Function("e164", normPhone(false), new(func(string, string) string)),
	},
	{
		Name: "msisdn", Signature: "msisdn(s string, region string) string",
		Doc:     "Like e164, without the leading +: the international form Infobip uses (\"41793026727\").",
		Example: `msisdn("+41 79 302 67 27", "") == "41793026727"`,
		option:  expr.Function("msisdn", normPhone(true), new(func(string, string) string)),
	},
	{
		Name: "isPhone", Signature: "isPhone(s string, region string) bool",
		Doc:     "Reports whether s is a valid phone number (read as in e164); nil gives false.",
		Example: `isPhone("12", "GB") == false`,
		option:  expr.Function("isPhone", isPhone, new(func(string, string) bool)),
	},
	{
		Name: "coalesce", Signature: "coalesce(values ...any) any",
		Doc:     "Returns the first argument that is neither nil nor a blank string; nil when there is none.",
		Example: `coalesce(nil, "", "x") == "x"`,
		option:  expr.Function("coalesce", coalesce),
	},
	{
		Name: "toDate", Signature: "toDate(v any[, layout string]) time.Time",
		Doc: "Converts v to a date (midnight UTC): a date or date-time value keeps its date; a string is read as YYYY-MM-DD or " +
			"an ISO date-time (Dynamics \"2023-04-07T21:59:01Z\", People \"2018-03-29T13:46:31\"), or with layout (Go layout, " +
			"e.g. \"02/01/2006\"). nil or blank gives nil.",
		Example: `toDate("15/01/1966", "02/01/2006") == toDate("1966-01-15")`,
		option:  expr.Function("toDate", toDate, new(func(any) time.Time), new(func(any, string) time.Time)),
	},
	{
		Name: "toDateTime", Signature: "toDateTime(v any[, layout string]) time.Time",
		Doc: "Converts v to a date-time in UTC: strings with a zone keep it, strings without one (People's " +
			"yyyy-MM-ddTHH:mm:ss) are UTC; a date becomes its midnight UTC. nil or blank gives nil.",
		Example: `toDateTime("2018-03-29T13:46:31") == toDateTime("2018-03-29T15:46:31+02:00")`,
		option:  expr.Function("toDateTime", toDateTime, new(func(any) time.Time), new(func(any, string) time.Time)),
	},
	{
		Name: "formatDate", Signature: "formatDate(t time.Time, layout string) string",
		Doc:     "Formats a date or date-time in UTC with a Go layout; nil gives nil. Use it to write dates into text fields.",
		Example: `formatDate(toDate("1966-01-15"), "02.01.2006") == "15.01.1966"`,
		option:  expr.Function("formatDate", formatDate, new(func(time.Time, string) string)),
	},
}

func funcOptions() []expr.Option {
	out := make([]expr.Option, len(Funcs))
	for i, f := range Funcs {
		out[i] = f.option
	}
	return out
}

// nilSafe1 adapts a string function so nil passes through as nil.
func nilSafe1(fn func(string) any) func(...any) (any, error) {
	return func(args ...any) (any, error) {
		if args[0] == nil {
			return nil, nil
		}
		s, ok := args[0].(string)
		if !ok {
			return nil, fmt.Errorf("expects a string, got %s", kindOf(args[0]))
		}
		return fn(s), nil
	}
}

func kindOf(v any) string {
	if v == nil {
		return "nil"
	}
	return reflect.TypeOf(v).String()
}

func blank(v any) bool {
	if v == nil {
		return true
	}
	s, ok := v.(string)
	return ok && strings.TrimSpace(s) == ""
}

func normEmail(args ...any) (any, error) {
	if blank(args[0]) {
		return nil, nil
	}
	s, ok := args[0].(string)
	if !ok {
		return nil, fmt.Errorf("normEmail() expects a string, got %s", kindOf(args[0]))
	}
	s = strings.ToLower(strings.TrimSpace(s))
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return nil, fmt.Errorf("%q is not an email address", s)
	}
	return s, nil
}

func parsePhone(args []any) (*phonenumbers.PhoneNumber, string, error) {
	s, ok := args[0].(string)
	if !ok {
		return nil, "", fmt.Errorf("expects a string, got %s", kindOf(args[0]))
	}
	region, _ := args[1].(string)
	region = strings.ToUpper(strings.TrimSpace(region))
	s = strings.TrimSpace(s)
	if region == "" && !strings.HasPrefix(s, "+") && !strings.HasPrefix(s, "00") {
		// A number without a country code and no region: try it as an
		// international number (Infobip stores "41793026727").
		s = "+" + s
	}
	if region == "" {
		region = "ZZ"
	}
	num, err := phonenumbers.Parse(s, region)
	if err != nil {
		if region == "ZZ" && errors.Is(err, phonenumbers.ErrInvalidCountryCode) {
			return nil, s, errors.New("is not a phone number with a country code (+...): give e164 the region to read national numbers in, e.g. e164(x, \"GB\")")
		}
		return nil, s, fmt.Errorf("is not a phone number (%v)", err)
	}
	if !phonenumbers.IsValidNumber(num) {
		return nil, s, invalidPhone(num)
	}
	return num, s, nil
}

// invalidPhone says why a number that parsed is not valid, as the phone
// library (libphonenumber's metadata) sees it.
func invalidPhone(num *phonenumbers.PhoneNumber) error {
	region := phonenumbers.GetRegionCodeForCountryCode(int(num.GetCountryCode()))
	switch phonenumbers.IsPossibleNumberWithReason(num) {
	case phonenumbers.TOO_SHORT:
		return fmt.Errorf("is not a valid phone number: too short for +%d (%s)", num.GetCountryCode(), region)
	case phonenumbers.TOO_LONG:
		return fmt.Errorf("is not a valid phone number: too long for +%d (%s)", num.GetCountryCode(), region)
	case phonenumbers.INVALID_COUNTRY_CODE:
		return fmt.Errorf("is not a valid phone number: +%d is not a country code", num.GetCountryCode())
	}
	nsn := phonenumbers.GetNationalSignificantNumber(num)
	msg := fmt.Sprintf("is not a valid phone number: no number of +%d (%s) is assigned in that range", num.GetCountryCode(), region)
	if num.GetCountryCode() == 44 && strings.HasPrefix(nsn, "7700900") {
		// Ofcom reserves 07700 900000-900999 for drama. libphonenumber, the
		// library synclang validates with, holds them invalid on purpose:
		// they are never assigned (google/libphonenumber#1768, #341).
		msg = "is not a valid phone number: +44 7700 900xxx is Ofcom's range for drama, never assigned, so the phone library (libphonenumber) does not accept it"
	}
	if ex := phonenumbers.GetExampleNumberForType(region, phonenumbers.MOBILE); ex != nil {
		msg += fmt.Sprintf("; for test data use a valid number such as %s", phonenumbers.Format(ex, phonenumbers.E164))
	}
	return errors.New(msg)
}

func normPhone(noPlus bool) func(...any) (any, error) {
	return func(args ...any) (any, error) {
		if blank(args[0]) {
			return nil, nil
		}
		num, s, err := parsePhone(args)
		if err != nil {
			if s == "" {
				return nil, err
			}
			return nil, fmt.Errorf("%q %v", args[0], err)
		}
		out := phonenumbers.Format(num, phonenumbers.E164)
		if noPlus {
			out = strings.TrimPrefix(out, "+")
		}
		return out, nil
	}
}

func isPhone(args ...any) (any, error) {
	if blank(args[0]) {
		return false, nil
	}
	_, _, err := parsePhone(args)
	return err == nil, nil
}

func coalesce(args ...any) (any, error) {
	for _, a := range args {
		if !blank(a) {
			return a, nil
		}
	}
	return nil, nil
}

func toDate(args ...any) (any, error) {
	if blank(args[0]) {
		return nil, nil
	}
	if len(args) == 2 {
		return parseLayout(args, true)
	}
	v, err := connector.Canonical(connector.Date, args[0])
	if err != nil {
		return nil, fmt.Errorf("toDate: %v", err)
	}
	return v, nil
}

func toDateTime(args ...any) (any, error) {
	if blank(args[0]) {
		return nil, nil
	}
	if len(args) == 2 {
		return parseLayout(args, false)
	}
	v, err := connector.Canonical(connector.DateTime, args[0])
	if err != nil {
		return nil, fmt.Errorf("toDateTime: %v", err)
	}
	return v, nil
}

func parseLayout(args []any, dateOnly bool) (any, error) {
	s, ok := args[0].(string)
	layout, _ := args[1].(string)
	if !ok {
		return nil, fmt.Errorf("a layout applies to strings, got %s", kindOf(args[0]))
	}
	t, err := time.Parse(layout, strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("%q does not match layout %q", s, layout)
	}
	t = t.UTC()
	if dateOnly {
		y, m, d := t.Date()
		t = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	}
	return t, nil
}

func formatDate(args ...any) (any, error) {
	if args[0] == nil {
		return nil, nil
	}
	t, ok := args[0].(time.Time)
	if !ok {
		return nil, fmt.Errorf("formatDate expects a date, got %s", kindOf(args[0]))
	}
	layout, _ := args[1].(string)
	return t.UTC().Format(layout), nil
}
