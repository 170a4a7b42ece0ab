package dynamics

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/internal/diskcache"
)

// The discovered schema is kept on disk and revalidated cheaply, as "Cache
// schema data" describes
// (https://learn.microsoft.com/power-apps/developer/data-platform/cache-schema-data):
// discovery also asks RetrieveMetadataChanges for the tables it reads and
// keeps the answer's ServerVersionStamp and the MetadataIds of those
// tables and columns. Later, a process (or the same one, after
// schemaTTL) sends one RetrieveMetadataChanges with that
// ClientVersionStamp and DeletedMetadataFilters 'Default,Attribute': an
// answer that lists no table and deletes none of the kept MetadataIds
// means nothing synclang reads changed, and costs one request instead of
// the 17 of a discovery. A change, or ExpiredVersionStamp 0x80044352 (the
// stamp is older than the organization keeps deleted metadata, 90 days by
// default, or was invalidated), makes a full discovery.
//
// The cache file (diskcache: 0600, in the per-user cache directory,
// keyed by environment URL and API version) holds table definitions and a
// version stamp, never a token or secret. An unreadable file is as
// good as none.

// schemaTTL is how long a validated schema is used before it is
// revalidated: a schema change on the service (a column added, removed or
// retyped, a table added) is noticed by the first table use that starts
// schemaTTL or more after the last validation (SPEC.md, "Schema cache").
const schemaTTL = 5 * time.Minute

// schemaCache is what the cache file holds.
type schemaCache struct {
	URL        string        `json:"url"`
	APIVersion string        `json:"api_version"`
	Stamp      string        `json:"server_version_stamp"`
	IDs        []string      `json:"metadata_ids"`
	Tables     []cachedTable `json:"tables"`
}

type cachedTable struct {
	Entity         *connector.Entity `json:"entity"`
	Set            string            `json:"entity_set"`
	ChangeTracking bool              `json:"change_tracking"`
}

// schemaKey identifies an environment's schema: its URL (case does not
// matter in a host) and the API version, whose metadata may differ.
func schemaKey(url, version string) string { return strings.ToLower(url) + "\n" + version }

