package httpx

import (
	"fmt"
	"hash/fnv"
	"io"
	"slices"
)

// Answer size caps (SPEC.md, "Connections at run time"): each endpoint's
// answers are read through LimitBody with a cap a few times what the
// service can legitimately send, so a flooding or broken server costs at
// most that much memory, and the error names the endpoint and the cap.

// TooLargeError is an answer that went past its cap.
type TooLargeError struct {
	Service  string
	Endpoint string // "GET contacts", "POST $batch"
	Limit    int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s: the answer of %s is larger than %s, more than the service sends for it; stopped reading it",
		e.Service, e.Endpoint, Size(e.Limit))
}

// Size renders a byte count in MiB or KiB.
func Size(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d bytes", n)
}

// LimitBody returns a reader of r that fails with *TooLargeError once more
// than limit bytes were read.
func LimitBody(r io.Reader, limit int64, service, endpoint string) io.Reader {
	return &limitReader{r: r, left: limit, err: &TooLargeError{Service: service, Endpoint: endpoint, Limit: limit}}
}

type limitReader struct {
	r    io.Reader
	left int64
	err  *TooLargeError
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, l.err
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n + int(l.left), l.err
	}
	return n, err
}

// ReadBody reads r to its end through LimitBody.
func ReadBody(r io.Reader, limit int64, service, endpoint string) ([]byte, error) {
	return io.ReadAll(LimitBody(r, limit, service, endpoint))
}

// Pages guards a paging loop against a service that pages forever: the
// same next-page link twice, or pages that bring nothing new. The zero
// value is ready; What names what is read ("contact").
type Pages struct {
	What   string
	links  map[uint64]bool // hashes of the links followed
	prev   []string
	stalls int
}

// maxStalls is how many pages in a row may bring no record the previous
// page did not have (empty pages with a next link, or the same page again)
// before paging stops.
const maxStalls = 3

// PagingError is a paging loop the guard stopped.
type PagingError struct {
	What string
	Why  string
}

func (e *PagingError) Error() string {
	return fmt.Sprintf("reading %s: %s; stopped paging (the service is misbehaving: run again later, and report it if it persists)", e.What, e.Why)
}

// Next checks the page just read, with the keys of its records, before
// the loop follows link ("" when the service pages by number).
func (p *Pages) Next(link string, keys []string) error {
	if link != "" {
		if p.links == nil {
			p.links = map[uint64]bool{}
		}
		h := fnv.New64a()
		_, _ = io.WriteString(h, link)
		sum := h.Sum64()
		if p.links[sum] {
			return &PagingError{What: p.What, Why: "the service sent the same next-page link a second time"}
		}
		p.links[sum] = true
	}
	keys = slices.Clone(keys)
	slices.Sort(keys)
	progress := len(keys) > 0 && !slices.Equal(keys, p.prev)
	p.prev = keys
	if progress {
		p.stalls = 0
		return nil
	}
	p.stalls++
	if p.stalls >= maxStalls {
		return &PagingError{What: p.What, Why: fmt.Sprintf("%d pages in a row brought no new record", maxStalls)}
	}
	return nil
}
