package dynamics

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/synclang/synclang/connectors/connector"
	"github.com/synclang/synclang/connectors/conntest"
	"github.com/synclang/synclang/connectors/dynamics/emulator"
)

func newRecord(i int) map[string]any {
	return map[string]any{"firstname": fmt.Sprint("F", i), "lastname": fmt.Sprint("L", i), "jobtitle": "Buyer",
		"emailaddress1": fmt.Sprintf("p%d@example.com", i), "gendercode": int64(1 + i%2), "birthdate": "1980-01-02"}
}

func TestConformance(t *testing.T) {
	t.Parallel()
	var envs sync.Map // *Conn → *testEnv
	conntest.Run(t, func(t *testing.T) connector.Connector {
		env := newTestEnv(t, emulator.Options{}, 0)
		envs.Store(env.conn, env)
		return env.conn
	}, conntest.Options{
		Entity:       "contact",
		NewRecord:    newRecord,
		UpdateField:  "jobtitle",
		UpdateValue:  func(i int) any { return fmt.Sprint("Title ", i) },
		LookupFields: []string{"emailaddress1", "lastname"},
		MissingKey:   "00000000-0000-4000-8000-000000000001",
		// The service rejects the record (the alternate key on
		// emailaddress1 already holds record 0's address), so the bulk
		// create fails as a whole and the connector must isolate it.
		Invalid: func(i int) map[string]any {
			return map[string]any{"lastname": "Dup", "emailaddress1": "P0@example.com"}
		},
		Corrupt: func(t *testing.T, c connector.Connector, key string) string {
			env, _ := envs.Load(c)
			env.(*testEnv).emu.SetRaw("contact", key, "firstname", int64(12345))
			return "firstname"
		},
		Served: func(c connector.Connector) int64 {
			env, _ := envs.Load(c)
			return env.(*testEnv).emu.Requests()
		},
		// Around a bulk request's size (maxBulk) and a $batch's.
		EstimateSizes: []int{1, 3, 1100},
		Limits:        []connector.Limit{{Scope: "all requests of the user (per web server)", Requests: 6000, Per: 5 * time.Minute, Concurrency: 52}},
	})
}
