package crashtest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// binDir holds the bsifault build of bsi for this test run.
var (
	binDir   string
	buildMu  sync.Mutex
	buildErr error
	built    bool
)

// parallel is how many subtests run at once unless -test.parallel is
// given: the children mostly wait (on the disk, on a loaded machine), so
// more of them than GOMAXPROCS keeps the run short.
const parallel = "4"

// children counts the child processes run.
var children atomic.Int64

func TestMain(m *testing.M) {
	flag.Parse()
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		flag.Set("test.parallel", parallel)
	}
	code := m.Run()
	if testing.Verbose() {
		fmt.Printf("crashtest: %d child processes\n", children.Load())
	}
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// goTool is the go command of the toolchain running the tests.
func goTool() string {
	p := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "go"
}

// bsiBin builds cmd/bsi with -tags bsifault once per test run (not with
// -race: the children need not be race builds) and returns its path.
func bsiBin(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds bsi and runs it as child processes")
	}
	buildMu.Lock()
	defer buildMu.Unlock()
	if !built {
		built = true
		binDir, buildErr = os.MkdirTemp("", "bsi-crashtest-")
		if buildErr == nil {
			cmd := exec.Command(goTool(), "build", "-tags", "bsifault", "-o", filepath.Join(binDir, "bsi"),
				"github.com/bsiframework/bsi/cmd/bsi")
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("go build -tags bsifault: %v\n%s", err, out)
			}
		}
	}
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return filepath.Join(binDir, "bsi")
}

// result is how a child run ended.
type result struct {
	code   int  // exit code, -1 when killed
	killed bool // died of SIGKILL
	stdout string
	stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d (killed %v)\nstdout:\n%s\nstderr:\n%s", r.code, r.killed, r.stdout, r.stderr)
}

// run runs bsi with args and extra environment variables (NAME=VALUE). A
// minute is a hang guard, not a timing assumption.
func run(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return runProg(t, env, bsiBin(t), args...)
}

// runProg runs prog (bsi, or a command that runs bsi) like run.
func runProg(t *testing.T, env []string, prog string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	children.Add(1)
	cmd := exec.CommandContext(ctx, prog, args...)
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := result{stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.killed = ws.Signal() == syscall.SIGKILL
		}
	default:
		t.Fatalf("bsi %s: %v", strings.Join(args, " "), err)
	}
	if ctx.Err() != nil {
		t.Fatalf("bsi %s: hung for a minute", strings.Join(args, " "))
	}
	return r
}

// cleanEnv is the environment for children: the test's, without fault
// settings it may have inherited and without a key password.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "BSI_") {
			env = append(env, kv)
		}
	}
	return env
}

