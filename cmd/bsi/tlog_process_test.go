package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bsiframework/bsi/cmd/internal/devicecli"
	"github.com/bsiframework/bsi/keys"
	"github.com/bsiframework/bsi/transparency"
	"github.com/bsiframework/bsi/transparency/witness"
	"github.com/bsiframework/bsi/trust/repo"
)

// procCLI runs bsi commands as child processes of a built binary.
type procCLI struct {
	t   *testing.T
	bin string
}

func (p procCLI) run(args ...string) (int, string, string) {
	p.t.Helper()
	cmd := exec.Command(p.bin, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "BSI_PASSWORD=")
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	}
	p.t.Fatalf("bsi %s: %v", strings.Join(args, " "), err)
	return 0, "", ""
}

func (p procCLI) want(code int, args ...string) (string, string) {
	p.t.Helper()
	got, out, errs := p.run(args...)
	if got != code {
		p.t.Fatalf("bsi %s: exit %d, want %d\n%s%s", strings.Join(args, " "), got, code, out, errs)
	}
	return out, errs
}

// witnessChild starts "bsi witness serve" as a child process on a free
// loopback port and returns its URL, its vkey and a function that kills
// it with SIGKILL (a witness that vanishes, not one that says goodbye).
func witnessChild(t *testing.T, bin, dir, name, logVKey string) (url, vkey string, kill func()) {
	t.Helper()
	cmd := exec.Command(bin, "witness", "serve", "--key", filepath.Join(dir, name+".key"), "--name", name,
		"--state", filepath.Join(dir, name+"-state"), "--log", logVKey, "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "BSI_PASSWORD=")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	killed := false
	kill = func() {
		if !killed {
			killed = true
			cmd.Process.Kill()
			<-exited
		}
	}
	t.Cleanup(func() {
		if killed {
			return
		}
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("witness %s after SIGTERM: %v\n%s", name, err, stderr.String())
			}
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			t.Errorf("witness %s did not stop on SIGTERM", name)
		}
	})
	r := bufio.NewReader(stdout)
	l1, err1 := r.ReadString('\n') // "witness NAME at http://ADDR/"
	l2, err2 := r.ReadString('\n') // "vkey VKEY"
	go func() { exited <- cmd.Wait() }()
	m := regexp.MustCompile(`at (http://\S+)/$`).FindStringSubmatch(strings.TrimSpace(l1))
	if err1 != nil || err2 != nil || m == nil || !strings.HasPrefix(l2, "vkey ") {
		t.Fatalf("witness %s did not start: %q %q\n%s", name, l1, l2, stderr.String())
	}
	return m[1], strings.TrimSpace(strings.TrimPrefix(l2, "vkey ")), kill
}

// installedOf lists what "bsi client status --json" says is installed
// ("component=id", comma-separated) and fails when the device keeps no
// transparency state.
func installedOf(t *testing.T, p procCLI, state string) string {
	t.Helper()
	out, _ := p.want(0, "client", "status", state, "--json")
	var st statusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatal(err)
	}
	if st.Transparency == nil || st.Transparency.Checkpoint == nil {
		t.Fatalf("status without transparency state:\n%s", out)
	}
	var ids []string
	for _, in := range st.Installed {
		ids = append(ids, in.Component+"="+in.ID)
	}
	return strings.Join(ids, ",")
}

// copyTree copies the directory src to dst (files and directories only).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// attackerLog is the attacker's transparency hook: they hold the webkit
// key and the publishing host's online keys, but not the witnesses, so
// the witnessed log cannot hold their release without everybody seeing
// it. "none" writes no proof; "other-entry" writes, for the forged
// release, the honest proof of another improvement; "no-quorum" that
// proof without the witnesses' cosignatures.
type attackerLog struct {
	mode   string
	honest []byte
}

