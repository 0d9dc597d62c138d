package install

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bsiframework/bsi/internal/gzpool"
	"github.com/bsiframework/bsi/internal/gzpool/pooltest"
)

// TestAttackHostileArchiveShapesNoOtherCheck: gzip and buffered readers
// are reused between archives (gzpool, bufReaders). A publisher or
// mirror whose payload is hostile (a bomb, a truncated or corrupt stream,
// a path escape) must not change how any other archive checked after it,
// or at the same time, is judged: every archive, checked in any order by
// several goroutines sharing the pools, gets the result it gets alone,
// with readers of its own.
func TestAttackHostileArchiveShapesNoOtherCheck(t *testing.T) {
	type archive struct {
		name string
		data []byte
		lim  Limits
	}
	var archives []archive
	for _, h := range hostileArchives() {
		archives = append(archives, archive{h.name, h.data, h.lim})
	}
	for i := range 4 {
		// Good archives of different lengths, so that a reader left
		// pointing at another stream shows.
		body := string(garbage(100 + 3000*i))
		archives = append(archives, archive{fmt.Sprint("good ", i),
			tarBytes(t, true, dir("d/"), file("d/f", body), file(fmt.Sprint("g", i), "x")), Limits{}})
	}
	pooltest.SameAsAlone(t, len(archives), 300,
		func() { gzpool.Drop(); bufReaders = sync.Pool{} },
		func(i int) string { return judge(ValidateArchive(bytes.NewReader(archives[i].data), archives[i].lim)) },
		func(i int) string { return archives[i].name })
}

// judge renders what ValidateArchive returned: the entries, or the problem
// and the entry it blames.
func judge(entries []Entry, err error) string {
	if ae, ok := errors.AsType[*ArchiveError](err); ok {
		return fmt.Sprintf("refused: %s %q", ae.Problem, ae.Entry)
	}
	if err != nil {
		return "error: " + err.Error()
	}
	return "accepted: " + cmp.Diff([]Entry(nil), entries)
}

// A caller's own buffered reader is read, never kept: after it checked an
// archive read through its *bufio.Reader, a check of another archive must
// not take that reader over (the caller would then read the other
// archive's bytes from it).
func TestPoolKeepsNoCallerReader(t *testing.T) {
	gzpool.Drop()
	bufReaders = sync.Pool{}
	first := tarBytes(t, true, file("a", "first"))
	own := bufio.NewReader(bytes.NewReader(first))
	if _, err := ValidateArchive(own, Limits{}); err != nil {
		t.Fatal(err)
	}
	// Refused at its first header: the rest of it stays unread in
	// whichever reader it was read through.
	second := tarBytes(t, false, file("../b", strings.Repeat("second", 2000)))
	if _, err := ValidateArchive(bytes.NewReader(second), Limits{}); err == nil {
		t.Fatal("an archive with ../b accepted")
	}
	if rest, err := io.ReadAll(own); err != nil || len(rest) != 0 {
		t.Fatalf("the caller's reader, read to its end, then gives %d bytes (%v): another check took it over", len(rest), err)
	}
}