// must runs a command that must exit 0.
func must(t *testing.T, args ...string) string {
	t.Helper()
	r := run(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("bsi %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// tracePoints runs args ordinarily with BSI_FAULT_TRACE and returns the
// points passed, in order ("atomicfile.rename", ...), and which of them can
// return an error.
func tracePoints(t *testing.T, args ...string) (ops []string, checked []bool) {
	t.Helper()
	trace := filepath.Join(t.TempDir(), "trace")
	r := run(t, []string{"BSI_FAULT_TRACE=" + trace}, args...)
	if r.code != 0 {
		t.Fatalf("bsi %s: %s", strings.Join(args, " "), r)
	}
	f, err := os.Open(trace)
	if err != nil {
		t.Fatalf("no trace of bsi %s: %v", strings.Join(args, " "), err)
	}
	defer f.Close()
	// Goroutines that pass points at once (a workspace syncs several
	// files concurrently) may write their lines out of order.
	byNum := map[int][]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 {
			t.Fatalf("bad trace line %q", sc.Text())
		}
		n, err := strconv.Atoi(fields[0])
		if err != nil || n < 1 || byNum[n] != nil {
			t.Fatalf("bad trace line %q", sc.Text())
		}
		byNum[n] = fields
	}
	for n := 1; n <= len(byNum); n++ {
		fields := byNum[n]
		if fields == nil {
			t.Fatalf("trace of bsi %s lacks point %d", strings.Join(args, " "), n)
		}
		ops = append(ops, fields[1])
		checked = append(checked, len(fields) == 3 && fields[2] == "error")
	}
	if len(ops) == 0 {
		t.Fatalf("bsi %s passed no fault point", strings.Join(args, " "))
	}
	return ops, checked
}

// tree is a file tree: relative path to "d MODE", "l TARGET" or
// "f MODE CONTENT" with normalised content.
type tree map[string]string

// snapshot reads the tree under dir.
func snapshot(t *testing.T, dir string) tree {
	t.Helper()
	tr := tree{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			tr[rel] = "l " + target
		case d.IsDir():
			tr[rel] = fmt.Sprintf("d %v", info.Mode().Perm())
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			tr[rel] = fmt.Sprintf("f %v %s", info.Mode().Perm(), normalise(rel, data))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// temps lists the temporary files in the tree (bsi names them .tmp-,
// .trash-, current.tmp-, NAME.tmp-).
func (tr tree) temps() []string {
	var out []string
	for p := range tr {
		base := p[strings.LastIndexByte(p, '/')+1:]
		if strings.Contains(base, "tmp") || strings.Contains(base, "trash") {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

// normalise returns data with the fields that differ between two ordinary
// runs of the same command replaced by "~":
//
//   - lock files: the holder's pid and start time are advice for messages;
//     the kernel's flock is the lock.
//   - "expires" and "expiries": bsi sets expiry to now plus a period and
//     its command line has no injectable clock; "sig": ed25519 signatures
//     are deterministic, so they differ only because expiry does, and the
//     device check in the publish test verifies the real signatures.
//   - "hashes" and "length" under a snapshot's or timestamp's meta: hashes
//     of files that differ only by expiry.
//   - "at", "verified", "initialized": the local time of an event.
//   - "history": the append-only audit log of installed.json, which rightly
//     records an interrupted operation and its recovery as extra entries.
//   - "last_check": when the device last checked and what it found; every
//     install and rollback starts with a check that commits this record on
//     its own, before the journaled change.
//
// Everything else must be equal byte for byte (JSON is compared in a
// canonical form after the replacements).
func normalise(rel string, data []byte) string {
	key := rel + "\x00" + string(data)
	if v, ok := normalised.Load(key); ok {
		return v.(string)
	}
	v := normaliseFile(rel, data)
	normalised.Store(key, v)
	return v
}

// normalised memoises normalise: most files of a state are the same bytes
// in every snapshot, and decoding JSON under the race detector is slow.
var normalised sync.Map

func normaliseFile(rel string, data []byte) string {
	base := rel[strings.LastIndexByte(rel, '/')+1:]
	if base == ".lock" || base == "lock" {
		return "~lock"
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if !strings.HasSuffix(base, ".json") && base != ".verified-state" || dec.Decode(&v) != nil {
		return fmt.Sprintf("%q", data)
	}
	v = scrub(v, false)
	out, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%q", data)
	}
	return string(out)
}

var varying = map[string]bool{"expires": true, "sig": true, "at": true, "verified": true, "initialized": true,
	"check": true} // the verified-state record's checksum covers its expiries

func scrub(v any, inMeta bool) any {
	switch v := v.(type) {
	case map[string]any:
		delete(v, "history")
		delete(v, "last_check")
		for k, x := range v {
			switch {
			case varying[k], inMeta && (k == "hashes" || k == "length"):
				v[k] = "~"
			case k == "expiries":
				if m, ok := x.(map[string]any); ok {
					for r := range m {
						m[r] = "~"
					}
				}
			default:
				v[k] = scrub(x, inMeta || k == "meta")
			}
		}
	case []any:
		for i := range v {
			v[i] = scrub(v[i], inMeta)
		}
	}
	return v
}

// diff is cmp.Diff of two trees.
func diff(want, got tree) string { return cmp.Diff(want, got) }

// copyTree makes dst (which must not exist) a copy of src: directories,
// files with their modes, symbolic links.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		q := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, q)
		case d.IsDir():
			if err := os.Mkdir(q, 0o700); err != nil {
				return err
			}
			return os.Chmod(q, info.Mode().Perm())
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(q, data, 0o600); err != nil {
				return err
			}
			return os.Chmod(q, info.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// workDir is a new directory for one test, on /dev/shm when it is a
// writable tmpfs (fsync is free there: the kill points test ordering, not
// the disk), removed at the end of the test.
func workDir(t *testing.T) string {
	t.Helper()
	base := ""
	if fi, err := os.Stat("/dev/shm"); err == nil && fi.IsDir() {
		base = "/dev/shm"
	}
	dir, err := os.MkdirTemp(base, "bsi-crashtest-")
	if err != nil {
		dir, err = os.MkdirTemp("", "bsi-crashtest-")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// reset replaces dir with a copy of src.
func reset(t *testing.T, src, dir string) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	copyTree(t, src, dir)
}