// loadSchemaCache installs a cached schema, if there is a usable one.
func (c *Conn) loadSchemaCache() {
	if c.schemaPath == "" {
		return
	}
	var sc schemaCache
	saved, ok := diskcache.Load(c.schemaPath, c.schemaKey, &sc)
	if !ok || schemaKey(sc.URL, sc.APIVersion) != c.schemaKey || len(sc.Tables) == 0 {
		return
	}
	tables := map[string]*tableInfo{}
	for _, t := range sc.Tables {
		if t.Entity == nil || t.Entity.Name == "" || t.Set == "" {
			return
		}
		if _, ok := t.Entity.Field(t.Entity.Key); !ok {
			return
		}
		tables[t.Entity.Name] = &tableInfo{ent: t.Entity, set: t.Set, changeTracking: t.ChangeTracking}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.discovered = tables
	for name, ti := range tables {
		c.tables[name] = ti
	}
	c.known = true
	c.stamp, c.metaIDs, c.validated = sc.Stamp, toSet(sc.IDs), saved
}

func toSet(ids []string) map[string]bool {
	m := make(map[string]bool, len(ids))
	for _, id := range ids {
		m[strings.ToLower(id)] = true
	}
	return m
}

// saveSchemaCache writes what the connector knows; a failure is logged,
// never fatal (the next process discovers again).
func (c *Conn) saveSchemaCache() {
	if c.schemaPath == "" {
		return
	}
	c.mu.Lock()
	sc := schemaCache{URL: c.set.url, APIVersion: c.apiVersion, Stamp: c.stamp}
	for id := range c.metaIDs {
		sc.IDs = append(sc.IDs, id)
	}
	for _, ti := range c.discovered {
		sc.Tables = append(sc.Tables, cachedTable{Entity: ti.ent, Set: ti.set, ChangeTracking: ti.changeTracking})
	}
	validated := c.validated
	c.mu.Unlock()
	sort.Strings(sc.IDs)
	sort.Slice(sc.Tables, func(i, j int) bool { return sc.Tables[i].Entity.Name < sc.Tables[j].Entity.Name })
	if err := diskcache.Save(c.schemaPath, c.schemaKey, validated, sc); err != nil {
		c.log.Warn("could not save the Dynamics schema cache; the next run discovers again", "path", c.schemaPath, "error", err)
	}
}

// ensureSchema makes the connector's tables valid: as they are within
// schemaTTL of their last validation, revalidated with one
// RetrieveMetadataChanges after it, discovered in full without a usable
// version stamp or when the service reports a change. Callers hold
// discoverMu.
func (c *Conn) ensureSchema(ctx context.Context) error {
	c.mu.Lock()
	known, stamp, fresh := c.known, c.stamp, c.now().Sub(c.validated) < c.ttl
	c.mu.Unlock()
	if known && fresh {
		return nil
	}
	if known && stamp != "" {
		ch, err := c.metadataChanges(ctx, stamp)
		var ce *connector.Error
		switch {
		case err == nil && !ch.changed(c.keptIDs()):
			c.mu.Lock()
			c.stamp, c.validated = ch.ServerVersionStamp, c.now()
			c.mu.Unlock()
			c.saveSchemaCache()
			return nil
		case err == nil:
			c.log.Info("the Dynamics schema changed since it was cached; discovering it again")
		case errors.As(err, &ce) && ce.Kind == connector.ErrorExpiredCursor:
			c.log.Info("the cached Dynamics schema's version stamp expired; discovering it again")
		case ctx.Err() != nil || !errors.As(err, &ce) || ce.Kind == connector.ErrorTransient || ce.Kind == connector.ErrorThrottled || ce.Kind == connector.ErrorAuth:
			return err // the service is not answering; a discovery would fail too
		default:
			// The service refused the request itself (a property of the
			// query it does not accept, say): discover as without a cache.
			c.log.Warn("RetrieveMetadataChanges was refused; discovering the schema instead", "error", err)
		}
	}
	return c.discoverAndCache(ctx)
}

// discoverAndCache asks RetrieveMetadataChanges for a version stamp and
// the MetadataIds first, then discovers: a change in between shows at the
// next revalidation rather than being missed. A service that does not
// answer RetrieveMetadataChanges is discovered again at each validation.
func (c *Conn) discoverAndCache(ctx context.Context) error {
	ch, err := c.metadataChanges(ctx, "")
	if err != nil {
		if ctx.Err() != nil {
			return err
		}
		c.log.Warn("RetrieveMetadataChanges failed; the schema is discovered without a version stamp", "error", err)
		ch = &metaChanges{}
	}
	infos, err := c.discover(ctx)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.discovered = infos
	// Without a stamp the discovery is used for schemaTTL in this process
	// and not cached: the next validation is a discovery again.
	c.stamp, c.metaIDs, c.validated = ch.ServerVersionStamp, ch.ids(), c.now()
	c.mu.Unlock()
	if ch.ServerVersionStamp != "" {
		c.saveSchemaCache()
	}
	return nil
}

// keptIDs are the MetadataIds of the discovery (read-only).
func (c *Conn) keptIDs() map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.metaIDs
}

// markSchemaStale makes the next table use revalidate the schema (the
// service refused a column the cached schema has).
func (c *Conn) markSchemaStale() {
	c.mu.Lock()
	c.validated = time.Time{}
	c.mu.Unlock()
}

