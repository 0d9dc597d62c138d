package crashtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// kernelFaults are the kernel's own write failures, each made in a private
// mount namespace (unshare -m) that dies with the command, so that lifting
// the fault is the namespace going away. $STATE is the device state,
// $ROOT its install root, $OUT a directory outside both, $BSI the binary.
var kernelFaults = []struct {
	name, text string
	// script runs "$BSI" "$@" under the fault and exits with its code.
	script string
	// copyBack: the fault hides the real $ROOT; the script leaves in $OUT
	// what the command left on the faulty file system, which the test
	// puts back in place of $ROOT before it looks.
	copyBack bool
}{
	{
		name: "full install root", text: "no space left on device", copyBack: true,
		// A small tmpfs over ROOT holding a copy of it, then filled up.
		script: `mount -t tmpfs -o size=256k,mode=$MODE tmpfs "$ROOT" &&
cp -a "$OLDROOT/." "$ROOT/" &&
{ cat /dev/zero > "$ROOT/.fill" 2>/dev/null; true; } &&
test -s "$ROOT/.fill" || exit 90
"$BSI" "$@"; code=$?
rm -f "$ROOT/.fill" && cp -a "$ROOT" "$OUT" || exit 91
exit $code`,
	},
	{
		name: "nearly full install root", text: "no space left on device", copyBack: true,
		// As above, then 8 KiB freed: the journal fits, the extraction
		// does not.
		script: `mount -t tmpfs -o size=256k,mode=$MODE tmpfs "$ROOT" &&
cp -a "$OLDROOT/." "$ROOT/" &&
{ cat /dev/zero > "$ROOT/.fill" 2>/dev/null; true; } &&
truncate -s -8K "$ROOT/.fill" || exit 90
"$BSI" "$@"; code=$?
rm -f "$ROOT/.fill" && cp -a "$ROOT" "$OUT" || exit 91
exit $code`,
	},
	{
		name: "read-only install root", text: "read-only file system",
		script: `mount --bind "$ROOT" "$ROOT" && mount -o remount,bind,ro "$ROOT" "$ROOT" || exit 90
exec "$BSI" "$@"`,
	},
	{
		name: "read-only state", text: "read-only file system",
		script: `mount --bind "$STATE" "$STATE" && mount -o remount,bind,ro "$STATE" "$STATE" || exit 90
exec "$BSI" "$@"`,
	},
}

// TestKernelFaults runs "bsi client install STATE --all" (webkit-26.3-a
// installed, b offered) where the kernel itself fails its writes: the
// install root on a full tmpfs (ENOSPC), the install root or the whole
// state mounted read-only (EROFS). The command must exit 1 with the
// kernel's message naming a path in the state, leave the state OLD with
// no temporary file, and succeed, giving NEW, once the fault is lifted.
// It needs mount namespaces (root, or a user namespace allowing mounts).
func TestKernelFaults(t *testing.T) {
	t.Parallel()
	f := getFixture(t)
	probe := t.TempDir()
	if out, err := exec.Command("unshare", "-m", "sh", "-c", `mount -t tmpfs -o size=64k tmpfs "$1"`, "sh", probe).CombinedOutput(); err != nil {
		t.Skipf("no private mounts here (unshare -m; mount -t tmpfs): %v: %s", err, out)
	}
	var s *spec
	for _, x := range specs() {
		if x.name == "client install" {
			s = x
		}
	}
	b := newBed(t, f, s)
	root := filepath.Join(b.dir, "root")
	fi, err := os.Stat(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, kf := range kernelFaults {
		t.Run(strings.ReplaceAll(kf.name, " ", "_"), func(t *testing.T) {
			b.reset()
			out := filepath.Join(t.TempDir(), "out")
			env := []string{"STATE=" + b.dir, "ROOT=" + root, "OLDROOT=" + filepath.Join(b.oldCopy, "root"),
				"OUT=" + out, "BSI=" + bsiBin(t), fmt.Sprintf("MODE=%o", fi.Mode().Perm())}
			r := runProg(t, env, "unshare", append([]string{"-m", "sh", "-c", kf.script, "sh"}, s.args(f, b.dir)...)...)
			if r.code >= 90 {
				t.Fatalf("setting up the fault: %s", r)
			}
			if r.code != 1 || !strings.Contains(r.stderr, kf.text) || !strings.Contains(r.stderr, b.dir+"/") {
				t.Errorf("want exit 1 and an error naming a path in %s and %q: %s", b.dir, kf.text, r)
			}
			t.Logf("%s: %s", kf.name, strings.TrimSpace(r.stderr))
			if kf.copyBack {
				if err := os.RemoveAll(root); err != nil {
					t.Fatal(err)
				}
				copyTree(t, out, root)
			}
			got := snapshot(t, b.dir)
			if st := s.classify(b.oldTree, b.newTree, got); st != isOld || len(got.temps()) > 0 {
				t.Errorf("the state is not the old one (temporary files: %v):\n%s", got.temps(), s.diff(b.oldTree, got))
			}
			if r := run(t, nil, s.args(f, b.dir)...); r.code != 0 {
				t.Fatalf("the fault lifted, the next run fails: %s", r)
			}
			if got := snapshot(t, b.dir); s.classify(b.oldTree, b.newTree, got) != isNew || len(got.temps()) > 0 {
				t.Errorf("the fault lifted, the next run does not give the new state (temporary files: %v):\n%s",
					got.temps(), s.diff(b.newTree, got))
			}
		})
	}
}
