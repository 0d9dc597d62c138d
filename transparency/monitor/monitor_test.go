package monitor

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/transparency-dev/formats/log"

	"github.com/bsiframework/bsi/transparency"
)

func hexOf(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

func entry(t *testing.T, path, payload, role string) ([]byte, Listed) {
	e := transparency.Entry{Kind: transparency.KindImprovement, Component: strings.Split(path, "/")[0], Path: path,
		Length: int64(len(payload)), Hashes: map[string]string{"sha256": hexOf(payload)}, ManifestSHA256: hexOf("m " + path),
		Role: role, RoleVersion: 1}
	b, err := e.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b, Listed{Path: path, Length: e.Length, Hashes: e.Hashes, ManifestSHA256: e.ManifestSHA256}
}

func kinds(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Kind+" "+f.Path)
	}
	return out
}

func TestCheckCleanLog(t *testing.T) {
	a, la := entry(t, "webkit/wk-1.tar.gz", "one", "webkit")
	b, lb := entry(t, "safari/sf-1.tar.gz", "two", "safari.bin-0")
	root := []byte("bsi.tlog-entry/v1\nkind root\nversion 1\nlength 3\nhash sha256 " + hexOf("abc") + "\n")
	if f, _ := Check([][]byte{root, a, b}, []Listed{la, lb}, ""); len(f) != 0 {
		t.Fatalf("findings on a clean log: %v", kinds(f))
	}
}

func TestAttackReleaseTheTeamNeverMade(t *testing.T) {
	a, la := entry(t, "webkit/wk-1.tar.gz", "one", "webkit")
	// Signed with the webkit key and logged (so that a device accepts it),
	// shown to one device only: the repository does not list it.
	evil, _ := entry(t, "webkit/wk-evil.tar.gz", "backdoor", "webkit")
	// The same path as a real release, with another payload.
	twin, _ := entry(t, "webkit/wk-1.tar.gz", "backdoor", "webkit")
	f, mine := Check([][]byte{a, evil, twin}, []Listed{la}, "webkit")
	got := strings.Join(kinds(f), ", ")
	if got != "logged-not-listed webkit/wk-evil.tar.gz, logged-not-listed webkit/wk-1.tar.gz" {
		t.Fatalf("findings: %s", got)
	}
	if len(mine) != 3 || mine[1].Entry.Path != "webkit/wk-evil.tar.gz" || mine[1].Index != 1 {
		t.Fatalf("--component webkit lists %+v", mine)
	}
}

func TestAttackImprovementNotLoggedAndWrongRole(t *testing.T) {
	_, la := entry(t, "webkit/wk-1.tar.gz", "one", "webkit")
	b, lb := entry(t, "webkit/wk-2.tar.gz", "two", "safari")
	f, _ := Check([][]byte{b, []byte("junk\n")}, []Listed{la, lb}, "")
	got := strings.Join(kinds(f), ", ")
	if got != "wrong-role webkit/wk-2.tar.gz, bad-entry , not-logged webkit/wk-1.tar.gz" {
		t.Fatalf("findings: %s", got)
	}
}

func TestAttackSplitViewCheckpoint(t *testing.T) {
	old := &State{Format: StateFormat, Origin: "o", Size: 5, Hash: hexOf("root5")}
	h := sha256.Sum256([]byte("another root"))
	for _, tc := range []struct {
		name string
		cp   log.Checkpoint
	}{
		{"same size, another root", log.Checkpoint{Origin: "o", Size: 5, Hash: h[:]}},
		{"rolled back", log.Checkpoint{Origin: "o", Size: 4, Hash: h[:]}},
		{"grown without a proof", log.Checkpoint{Origin: "o", Size: 9, Hash: h[:]}},
	} {
		_, err := Advance(old, &tc.cp, nil)
		var ie *InconsistentError
		if !errors.As(err, &ie) {
			t.Errorf("%s: %v", tc.name, err)
		}
	}
	same, _ := hex.DecodeString(old.Hash)
	if s, err := Advance(old, &log.Checkpoint{Origin: "o", Size: 5, Hash: same}, nil); err != nil || s.Size != 5 {
		t.Fatalf("same checkpoint: %v", err)
	}
}

func FuzzParseState(f *testing.F) {
	f.Add([]byte(`{"format":"bsi.monitor-state/v1","origin":"o","size":5,"hash":"` + hexOf("x") + `"}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseState(data)
		if err != nil {
			return
		}
		if s.Format != StateFormat || len(s.Hash) != 64 || s.Origin == "" {
			t.Fatalf("accepted %+v", s)
		}
	})
}
