package crashtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corruptions damage a file as a crash or a bad disk would.
var corruptions = []struct {
	name string
	do   func([]byte) []byte
}{
	{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
	{"empty", func([]byte) []byte { return nil }},
	{"bit-flipped", func(b []byte) []byte {
		c := append([]byte(nil), b...)
		c[len(c)/2] ^= 0x04
		return c
	}},
}

// TestCorruptClientState damages each trusted file of a device state that
// has webkit-26.3-b installed and runs "bsi client check", then
// "bsi client install --all": each either recovers from the repository
// (root still trusted, b still current, nothing else installed) or fails
// with a clear error naming the file. Never a silently wrong state.
func TestCorruptClientState(t *testing.T) {
	t.Parallel()
	f := getFixture(t)
	work := workDir(t)
	good := filepath.Join(work, "good")
	f.initDevice(t, good, f.url)
	must(t, "client", "install", good, "--all")
	files := []string{"metadata/root.json", "metadata/timestamp.json", "metadata/snapshot.json",
		"metadata/targets.json", "metadata/webkit.json", "metadata/.verified-state", "installed.json"}
	dir := filepath.Join(work, "state")
	for _, file := range files {
		for _, c := range corruptions {
			t.Run(file+"/"+c.name, func(t *testing.T) {
				reset(t, good, dir)
				p := filepath.Join(dir, file)
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, c.do(data), 0o644); err != nil {
					t.Fatal(err)
				}
				for _, args := range [][]string{{"client", "check", dir}, {"client", "install", dir, "--all"}} {
					r := run(t, nil, args...)
					switch {
					case r.code == 0:
						wantGoodState(t, dir, strings.Join(args, " "))
					case r.code == 1 || r.code == 3:
						if !namesFile(r.stderr, file) {
							t.Errorf("%s: the error does not name %s: %s", strings.Join(args, " "), file, r)
						}
					default:
						t.Errorf("%s: %s", strings.Join(args, " "), r)
					}
				}
			})
		}
	}
}

// namesFile reports whether an error message names file, or the role it
// holds ("root: malformed metadata" for metadata/root.json).
func namesFile(msg, file string) bool {
	base := filepath.Base(file)
	return strings.Contains(msg, base) || strings.Contains(msg, strings.TrimSuffix(base, ".json")+":") ||
		strings.Contains(msg, strings.TrimSuffix(base, ".json")+" ")
}

// wantGoodState checks that dir still runs webkit-26.3-b and trusts the
// repository's root.
func wantGoodState(t *testing.T, dir, after string) {
	t.Helper()
	cur, err := os.Readlink(filepath.Join(dir, "root", "webkit", "current"))
	if err != nil || cur != "versions/webkit-26.3-b" {
		t.Errorf("after %s: webkit current is %q (%v), want versions/webkit-26.3-b", after, cur, err)
	}
	st := must(t, "client", "status", dir, "--json")
	if !strings.Contains(st, `"webkit-26.3-b"`) || strings.Contains(st, `"webkit-26.3-a"`) {
		t.Errorf("after %s: status does not show webkit-26.3-b alone installed:\n%s", after, st)
	}
	root, err := os.ReadFile(filepath.Join(dir, "metadata", "root.json"))
	if err != nil || !strings.Contains(string(root), `"_type":"root"`) && !strings.Contains(string(root), `"_type": "root"`) {
		t.Errorf("after %s: no trusted root.json (%v)", after, err)
	}
}

// TestCorruptWorkspace damages each file of a publisher workspace with a
// pending change and runs "bsi repo status" and "bsi repo publish": each
// either succeeds, and then a device verifies the published repository,
// or fails with an error naming the file.
func TestCorruptWorkspace(t *testing.T) {
	t.Parallel()
	f := getFixture(t)
	work := workDir(t)
	dir := filepath.Join(work, "ws")
	follow := newFollower()
	follow(t, f.wsA) // set up here, so that its device outlives the subtests
	files := []string{"workspace.json", "metadata/root.json", "metadata/targets.json", "metadata/webkit.json",
		"metadata/snapshot.json", "metadata/timestamp.json"}
	for _, file := range files {
		for _, c := range corruptions {
			t.Run(file+"/"+c.name, func(t *testing.T) {
				reset(t, f.wsAdded, dir)
				p := filepath.Join(dir, file)
				data, err := os.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, c.do(data), 0o644); err != nil {
					t.Fatal(err)
				}
				for _, args := range [][]string{{"repo", "status", dir}, {"repo", "publish", dir}} {
					r := run(t, nil, args...)
					switch {
					case r.code == 0 && args[1] == "publish":
						follow(t, dir)
					case r.code == 0:
					case r.code == 1 || r.code == 3:
						// A damaged signed role may instead be refused as
						// lacking signatures: publishing stops either way.
						if !namesFile(r.stderr, file) && !strings.Contains(r.stderr, "signature") {
							t.Errorf("%s: the error does not name %s: %s", strings.Join(args, " "), file, r)
						}
					default:
						t.Errorf("%s: %s", strings.Join(args, " "), r)
					}
				}
			})
		}
	}
}
