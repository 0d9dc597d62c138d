package client

import (
	"bytes"
	"errors"
	"maps"
	"slices"
	"testing"
)

// mapEntries is how enumeration kept a role's entries before entryTable:
// a map of every entry, by unescaped path, each the raw JSON of the entry
// (a later key replacing an earlier one), and the raw delegations.
func mapEntries(raw []byte) (map[string][]byte, []byte, error) {
	entries := map[string][]byte{}
	var delegs []byte
	err := scanSigned(raw, []string{"delegations", "targets"}, func(s *scanner, field string) error {
		if field == "delegations" {
			var err error
			delegs, err = s.value()
			return err
		}
		return s.pairs(func(k, v []byte) error {
			entries[string(k)] = v
			return nil
		})
	})
	if err != nil {
		return nil, nil, err
	}
	return entries, delegs, nil
}

// FuzzEntryTableMatchesMap: on any bytes, the entry table finds exactly
// what the map of every entry held: the same error or none, the same
// delegations, and for every key the same entry (the very bytes of the
// file), for a key near one none, and its paths are the map's keys in
// increasing order.
func FuzzEntryTableMatchesMap(f *testing.F) {
	for _, s := range scanSeeds {
		f.Add([]byte(s))
	}
	f.Add(bigTargets(3))
	for _, s := range []string{
		// Keys out of order, with escapes, repeated, a key that is a
		// prefix of another, the empty key.
		`{"signed":{"targets":{"b":{"length":1},"a\u0062":{"length":2},"a":3,"":4,"ab":{"length":5},"\u0061":6}},"signatures":[]}`,
		// Two "targets": the second adds to the first.
		`{"signed":{"targets":{"x":1,"y":2},"delegations":{"roles":[]},"targets":{"y":3,"z":4}}}`,
		// Keys that differ in case from a field: the scan gives up.
		`{"signed":{"Targets":{"x":1}}}`,
		`{"signed":{"targets":{"a\"b":1,"a\\b":2,"a/b":3,"a\/b":4}}}`,
		`{"signed":{"targets":{"a":1,"b":}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		want, wantDelegs, wantErr := mapEntries(raw)
		tab, delegs, err := scanEntries(raw)
		if (err == nil) != (wantErr == nil) || errors.Is(err, errOddKey) != errors.Is(wantErr, errOddKey) {
			t.Fatalf("error %v, the map's %v", err, wantErr)
		}
		if err != nil {
			return
		}
		if !bytes.Equal(delegs, wantDelegs) {
			t.Fatalf("delegations %q, the map's %q", delegs, wantDelegs)
		}
		if tab.len() != len(want) {
			t.Fatalf("%d entries, the map %d", tab.len(), len(want))
		}
		for k, v := range want {
			got, covered := tab.find(k)
			if !covered || got == nil || !bytes.Equal(got, v) || &got[0] != &v[0] {
				t.Fatalf("find(%q) = %q (covered %v), the map's %q", k, got, covered, v)
			}
			for _, probe := range []string{k + "\x00", k + "~", k[:len(k)/2]} {
				if got, _ := tab.find(probe); (got != nil) != (want[probe] != nil) {
					t.Fatalf("find(%q) = %q, the map's %q", probe, got, want[probe])
				}
			}
		}
		if got, _ := tab.find("\xff\xff"); got != nil && want["\xff\xff"] == nil {
			t.Fatalf("find of an absent key = %q", got)
		}
		if got, keys := drain(&pathStream{table: tab}), slices.Sorted(maps.Keys(want)); !slices.Equal(got, keys) {
			t.Fatalf("paths %q, the map's sorted %q", got, keys)
		}
	})
}

// TestMergePaths: the paths of several roles, each sorted, once each and
// in increasing order, whatever they share.
func TestMergePaths(t *testing.T) {
	for _, tc := range []struct {
		name    string
		streams [][]string
		want    []string
	}{
		{"none", nil, nil},
		{"one", [][]string{{"a", "b", "c"}}, []string{"a", "b", "c"}},
		{"empty streams", [][]string{{}, {"b"}, {}}, []string{"b"}},
		{"interleaved", [][]string{{"a", "d", "g"}, {"b", "e"}, {"c", "f", "h"}}, []string{"a", "b", "c", "d", "e", "f", "g", "h"}},
		{"shared paths", [][]string{{"a", "b", "x"}, {"b", "x", "y"}, {"x"}}, []string{"a", "b", "x", "y"}},
		{"prefixes", [][]string{{"a/b", "a/b/c"}, {"a", "a/b"}}, []string{"a", "a/b", "a/b/c"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ss []*pathStream
			for _, s := range tc.streams {
				ss = append(ss, &pathStream{paths: s})
			}
			var got []string
			if err := mergePaths(ss, func(p string) error { got = append(got, p); return nil }); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	stop := errors.New("stop")
	n := 0
	err := mergePaths([]*pathStream{{paths: []string{"a", "b"}}}, func(string) error { n++; return stop })
	if !errors.Is(err, stop) || n != 1 {
		t.Errorf("fn's error: got %v after %d calls, want it after 1", err, n)
	}
}