// metaChanges is the part of a RetrieveMetadataChangesResponse the
// connector reads.
type metaChanges struct {
	ServerVersionStamp string `json:"ServerVersionStamp"`
	EntityMetadata     []struct {
		MetadataID  string `json:"MetadataId"`
		LogicalName string `json:"LogicalName"`
		Attributes  []struct {
			MetadataID string `json:"MetadataId"`
		} `json:"Attributes"`
	} `json:"EntityMetadata"`
	DeletedMetadata *struct {
		Values []struct {
			Items []string `json:"Items"`
		} `json:"Values"`
	} `json:"DeletedMetadata"`
}

// ids are the MetadataIds of the tables and columns a first answer lists.
func (m *metaChanges) ids() map[string]bool {
	ids := map[string]bool{}
	for _, e := range m.EntityMetadata {
		ids[strings.ToLower(e.MetadataID)] = true
		for _, a := range e.Attributes {
			ids[strings.ToLower(a.MetadataID)] = true
		}
	}
	return ids
}

// changed reports whether an answer to a ClientVersionStamp lists a table
// (something in it, or a new table, changed) or deletes a kept
// MetadataId. The deleted ids are not filtered by the query ("Cache
// schema data", Remove deleted items), so others are ignored.
func (m *metaChanges) changed(kept map[string]bool) bool {
	if len(m.EntityMetadata) > 0 || m.ServerVersionStamp == "" {
		return true
	}
	if m.DeletedMetadata != nil {
		for _, v := range m.DeletedMetadata.Values {
			for _, id := range v.Items {
				if kept[strings.ToLower(id)] {
					return true
				}
			}
		}
	}
	return false
}

// metaQuery selects what discovery reads: contact, lead and the custom
// tables, with the properties of theirs and of their columns that
// discovery maps (a change to another property is not a change here).
// Conditions are written as the documented sample writes them, values as
// strings of the named .NET type ("Query schema definitions").
var metaQuery = func() string {
	cond := func(prop, typ, v string) map[string]any {
		return map[string]any{"PropertyName": prop, "ConditionOperator": "Equals", "Value": map[string]any{"Type": typ, "Value": v}}
	}
	q := map[string]any{
		"Criteria": map[string]any{"FilterOperator": "Or", "Conditions": []any{
			cond("LogicalName", "System.String", "contact"), cond("LogicalName", "System.String", "lead"),
			cond("IsCustomEntity", "System.Boolean", "True")}},
		"Properties": map[string]any{"AllProperties": false, "PropertyNames": []string{"EntitySetName", "PrimaryIdAttribute", "ChangeTrackingEnabled", "Attributes", "Keys"}},
		"AttributeQuery": map[string]any{"Properties": map[string]any{"AllProperties": false,
			"PropertyNames": []string{"AttributeType", "IsValidForCreate", "IsValidForUpdate", "AttributeOf", "MaxLength", "Format", "OptionSet"}}},
		"LabelQuery": map[string]any{"FilterLanguages": []int{1033}, "MissingLabelBehavior": 0},
	}
	b, _ := json.Marshal(q) // plain maps always marshal
	return string(b)
}()

// metadataChanges sends RetrieveMetadataChanges with metaQuery, and with
// stamp (when not "") as ClientVersionStamp and deleted tables and
// columns asked for.
func (c *Conn) metadataChanges(ctx context.Context, stamp string) (*metaChanges, error) {
	params := []string{"Query=@q"}
	opts := []queryOption{{"@q", metaQuery}}
	if stamp != "" {
		params = append(params, "ClientVersionStamp=@s", "DeletedMetadataFilters=@d")
		opts = append(opts, queryOption{"@s", quote(stamp)}, queryOption{"@d", "Microsoft.Dynamics.CRM.DeletedMetadataFilters'Default,Attribute'"})
	}
	var out metaChanges
	if err := c.getJSON(ctx, "revalidate the schema", fmt.Sprintf("RetrieveMetadataChanges(%s)?%s", strings.Join(params, ","), encodeQuery(opts...)), &out); err != nil {
		return nil, err
	}
	return &out, nil
}
