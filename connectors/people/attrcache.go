package people

import (
	"net/url"
	"strings"
	"time"

	"github.com/synclang/synclang/connectors/internal/diskcache"
)

// The custom attribute definitions are kept on disk (diskcache: a 0600
// file in the per-user cache directory), so a new process (a `synclang run`
// from cron) need not read them again: a quiet run costs the persons read
// alone. They are read from the service again once they are attrTTL old,
// in a new process or a long-lived one; a write naming an attribute the
// definitions lack reads them at once (definitionsFor). The file holds
// attribute names and data types only, never the API key; it is keyed by
// the account's base URL (Infobip gives each account its own) and the
// API version, and a corrupt one reads as absent.

// attrTTL bounds how long a People attribute defined or deleted goes
// unnoticed (SPEC.md, "Schema cache").
const attrTTL = 5 * time.Minute

// attrCacheKey is the account's base URL (host case folded) and the API
// version of the endpoints the definitions come from.
func attrCacheKey(base *url.URL) string {
	return strings.ToLower(base.Scheme+"://"+base.Host) + base.Path + "\npeople/2"
}

type attrCache struct {
	Attributes map[string]string `json:"attributes"` // name → dataType
}

func (c *Conn) loadAttrCache() {
	var ac attrCache
	saved, ok := diskcache.Load(c.attrPath, c.attrKey, &ac)
	if !ok || ac.Attributes == nil {
		return
	}
	c.mu.Lock()
	c.attrs, c.attrsAt = ac.Attributes, saved
	c.mu.Unlock()
}

// saveAttrCache writes the definitions; a failure is logged, never fatal.
func (c *Conn) saveAttrCache(defs map[string]string) {
	if c.attrPath == "" {
		return
	}
	c.mu.Lock()
	at := c.attrsAt
	c.mu.Unlock()
	if err := diskcache.Save(c.attrPath, c.attrKey, at, attrCache{Attributes: defs}); err != nil {
		c.logger.Warn("could not save the People attribute cache; the next run reads the definitions again", "path", c.attrPath, "error", err)
	}
}
