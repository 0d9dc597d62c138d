package devicecli

import (
	"errors"
	"flag"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// tufClientSeeds are command lines from the protocol's own examples and
// script tests, the conformance runner's, and near misses.
var tufClientSeeds = [][]string{
	{"--metadata-dir", "md", "init", "root.json"},
	{"--metadata-url", "http://127.0.0.1:8080/metadata", "--metadata-dir", "md", "refresh"},
	{"--metadata-url", "http://127.0.0.1:8080/metadata", "--metadata-dir", "md", "--target-name", "webkit/a.tar.gz",
		"--target-dir", "out", "--target-base-url", "http://127.0.0.1:8080/targets", "download"},
	{"download", "--target-name=a", "--target-name=b/c", "--metadata-dir=md", "--metadata-url=u", "--target-dir=o", "--target-base-url=t"},
	{"--metadata-dir", "md", "init", "--", "-root.json"},
	{"-metadata-dir", "--", "--", "refresh"},
	{"--metadata-dir", "md", "frob"},
	{"--metadata-dir", "md", "refresh", "extra"},
	{"--bogus", "refresh"},
	{"-h"},
	{},
}

// joinArgs packs a command line into one fuzzable string, NUL-separated.
func joinArgs(args []string) string { return strings.Join(args, "\x00") }

// FuzzTUFClientArgs: the parser never panics; what it accepts has a known
// verb with the options that verb needs, and the canonical command line
// of the result parses to the same value; every failure maps to exit 1.
func FuzzTUFClientArgs(f *testing.F) {
	for _, args := range tufClientSeeds {
		f.Add(joinArgs(args))
	}
	f.Fuzz(func(t *testing.T, packed string) {
		var args []string
		if packed != "" {
			args = strings.Split(packed, "\x00")
		}
		a, err := parseTUFClientArgs(args)
		if err != nil {
			if !cmp.Equal(a, tufClientArgs{}, cmp.AllowUnexported(tufClientArgs{})) {
				t.Fatalf("error %v with a result %+v", err, a)
			}
			if errors.Is(err, flag.ErrHelp) {
				return // prints the usage, exit 0
			}
			if code := ExitCode(tufClientError(err)); code != 1 {
				t.Fatalf("error %v maps to exit %d, not 1", err, code)
			}
			return
		}
		checkTUFClientArgs(t, a)
		again, err := parseTUFClientArgs(a.argv())
		if err != nil {
			t.Fatalf("canonical form %q of %q refused: %v", a.argv(), args, err)
		}
		if diff := cmp.Diff(a, again, cmp.AllowUnexported(tufClientArgs{})); diff != "" {
			t.Fatalf("%q and its canonical form %q differ (-first +second):\n%s", args, a.argv(), diff)
		}
		// "--name value" means "--name=value", the value "--" included
		// (see TestFlagValueDashDash).
		spaced := a.argvSpaced()
		again, err = parseTUFClientArgs(spaced)
		if err != nil || !cmp.Equal(a, again, cmp.AllowUnexported(tufClientArgs{})) {
			t.Fatalf("%q parses to %+v (%v), its = form to %+v", spaced, again, err, a)
		}
	})
}

// checkTUFClientArgs checks what each verb needs, and that every value
// came from the command line.
func checkTUFClientArgs(t *testing.T, a tufClientArgs) {
	t.Helper()
	if a.metadataDir == "" {
		t.Fatalf("accepted without --metadata-dir: %+v", a)
	}
	switch a.verb {
	case "init":
	case "refresh":
		if a.metadataURL == "" {
			t.Fatalf("refresh without --metadata-url: %+v", a)
		}
	case "download":
		if a.metadataURL == "" || a.targetDir == "" || a.targetBaseURL == "" || len(a.targetNames) == 0 {
			t.Fatalf("download without its options: %+v", a)
		}
	default:
		t.Fatalf("accepted verb %q", a.verb)
	}
	if a.verb != "init" && a.rootFile != "" {
		t.Fatalf("root file %q for %s", a.rootFile, a.verb)
	}
}

// argv is the canonical command line of a: "--name=value" options, the
// verb, then "--" and the root file.
func (a tufClientArgs) argv() []string {
	var args []string
	opt := func(name, v string) {
		if v != "" {
			args = append(args, "--"+name+"="+v)
		}
	}
	opt("metadata-dir", a.metadataDir)
	opt("metadata-url", a.metadataURL)
	opt("target-dir", a.targetDir)
	opt("target-base-url", a.targetBaseURL)
	for _, n := range a.targetNames {
		args = append(args, "--target-name="+n)
	}
	args = append(args, a.verb)
	if a.verb == "init" {
		args = append(args, "--", a.rootFile)
	}
	return args
}

// argvSpaced is argv with "--name value" options and the verb last, the
// root file (when it does not look like an option) without "--".
func (a tufClientArgs) argvSpaced() []string {
	var args []string
	for _, o := range a.argv() {
		if o == a.verb {
			break
		}
		name, v, _ := strings.Cut(o, "=")
		args = append(args, name, v)
	}
	args = append(args, a.verb)
	if a.verb == "init" {
		if strings.HasPrefix(a.rootFile, "-") {
			return append(args, "--", a.rootFile)
		}
		args = append(args, a.rootFile)
	}
	return args
}

// TestFlagValueDashDash: an option whose value is "--" means the same in
// both forms (parseFlags once took a "--" just before the first positional
// argument for the end of the options, even when it was a flag's value).
func TestFlagValueDashDash(t *testing.T) {
	want, err := parseTUFClientArgs([]string{"--metadata-dir=--", "refresh", "--metadata-url", "u"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := parseTUFClientArgs([]string{"--metadata-dir", "--", "refresh", "--metadata-url", "u"})
	if err != nil || !cmp.Equal(got, want, cmp.AllowUnexported(tufClientArgs{})) {
		t.Fatalf("spaced form: %+v, %v; want %+v", got, err, want)
	}
}

// FuzzTargetFileName: the local name of a target path is one plain file
// name (no "/", NUL, "..", or leading "."), stays in the target directory,
// decodes back to the path, and differs for different paths.
func FuzzTargetFileName(f *testing.F) {
	for _, p := range []string{"webkit/a.tar.gz", "..", ".", "a/../../etc/passwd", ".hidden", "~user", "a~b.c",
		"%2F", "dir/", "/abs", "nul\x00byte", "é/ü", "a b+c", ""} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		name := targetFileName(p)
		checkFileName(t, p, name)
		back, err := url.PathUnescape(name)
		if err != nil || back != p {
			t.Fatalf("%q -> %q decodes to %q (%v)", p, name, back, err)
		}
		// Injective on neighbours: a one-byte change gives another name.
		if p != "" {
			q := p[:len(p)-1] + string(rune(p[len(p)-1]^1))
			if q != p && targetFileName(q) == name {
				t.Fatalf("%q and %q share the name %q", p, q, name)
			}
		}
	})
}

// checkFileName fails unless name is a single safe file name inside a
// directory (an empty path may name nothing: the empty name).
func checkFileName(t *testing.T, p, name string) {
	t.Helper()
	if p == "" {
		if name != "" {
			t.Fatalf("empty path named %q", name)
		}
		return
	}
	if strings.ContainsAny(name, "/\\\x00") || name == "." || name == ".." || strings.HasPrefix(name, ".") {
		t.Fatalf("%q gives the unsafe file name %q", p, name)
	}
	for _, c := range []byte(name) {
		if c < 0x21 || c > 0x7e {
			t.Fatalf("%q gives %q with byte %#x", p, name, c)
		}
	}
	dir := filepath.Join("out", "targets")
	if got := filepath.Join(dir, name); filepath.Dir(got) != dir || filepath.Base(got) != name {
		t.Fatalf("%q lands at %q, not in %q", p, got, dir)
	}
}
