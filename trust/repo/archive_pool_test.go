package repo

import (
	"archive/tar"
	"fmt"
	"testing"

	"github.com/bsiframework/bsi/internal/gzpool"
	"github.com/bsiframework/bsi/internal/gzpool/pooltest"
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
	check := func(i int) string {
		kind, err := checkArchive("p", payloads[i])
		return fmt.Sprintf("%s %v", kind, err)
	}
	gzpool.Drop()
	if got := check(4) + ", " + check(5); got != extTarGz+" <nil>, "+extTarGz+" <nil>" {
		t.Fatalf("a payload followed by another gzip member: %s; want the first member read alone", got)
	}
	pooltest.SameAsAlone(t, len(payloads), 500, gzpool.Drop, check, func(i int) string { return fmt.Sprint("payload ", i) })
}
