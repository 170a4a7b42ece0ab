package synctest_test

import (
	"context"
	"math/rand"
	"strings"
	"testing"
	"time"

	"github.com/synclang/synclang/lang"
	"github.com/synclang/synclang/runtime/synctest"
)

// TestDamagedTestFiles runs the examples' test file damaged at random
// (bytes changed, cut, copied), deterministically: each version is
// reported or run, without a panic, and every run ends.
func TestDamagedTestFiles(t *testing.T) {
	inputs := project(t, "examples", nil)
	var syncs []lang.Input
	var seed []byte
	for _, in := range inputs {
		if strings.HasSuffix(in.Name, "_test.sync") {
			seed = in.Src
		} else {
			syncs = append(syncs, in)
		}
	}
	rnd := rand.New(rand.NewSource(1))
	for range 100 {
		src := append([]byte(nil), seed...)
		for k := 0; k < 1+rnd.Intn(4); k++ {
			p := rnd.Intn(len(src))
			switch rnd.Intn(3) {
			case 0:
				src[p] = byte(rnd.Intn(128))
			case 1:
				src = append(src[:p], src[min(len(src), p+rnd.Intn(20)):]...)
			case 2:
				q := rnd.Intn(len(src))
				src = append(src[:p], append(append([]byte(nil), src[q:min(len(src), q+rnd.Intn(40))]...), src[p:]...)...)
			}
		}
		p, diags := lang.Compile(append(syncs, lang.Input{Name: "f_test.sync", Src: src}), lang.Options{Registry: registry()})
		if !diags.HasErrors() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			_, err := synctest.Run(ctx, p, synctest.Options{Registry: registry(), NewStandIn: standIn})
			cancel()
			if err != nil {
				t.Fatalf("%v running:\n%s", err, src)
			}
		}
	}
}
