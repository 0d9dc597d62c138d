package client

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bsiframework/bsi/trust"
)

// binsSim is a repository whose "webkit" lists its 600 targets in 16
// succinct hash bins of lazyMin bytes or more each (readLazily's), and
// the directory of a client that enumerated them once (cold), so that a
// client there is warm.
func binsSim(t *testing.T) (*sim, string, []string) {
	s := newSim(t)
	s.delegate("targets", "webkit", []string{"webkit/*"}, false)
	bins := s.delegateBins("webkit", "webkit-bin", 4)
	sr := s.targets["webkit"].Signed.Delegations.SuccinctRoles
	var paths []string
	for i := range 600 {
		p := fmt.Sprintf("webkit/improvement-%05d.tar.gz", i)
		if i%50 == 7 {
			p = fmt.Sprintf("webkit/odd<%05d>&name", i) // a key with escapes
		}
		s.addTarget(sr.GetRolesForTarget(p)[0].Name, p, []byte(p),
			fmt.Sprintf(`{"bsi":{"id":"webkit-%05d","title":"%s"}}`, i, strings.Repeat("x", 400)))
		paths = append(paths, p)
	}
	s.publish(append([]string{"targets", "webkit"}, bins...)...)
	for _, b := range bins {
		if n := len(s.get(b + ".json")); n < lazyMin {
			t.Fatalf("%s.json is %d bytes, below lazyMin", b, n)
		}
	}
	c, dir := s.client(t, false)
	if _, err := c.Components(ctx); err != nil {
		t.Fatal(err)
	}
	return s, dir, slices.Sorted(slices.Values(paths))
}

func wantHashes(t *testing.T, tg *Target) {
	t.Helper()
	if sum := sha256.Sum256([]byte(tg.Path)); tg.Hashes["sha256"] != hex.EncodeToString(sum[:]) {
		t.Errorf("%s: hashes %v", tg.Path, tg.Hashes)
	}
}

