package repo

import (
	"archive/tar"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/bsiframework/bsi/internal/gzpool"
)

// TestAttackHostilePayloadShapesNoOtherCheck: the publisher's payload
// check reuses gzip readers (gzpool). A payload made to leave a
// reader in some state (a corrupt or truncated stream, a second gzip
// member after the archive, a path escape) must not change how any other
// payload, checked after it or at the same time, is judged: each gets,
// from several goroutines sharing the pool in any order, the result it
// gets alone with a reader of its own.
func TestAttackHostilePayloadShapesNoOtherCheck(t *testing.T) {
	good := tarBytes(&tar.Header{Name: "lib/", Typeflag: tar.TypeDir, Mode: 0o755}, reg("lib/a.so"))
	gz := gzBytes(good)
	payloads := [][]byte{
		gz,
		good,
		gzBytes(tarBytes(reg("b"), reg("c"), reg("d"))),
		gz[:len(gz)-6], // truncated
		append(gzBytes(good), gzBytes(tarBytes(reg("../x")))...), // a second member, not read
		append(gzBytes(good), 0x1f, 0x8b, 9, 9, 9),               // a broken second member, not read
		gzBytes([]byte("plain text")),
		gzBytes(tarBytes(reg("../x"))),
		{0x1f, 0x8b},
		{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff, 1, 2, 3}, // corrupt deflate
	}
	alone := make([]string, len(payloads))
	for i, p := range payloads {
		gzpool.Drop()
		kind, err := checkArchive("p", p)
		alone[i] = fmt.Sprintf("%s %v", kind, err)
	}
	if alone[4] != extTarGz+" <nil>" || alone[5] != extTarGz+" <nil>" {
		t.Fatalf("a payload followed by another gzip member: %q, %q; want the first member read alone", alone[4], alone[5])
	}
	gzpool.Drop()

	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for w := range 8 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 2))
			for range 500 {
				i := r.IntN(len(payloads))
				kind, err := checkArchive("p", payloads[i])
				if got := fmt.Sprintf("%s %v", kind, err); got != alone[i] {
					select {
					case errs <- fmt.Sprintf("payload %d: %s, alone: %s", i, got, alone[i]):
					default:
					}
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}
