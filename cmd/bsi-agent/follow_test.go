package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// publisher runs the full bsi in a publisher's directory.
type publisher struct {
	t   *testing.T
	bsi string
	dir string
}

func (p *publisher) run(args ...string) string {
	p.t.Helper()
	cmd := exec.Command(p.bsi, args...)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), "BSI_KEY_PASSWORD=follow-test")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		p.t.Fatalf("bsi %s: %v\n%s%s", strings.Join(args, " "), err, &stdout, &stderr)
	}
	return stdout.String()
}

func (p *publisher) write(name string, data []byte) {
	p.t.Helper()
	if err := os.WriteFile(filepath.Join(p.dir, name), data, 0o644); err != nil {
		p.t.Fatal(err)
	}
}

// improvement adds and publishes the webkit improvement of sequence seq,
// whose payload holds lib/webkit.txt = text.
func (p *publisher) improvement(seq, text string) {
	p.t.Helper()
	p.write("m"+seq+".json", []byte(p.run("manifest", "new", "--component", "webkit", "--platform", "macos",
		"--release", "26.3", "--sequence", seq, "--advisory", "CVE-2026-100"+seq)))
	p.write("p"+seq+".tar.gz", tarGz(p.t, "lib/webkit.txt", text))
	p.run("repo", "add", "ws", "--manifest", "m"+seq+".json", "--payload", "p"+seq+".tar.gz", "--key", "keys/webkit")
}

func tarGz(t *testing.T, name, body string) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte(body))
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gz.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// newPublisher makes keys and a workspace with one improvement, signed and
// published to ws/public, as README's publisher tour does.
func newPublisher(t *testing.T, bsi string) *publisher {
	p := &publisher{t: t, bsi: bsi, dir: t.TempDir()}
	for _, k := range []string{"root", "targets", "snapshot", "timestamp", "webkit"} {
		p.run("keys", "generate", "--type", "ed25519", "--out", "keys/"+k)
	}
	p.run("repo", "init", "ws", "--root-key", "keys/root.pub", "--targets-key", "keys/targets.pub",
		"--snapshot-key", "keys/snapshot", "--timestamp-key", "keys/timestamp")
	p.run("repo", "delegate", "ws", "--component", "webkit", "--key", "keys/webkit.pub")
	p.improvement("1", "fixed once\n")
	p.run("repo", "sign", "ws", "--key", "keys/root")
	p.run("repo", "sign", "ws", "--key", "keys/targets")
	p.run("repo", "publish", "ws")
	return p
}

// result is what one command line printed and its exit code.
type result struct {
	code           int
	stdout, stderr string
}

// device runs one binary in a directory of its own, where the device's
// state is "state": both devices print the same paths.
type device struct {
	t    *testing.T
	bin  string
	dir  string
	prog string
}

func (d *device) run(args ...string) result {
	d.t.Helper()
	cmd := exec.Command(d.bin, args...)
	cmd.Dir = d.dir
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var ee *exec.ExitError
	code := 0
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		d.t.Fatalf("%s %s: %v", d.prog, strings.Join(args, " "), err)
	}
	return result{code, normalize(stdout.String(), d), normalize(stderr.String(), d)}
}

var (
	timeStamp = regexp.MustCompile(`\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)`)
	duration  = regexp.MustCompile(`\bin (-?[0-9]+h)?([0-9]+m)?[0-9.]+s\b`)
)

// normalize makes the output of two devices' runs a few seconds apart
// comparable: the program's name is "bsi", the device's directory DIR,
// times and the time left are placeholders.
func normalize(s string, d *device) string {
	s = strings.ReplaceAll(s, d.dir, "DIR")
	s = strings.ReplaceAll(s, d.prog+" ", "bsi ")
	s = strings.ReplaceAll(s, d.prog+":", "bsi:")
	s = timeStamp.ReplaceAllString(s, "TIME")
	return duration.ReplaceAllString(s, "in DURATION")
}

// TestAgentFollowsBsi publishes with the full bsi and follows the
// repository with two devices, one run by "bsi client" and one by
// "bsi-agent client", command by command: every exit code, stdout and
// stderr must be the same (but for the program's name and the times), an
// install, an install whose payload was tampered with (exit 3, nothing
// installed), and usage errors (exit 2) included.
func TestAgentFollowsBsi(t *testing.T) {
	agentBin, bsiBin := build(t)
	p := newPublisher(t, bsiBin)
	public := filepath.Join(p.dir, "ws", "public")
	srv := httptest.NewServer(http.FileServer(http.Dir(public)))
	defer srv.Close()

	devices := []*device{
		{t: t, bin: bsiBin, dir: t.TempDir(), prog: "bsi"},
		{t: t, bin: agentBin, dir: t.TempDir(), prog: "bsi-agent"},
	}
	root := filepath.Join(public, "1.root.json")
	same := func(want int, args ...string) result {
		t.Helper()
		bsiRes, agentRes := devices[0].run(args...), devices[1].run(args...)
		if bsiRes != agentRes {
			t.Errorf("%s: bsi and bsi-agent differ:\nbsi: exit %d\n%s%s\nbsi-agent: exit %d\n%s%s", strings.Join(args, " "),
				bsiRes.code, bsiRes.stdout, bsiRes.stderr, agentRes.code, agentRes.stdout, agentRes.stderr)
		}
		if bsiRes.code != want {
			t.Errorf("%s: exit %d, want %d\n%s%s", strings.Join(args, " "), bsiRes.code, want, bsiRes.stdout, bsiRes.stderr)
		}
		return bsiRes
	}

	same(0, "client", "init", "state", "--root", root, "--url", srv.URL, "--platform", "macos", "--release", "26.3")
	if r := same(0, "client", "check", "state"); !strings.Contains(r.stdout, "change(s) pending: bsi client install state --all") {
		t.Errorf("check reports nothing pending:\n%s", r.stdout)
	}
	same(0, "client", "check", "state", "--json")
	same(0, "client", "install", "state", "--all")
	same(0, "client", "status", "state")
	same(0, "client", "status", "state", "--json")

	// A second improvement whose payload the mirror corrupts: every
	// device refuses it (3) and keeps the first.
	p.improvement("2", "fixed twice\n")
	p.run("repo", "publish", "ws")
	payloads, err := filepath.Glob(filepath.Join(public, "targets", "webkit", "*webkit-26.3-b.tar.gz"))
	if err != nil || len(payloads) == 0 {
		t.Fatalf("no published payload of webkit-26.3-b: %v", err)
	}
	for _, f := range payloads {
		if err := os.WriteFile(f, tarGz(t, "lib/webkit.txt", "evil\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	same(0, "client", "check", "state")
	if r := same(3, "client", "install", "state", "--all"); !strings.Contains(r.stderr, "bsi: error: ") {
		t.Errorf("a tampered payload is not reported as an error:\n%s", r.stderr)
	}
	for _, d := range devices {
		b, err := os.ReadFile(filepath.Join(d.dir, "state", "root", "webkit", "current", "lib", "webkit.txt"))
		if err != nil || string(b) != "fixed once\n" {
			t.Errorf("%s: webkit is %q (%v), want the first improvement's", d.prog, b, err)
		}
	}
	same(0, "client", "status", "state")
	same(2, "client", "install", "state", "--bogus")
	same(2, "client", "check")
	same(2, "client", "frobnicate")
	same(0, "client", "check", "-h")
	same(0, "tuf-client", "-h")
}
