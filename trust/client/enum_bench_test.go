package client

import (
	"fmt"
	"runtime"
	"strconv"
	"testing"
)

// enumSim is a repository of n improvements in one component, "webkit":
// listed by webkit itself (flat), or by 2^bits succinct hash bins below it.
func enumSim(b *testing.B, n, bits int) *sim {
	s := newSim(b)
	s.delegate("targets", "webkit", []string{"webkit/*"}, false)
	roles := []string{"targets", "webkit"}
	if bits > 0 {
		roles = append(roles, s.delegateBins("webkit", "webkit-bin", bits)...)
	}
	sr := s.targets["webkit"].Signed.Delegations
	for i := range n {
		p := fmt.Sprintf("webkit/improvement-%06d.tar.gz", i)
		role := "webkit"
		if bits > 0 {
			role = sr.SuccinctRoles.GetRolesForTarget(p)[0].Name
		}
		// A manifest the size of the bench repository's (about 370 bytes):
		// 256 bins are then 18 KiB each, above checkedMin, as there.
		s.addTarget(role, p, []byte(strconv.Itoa(i)), fmt.Sprintf(`{"bsi":{"advisories":["CVE-2026-%05d"],`+
			`"applies_to":{"releases":["26.3"]},"component":"webkit","id":"webkit-%07d","platform":"macos",`+
			`"released":"2026-01-02T03:04:05Z","requires_restart":false,"schema":"bsi.improvement/v1","sequence":%d,`+
			`"severity":"high","status":"active","title":"security improvement webkit-%07d"}}`, i, i, i+1, i))
	}
	s.publish(roles...)
	return s
}

// BenchmarkComponentsFunc: a device's enumeration of 10,000 improvements,
// cold (every role fetched) and warm (every role trusted through the
// record). live-B is the heap in use, after a collection, halfway through
// the enumeration (where, before roles were read run by run, every role
// of the component was held), less the heap in use before it.
func BenchmarkComponentsFunc(b *testing.B) {
	const n = 10000
	for _, layout := range []struct {
		name string
		bits int
	}{{"flat", 0}, {"bins", 8}} {
		s := enumSim(b, n, layout.bits)
		for _, warm := range []bool{false, true} {
			name := layout.name + "/cold"
			if warm {
				name = layout.name + "/warm"
			}
			b.Run(name, func(b *testing.B) {
				c0, dir := s.client(b, true)
				if _, err := c0.Components(ctx); err != nil {
					b.Fatal(err)
				}
				var live int64
				for b.Loop() {
					b.StopTimer()
					c := s.clientAt(b, dir)
					if !warm {
						c, _ = s.client(b, true)
					}
					mustRefresh(b, c)
					var ms runtime.MemStats
					runtime.GC()
					runtime.ReadMemStats(&ms)
					base := ms.HeapAlloc
					b.StartTimer()
					seen := 0
					comps, err := c.ComponentsFunc(ctx, func(role string, t *Target) bool {
						if seen++; seen == n/2 {
							runtime.GC()
							runtime.ReadMemStats(&ms)
							live = max(live, int64(ms.HeapAlloc)-int64(base))
						}
						return false
					})
					if err != nil || seen != n || len(comps) != 1 || comps[0].Err != nil {
						b.Fatalf("%d targets, %v, %v", seen, comps, err)
					}
				}
				b.ReportMetric(float64(live), "live-B")
			})
		}
	}
}