func (a *attackerLog) LogPublish(ctx context.Context, dest repo.Destination, facts *repo.TransparencyFacts) error {
	if a.mode == "none" {
		return nil
	}
	proof := a.honest
	if a.mode == "no-quorum" {
		var b strings.Builder
		for _, l := range strings.SplitAfter(string(a.honest), "\n") {
			if !strings.HasPrefix(l, "— w") {
				b.WriteString(l)
			}
		}
		proof = []byte(b.String())
	}
	for _, im := range facts.Improvements {
		for _, f := range im.Files {
			if err := dest.WriteFile(ctx, f+transparency.ProofSuffix, proof); err != nil {
				return err
			}
		}
	}
	return nil
}

// TestTransparencyRealProcesses: three witnesses, the server and the
// devices are OS processes of the built bsi; the publisher's commands too.
func TestTransparencyRealProcesses(t *testing.T) {
	bin := plainBSI(t, bsiChild(t))
	p := procCLI{t: t, bin: bin}
	c := newRepoCLI(t)
	k := func(n string) string { return c.path(n + ".key") }
	for _, name := range []string{"log", "w1", "w2", "w3"} {
		priv, _ := keys.Generate(keys.Ed25519)
		if err := keys.WriteKeyPair(k(name), priv, nil); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	logSigner, err := keys.LoadSigner(ctx, k("log"), nil)
	if err != nil {
		t.Fatal(err)
	}
	const origin = "example.org/bsi-log"
	ns, err := witness.NewNoteSigner(origin, logSigner)
	if err != nil {
		t.Fatal(err)
	}
	var wflags []string
	kills := map[string]func(){}
	for _, name := range []string{"w1", "w2", "w3"} {
		url, vkey, kill := witnessChild(t, bin, c.dir, name, ns.VerifierKey())
		wflags = append(wflags, "--witness", name+"="+vkey+"@"+url)
		kills[name] = kill
	}

	ws := c.path("ws")
	p.want(0, "repo", "init", ws, "--root-key", k("root1")+".pub", "--root-threshold", "1",
		"--targets-key", k("targets")+".pub", "--snapshot-key", k("snapshot"), "--timestamp-key", k("timestamp"))
	p.want(0, "repo", "delegate", ws, "--component", "webkit", "--key", k("webkit")+".pub")
	m, pl := c.improvement("webkit-26.3-a", 1)
	p.want(0, "repo", "add", ws, "--manifest", m, "--payload", pl, "--key", k("webkit"))
	p.want(0, append([]string{"repo", "tlog-enable", ws, "--log-key", k("log"), "--origin", origin, "--quorum", "3",
		"--key", k("targets")}, wflags...)...)
	p.want(0, "repo", "sign", ws, "--key", k("root1"))
	p.want(0, "repo", "publish", ws)
	public := filepath.Join(ws, "public")
	cp, err := os.ReadFile(filepath.Join(public, transparency.CheckpointPath))
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"w1", "w2", "w3"} {
		if !strings.Contains(string(cp), "— "+w+" ") {
			t.Fatalf("checkpoint without %s's cosignature:\n%s", w, cp)
		}
	}

	// The honest device, on the real server; the victim, on a mirror the
	// attacker controls (a copy of the tree so far).
	url := serveChild(t, bin, public)
	mirror := c.path("mirror")
	copyTree(t, public, mirror)
	mirrorURL := serveChild(t, bin, mirror)
	root := filepath.Join(public, "1.root.json")
	honest, victim := c.path("honest"), c.path("victim")
	for state, u := range map[string]string{honest: url, victim: mirrorURL} {
		p.want(0, "client", "init", state, "--root", root, "--url", u, "--platform", "macos", "--release", "26.3")
		p.want(0, "client", "check", state)
		p.want(0, "client", "install", state, "--all")
		st, _ := p.want(0, "client", "status", state)
		if !strings.Contains(st, "webkit-26.3-a") || !strings.Contains(st, "transparency: log "+origin+", checkpoint size ") {
			t.Fatalf("status after an install with a verified proof:\n%s", st)
		}
	}

	t.Run("TestAttackSplitViewRealProcesses", func(t *testing.T) {
		p := procCLI{t: t, bin: bin}
		// The attacker (webkit key, online keys, the mirror) publishes a
		// release to the mirror only, outside the witnessed log.
		proofs, _ := filepath.Glob(filepath.Join(public, "targets", "webkit", "*"+transparency.ProofSuffix))
		if len(proofs) == 0 {
			t.Fatal("no proof in the published tree")
		}
		honestProof, _ := os.ReadFile(proofs[0])
		// A proof that is not there is an operational failure (exit 1, as
		// for a payload the mirror does not serve: a mirror may lag); one
		// that does not prove the release is a security failure (exit 3).
		// Neither installs anything.
		evilWS := c.path("evil-ws")
		copyTree(t, ws, evilWS)
		for i, mode := range []string{"none", "other-entry", "no-quorum"} {
			id := "webkit-26.3-evil" + mode
			em, ep := c.improvement(id, 2+i)
			c.ok("repo", "add", evilWS, "--manifest", em, "--payload", ep, "--key", k("webkit"))
			o := repoOptions(devicecli.OSEnv())
			o.Now = func() time.Time { return time.Now() }
			o.Transparency = &attackerLog{mode: mode, honest: honestProof}
			w, err := repo.Open(ctx, evilWS, o)
			if err != nil {
				t.Fatal(err)
			}
			dest, err := repo.DirDestination(mirror)
			if err != nil {
				t.Fatal(err)
			}
			_, err = w.Publish(ctx, dest)
			w.Close()
			if err != nil {
				t.Fatal(err)
			}
			before := installedOf(t, p, victim)
			code, out, errs := p.run("client", "install", victim, "--all")
			want := exitSecurity
			if mode == "none" {
				want = exitFailure
			}
			if code != want || !strings.Contains(errs, "transparency") {
				t.Fatalf("%s: install of a release outside the witnessed log: exit %d, want %d\n%s%s", mode, code, want, out, errs)
			}
			t.Logf("%s: %s", mode, strings.TrimSpace(errs))
			if after := installedOf(t, p, victim); after != before || after != "webkit=webkit-26.3-a" {
				t.Fatalf("%s: installed before %q, after %q", mode, before, after)
			}
		}
		// The honest device never sees it.
		p.want(0, "client", "check", honest)
		if st, _ := p.want(0, "client", "status", honest); strings.Contains(st, "evil") {
			t.Fatalf("honest device:\n%s", st)
		}
	})

	t.Run("WitnessKilled", func(t *testing.T) {
		p := procCLI{t: t, bin: bin}
		// A witness vanishes with a quorum of 3: publish fails, names it,
		// and no metadata changes.
		kills["w2"]()
		m2, p2 := c.improvement("webkit-26.3-b", 2)
		p.want(0, "repo", "add", ws, "--manifest", m2, "--payload", p2, "--key", k("webkit"))
		before, _ := os.ReadFile(filepath.Join(public, "timestamp.json"))
		_, errs := p.want(exitFailure, "repo", "publish", ws)
		if !strings.Contains(errs, "w2 (") || strings.Contains(errs, "w1 (") || strings.Contains(errs, "w3 (") {
			t.Fatalf("publish with w2 killed does not name it alone:\n%s", errs)
		}
		if after, _ := os.ReadFile(filepath.Join(public, "timestamp.json")); string(before) != string(after) {
			t.Fatal("timestamp.json changed although the witnesses' quorum was not met")
		}
		p.want(0, "client", "check", honest)
		if st, _ := p.want(0, "client", "status", honest); strings.Contains(st, "webkit-26.3-b") {
			t.Fatalf("honest device sees an unpublished release:\n%s", st)
		}
	})
}