// TestWarmEnumerationReadsRunByRun: a warm client enumerating hash bins
// holds no bin whole: each is read again from disk one run at a time,
// hashed against the index built when it was loaded. The targets and
// their order are those of a cold client.
func TestWarmEnumerationReadsRunByRun(t *testing.T) {
	s, dir, paths := binsSim(t)
	c := s.clientAt(t, dir)
	mustRefresh(t, c)
	var seen []string
	comps, err := c.ComponentsFunc(ctx, func(role string, tg *Target) bool {
		wantHashes(t, tg)
		seen = append(seen, tg.Path)
		if len(seen) == len(paths)/2 {
			for name, f := range c.trusted.roles {
				if !strings.HasPrefix(name, "webkit-bin") {
					continue
				}
				if f.raw != nil || f.lazy == nil {
					t.Errorf("%s is held whole", name)
				} else if len(f.lazy.valid) > 2 {
					t.Errorf("%s: %d segments held, more than its current run", name, len(f.lazy.valid))
				}
			}
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, paths) {
		t.Errorf("fn saw %d targets, want %d, each once, in order", len(seen), len(paths))
	}
	if len(comps) != 1 || comps[0].Err != nil || len(comps[0].Targets) != len(paths) {
		t.Fatalf("components %+v", comps)
	}
	if got := c.used["webkit-bin-3"]; got != fromRecord {
		t.Errorf("webkit-bin-3 came from source %d, not the record", got)
	}
	// A look-up after the enumeration reads the bin again.
	for _, p := range []string{paths[0], paths[len(paths)-1], paths[7]} {
		tg, err := c.Lookup(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		wantHashes(t, tg)
	}
	if _, err := c.Lookup(ctx, "webkit/absent"); !errors.As(err, new(*NotFoundError)) {
		t.Errorf("absent target: %v, want not found", err)
	}
}

// TestWarmBinChangedOnDisk: a bin changed on disk before it is loaded is
// verified again the usual way (its bytes no longer hash to the record);
// one changed after it was loaded, while fn sees targets, gives the
// "check again" error, never a target from the changed bytes, and never a
// security error.
func TestWarmBinChangedOnDisk(t *testing.T) {
	flipEntry := func(t *testing.T, dir, bin string) {
		flipByte(t, filepath.Join(dir, fileName(bin)), func(b []byte) int {
			return strings.LastIndex(string(b), `"length"`) + 3
		})
	}
	t.Run("before loading", func(t *testing.T) {
		s, dir, paths := binsSim(t)
		flipEntry(t, dir, "webkit-bin-5")
		c := s.clientAt(t, dir)
		mustRefresh(t, c)
		got, err := c.Targets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(paths) {
			t.Errorf("%d targets, want %d", len(got), len(paths))
		}
		for _, tg := range got {
			wantHashes(t, tg)
		}
		if c.used["webkit-bin-5"] == fromRecord {
			t.Errorf("the changed bin was trusted through the record")
		}
	})
	t.Run("during enumeration", func(t *testing.T) {
		s, dir, _ := binsSim(t)
		c := s.clientAt(t, dir)
		mustRefresh(t, c)
		n := 0
		_, err := c.ComponentsFunc(ctx, func(role string, tg *Target) bool {
			wantHashes(t, tg)
			if n++; n == 1 {
				for i := range 16 {
					flipEntry(t, dir, fmt.Sprintf("webkit-bin-%x", i))
				}
			}
			return false
		})
		if !errors.Is(err, errStoredChanged) || !strings.Contains(fmt.Sprint(err), "check again") {
			t.Fatalf("got %v after %d targets, want the check again error", err, n)
		}
		if errors.Is(err, trust.ErrSecurity) {
			t.Errorf("%v is a security error", err)
		}
	})
}

// TestColdEnumerationReadsRunByRun: a cold client holds no fetched bin
// whole while it enumerates: each is written to its temporary file as it
// verifies and read back one run at a time, hashed against an index
// built from the verified bytes. After the batch renames them, look-ups
// read the stored files, and a warm client trusts them through the record.
// A temporary file changed before it is read back gives the "check
// again" error, never a target from the changed bytes.
func TestColdEnumerationReadsRunByRun(t *testing.T) {
	s, _, paths := binsSim(t)
	c, dir := s.client(t, false)
	var seen []string
	_, err := c.ComponentsFunc(ctx, func(role string, tg *Target) bool {
		wantHashes(t, tg)
		seen = append(seen, tg.Path)
		if len(seen) == len(paths)/2 {
			for name, f := range c.trusted.roles {
				if !strings.HasPrefix(name, "webkit-bin") {
					continue
				}
				if f.raw != nil || f.lazy == nil {
					t.Errorf("%s is held whole", name)
				} else if !strings.HasPrefix(filepath.Base(f.lazy.path), ".tmp-") {
					t.Errorf("%s is read from %s, not its temporary file", name, f.lazy.path)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, fileName("webkit-bin-3"))); err == nil {
				t.Error("a bin is stored under its name before the batch")
			}
		}
		return true
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seen, paths) {
		t.Errorf("fn saw %d targets, want %d, each once, in order", len(seen), len(paths))
	}
	for name, f := range c.trusted.roles {
		if f.lazy != nil && f.lazy.path != filepath.Join(dir, fileName(name)) {
			t.Errorf("%s is read from %s after the batch", name, f.lazy.path)
		}
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, ".tmp-*")); len(tmps) > 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
	for _, p := range []string{paths[0], paths[len(paths)-1], paths[7]} {
		tg, err := c.Lookup(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		wantHashes(t, tg)
	}
	warm := s.clientAt(t, dir)
	got, err := warm.Targets(ctx)
	if err != nil || len(got) != len(paths) {
		t.Fatalf("warm: %d targets, %v", len(got), err)
	}
	if src := warm.used["webkit-bin-3"]; src != fromRecord {
		t.Errorf("webkit-bin-3 came from source %d, not the record", src)
	}

	t.Run("temporary file changed", func(t *testing.T) {
		c, _ := s.client(t, false)
		n := 0
		_, err := c.ComponentsFunc(ctx, func(role string, tg *Target) bool {
			wantHashes(t, tg)
			if n++; n == 1 {
				for name, f := range c.trusted.roles {
					if strings.HasPrefix(name, "webkit-bin") && f.lazy != nil {
						flipByte(t, f.lazy.path, func(b []byte) int { return strings.LastIndex(string(b), `"length"`) + 3 })
					}
				}
			}
			return false
		})
		if !errors.Is(err, errStoredChanged) || !strings.Contains(fmt.Sprint(err), "check again") {
			t.Fatalf("got %v after %d targets, want the check again error", err, n)
		}
		if errors.Is(err, trust.ErrSecurity) {
			t.Errorf("%v is a security error", err)
		}
		// The changed bytes are not stored: the batch found them changed.
		if _, err := os.Stat(filepath.Join(c.cfg.MetadataDir, fileName("webkit-bin-3"))); err == nil {
			t.Error("a changed bin was stored")
		}
		if tmps, _ := filepath.Glob(filepath.Join(c.cfg.MetadataDir, ".tmp-*")); len(tmps) > 0 {
			t.Errorf("temporary files left: %v", tmps)
		}
	})
}

// TestEnumerationClosesFiles: the role files an enumeration keeps open
// (one per hash bin, read run by run) are closed when it ends, cold or
// warm, and at most maxOpen are open at once.
func TestEnumerationClosesFiles(t *testing.T) {
	s, dir, paths := binsSim(t)
	for _, tc := range []struct {
		name string
		c    func() *Client
	}{
		{"warm", func() *Client { return s.clientAt(t, dir) }},
		{"cold", func() *Client { c, _ := s.client(t, false); return c }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.c()
			open := map[*os.File]bool{}
			got, err := c.ComponentsFunc(ctx, func(role string, tg *Target) bool {
				if n := len(c.openFiles.files); n > maxOpen {
					t.Fatalf("%d files open", n)
				}
				for _, f := range c.openFiles.files {
					open[f.fh] = true
				}
				return true
			})
			if err != nil || len(got) != 1 || len(got[0].Targets) != len(paths) {
				t.Fatalf("components: %v", err)
			}
			if len(open) == 0 {
				t.Fatal("no file was kept open")
			}
			for fh := range open {
				if _, err := fh.Stat(); !errors.Is(err, os.ErrClosed) {
					t.Errorf("%s is still open after the enumeration", fh.Name())
				}
			}
			if len(c.openFiles.files) != 0 {
				t.Errorf("%d files recorded open", len(c.openFiles.files))
			}
		})
	}
}
