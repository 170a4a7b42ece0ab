package diag

import (
	"fmt"
	"strconv"
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

// DidYouMean returns ` Did you mean "x"?` for Closest's answer, or "".
func DidYouMean(word string, candidates []string) string {
	if s := Closest(word, candidates); s != "" {
		return fmt.Sprintf(" Did you mean %q?", s)
	}
	return ""
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

// Suggestion returns the name a detail ending in DidYouMean's sentence
// suggests, or "": the language server offers it as a quick fix.
func Suggestion(detail string) string {
	_, rest, ok := strings.Cut(detail, " Did you mean ")
	if !ok {
		return ""
	}
	for {
		_, more, again := strings.Cut(rest, " Did you mean ")
		if !again {
			break
		}
		rest = more
	}
	quoted, ok := strings.CutSuffix(rest, "?")
	if !ok {
		return ""
	}
	s, err := strconv.Unquote(quoted)
	if err != nil {
		return ""
	}
	return s
}
