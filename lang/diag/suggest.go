package diag

import (
	"fmt"
	"strings"
)

// Closest returns the candidate a user most likely meant by word, or "":
// one that differs only in case wins; otherwise the nearest by edit distance,
// if that distance is under 3 and at most half the word's length (so short
// words do not match everything). word itself is never suggested.
func Closest(word string, candidates []string) string {
	lw := strings.ToLower(word)
	best, bestD := "", 3
	for _, cand := range candidates {
		if cand == word {
			continue
		}
		lc := strings.ToLower(cand)
		if lc == lw {
			return cand
		}
		d := levenshtein(lw, lc)
		if d < bestD && d <= max(1, len([]rune(word))/2) {
			best, bestD = cand, d
		}
	}
	return best
}

// Hint is a name a diagnostic suggests instead of the one written. It
// prints as the sentence ` Did you mean "x"?` (nothing when Name is ""),
// and Errorf and Warningf record a Hint among their arguments as the
// diagnostic's Suggested, so an editor's quick fix reads the name as data
// rather than from the message.
type Hint struct{ Name string }

func (h Hint) String() string {
	if h.Name == "" {
		return ""
	}
	return fmt.Sprintf(" Did you mean %q?", h.Name)
}

// DidYouMean returns the Hint for Closest's answer (empty when none).
func DidYouMean(word string, candidates []string) Hint {
	return Hint{Name: Closest(word, candidates)}
}

// Suggest appends h's sentence to the detail and records its name.
func (d *Diagnostic) Suggest(h Hint) *Diagnostic {
	if h.Name != "" {
		d.Detail += h.String()
		d.Suggested = h.Name
	}
	return d
}

// suggested is the name of the last non-empty Hint among args.
func suggested(args []any) string {
	name := ""
	for _, a := range args {
		if h, ok := a.(Hint); ok && h.Name != "" {
			name = h.Name
		}
	}
	return name
}

func levenshtein(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}
